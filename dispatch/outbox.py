"""The durable outbox between the assistant and the Open311 backend: no ticket lost, none submitted twice.

Why an outbox: a resident who reports a broken street light at 3 a.m. must get a reference even when the
command centre's system is down, and the ticket must reach it once it is back, whatever crashes in between.
So :meth:`Outbox.submit` first writes the ticket, with an idempotency key, to a local table in one
transaction, and only then tries to send it (briefly: the resident is waiting). If the backend answers, the
resident gets the real ticket number; if not, a provisional reference ("TMP-20261123-7F3A") that
:meth:`Outbox.status` later resolves to the real number. :meth:`Outbox.drain` (run forever by
``python -m dispatch.outbox drain``, the "outbox" service) retries pending tickets with exponential backoff.
Every attempt sends the same idempotency key, so a ticket whose answer was lost (timeout, crash after the
server created it) is answered with the original ticket instead of a second one.

Several processes may drain at once (the action server's submit, the drain service): a row is *claimed*
with a conditional UPDATE (``claimed_until``) before it is sent; a crashed claimant's claim simply expires.

Imported by the Rasa action server (CPython 3.10, SQLAlchemy 1.4, psycopg2) and by our services (3.11,
SQLAlchemy 2, psycopg 3): SQLAlchemy Core with ``text()`` and ``engine.begin()`` only, HTTP via
:mod:`dispatch.open311_client` (standard library). SQLite by default, PostgreSQL by URL (:func:`engine_url`).

Usage by the Rasa actions::

    outbox = Outbox.from_settings()
    receipt = outbox.submit(TicketDraft(service_code="noise", description="…", address_string="…", phone="138…",
                                        sender_id="…", channel="rest", transcript="…"))
    receipt.reference, receipt.provisional, receipt.expected_datetime, receipt.service_name
    outbox.status(reference)            # dict or None; TMP references resolve to the real number
    outbox.cases_for(sender_id=..., phone=...)
    outbox.rate(reference, 5, "处理很及时")
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import importlib.util
import json
import logging
import random
import re
import secrets
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from dispatch.attributes import fill_required
from dispatch.classify import service_name as local_service_name
from dispatch.open311_client import Open311Client, Open311Error, Open311NotFound, Open311Rejected, Open311Unavailable

log = logging.getLogger("dispatch.outbox")

DESCRIPTION_MAX = 4000  # GeoReport v2: "free form text limited to 4,000 characters"
REFERENCE_PREFIX = "TMP-"
REFERENCE_HEX = 4  # "TMP-20261123-7F3A": short enough to read out on the phone; collisions are retried
REFERENCE_ATTEMPTS = 8
PENDING, TOKEN, SENT, REJECTED = "pending", "token", "sent", "rejected"
NOTE_PENDING = "工单已登记，正在提交到受理平台；受理后将生成正式工单号。"
NOTE_REJECTED = "受理平台未接受该工单（{reason}），请重新反映或拨打 12345 热线。"
NOTE_BLACKBOX = "工单已提交，受理平台不提供工单号。"
_TMP = re.compile(r"^TMP-\d{8}-[0-9A-F]+$", re.IGNORECASE)

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS dispatch_outbox (
        reference VARCHAR(40) PRIMARY KEY,
        idempotency_key VARCHAR(120) NOT NULL UNIQUE,
        state VARCHAR(16) NOT NULL,
        payload TEXT NOT NULL,
        service_code VARCHAR(64) NOT NULL,
        service_name VARCHAR(200),
        sender_id VARCHAR(200),
        phone VARCHAR(40),
        channel VARCHAR(40),
        service_request_id VARCHAR(120),
        token VARCHAR(200),
        expected_datetime VARCHAR(40),
        status VARCHAR(32),
        status_notes TEXT,
        updated_datetime VARCHAR(40),
        requested_datetime VARCHAR(40),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        claimed_until DOUBLE PRECISION,
        claim_token VARCHAR(40),
        last_error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_due ON dispatch_outbox (state, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_srid ON dispatch_outbox (service_request_id)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_sender ON dispatch_outbox (sender_id)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_phone ON dispatch_outbox (phone)",
]


# -- value objects -----------------------------------------------------------------------------------------------


@dataclass
class TicketDraft:
    """What the dialogue collected. A location is required: lat+long, address_string or address_id.

    ``idempotency_key`` may be set by the caller (e.g. derived from the conversation) so that an action
    retried by Rasa does not file the ticket twice; by default each draft gets a fresh one.
    """

    service_code: str
    description: str = ""
    address_string: str = ""
    lat: float | None = None
    long: float | None = None
    phone: str = ""
    sender_id: str = ""
    channel: str = ""
    transcript: str = ""
    urgent: bool = False
    address_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""

    def validate(self) -> None:
        """Raise ValueError before anything is stored: a ticket the server must reject is not queued."""
        if not str(self.service_code or "").strip():
            raise ValueError("service_code is required")
        has_point = self.lat is not None and self.long is not None
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        if has_point and not (-90 <= float(self.lat) <= 90 and -180 <= float(self.long) <= 180):  # type: ignore[arg-type]
            raise ValueError("lat/long out of range")
        if not (has_point or str(self.address_string).strip() or str(self.address_id).strip()):
            raise ValueError("a location is required: lat+long, address_string or address_id")

    def form(self) -> dict[str, Any]:
        """The Open311 form fields (spec fields first, then our extensions)."""
        description = self.description or ""
        if len(description) > DESCRIPTION_MAX:  # the full text still travels in the transcript
            description = description[: DESCRIPTION_MAX - 1] + "…"
        return {
            "service_code": self.service_code, "description": description,
            "lat": self.lat, "long": self.long, "address_string": self.address_string,
            "address_id": self.address_id, "phone": normalize_phone(self.phone),
            "sender_id": self.sender_id, "channel": self.channel, "transcript": self.transcript,
            "urgent": True if self.urgent else None,
        }


@dataclass
class Receipt:
    """What the resident is told: the reference (real number, or provisional TMP-… when queued)."""

    reference: str
    provisional: bool
    expected_datetime: str | None = None
    service_name: str = ""
    service_request_id: str | None = None
    service_notice: str | None = None


@dataclass
class DrainResult:
    """One drain pass: how many tickets were sent, are still waiting (backend down), were rejected."""

    claimed: int = 0
    sent: int = 0
    unavailable: int = 0
    rejected: int = 0

    def add(self, other: DrainResult) -> None:
        for name in ("claimed", "sent", "unavailable", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


# -- database ----------------------------------------------------------------------------------------------------


def engine_url(url: str) -> str:
    """A SQLAlchemy URL that works with whatever PostgreSQL driver this environment has.

    ``postgresql://`` means psycopg2 to SQLAlchemy; the Rasa environment has psycopg2, the application
    environment psycopg 3 (``postgresql+psycopg://``, SQLAlchemy 2 only). SQLite paths are anchored
    at the repository root and ``{data_dir}`` is expanded.
    """
    from common.settings import resolve_db_url

    url = resolve_db_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or not (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
        return url
    wanted = scheme.partition("+")[2]
    if wanted and importlib.util.find_spec(wanted) is not None:
        return url
    import sqlalchemy

    sqlalchemy_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2
    for driver in (["psycopg"] if sqlalchemy_2 else []) + ["psycopg2"]:
        if importlib.util.find_spec(driver) is not None:
            return f"postgresql+{driver}://{rest}"
    raise RuntimeError("no PostgreSQL driver installed (psycopg or psycopg2)")


def make_engine(url: str) -> Engine:
    """An engine for the outbox; SQLite waits on a busy file (several processes) and uses WAL."""
    url = engine_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def create_schema(engine: Engine) -> None:
    """Create the table if missing (two processes starting together may race: the loser retries)."""
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                for statement in SCHEMA:
                    conn.execute(text(statement))
            return
        except (IntegrityError, ProgrammingError, OperationalError):
            if attempt == 2:
                raise
            time.sleep(0.2)


def normalize_phone(phone: str | None) -> str:
    """Digits only, without +86: "138-0013-8000" and "+86 13800138000" are the same resident."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def is_provisional(reference: str) -> bool:
    return bool(_TMP.match(reference or ""))


# -- the outbox --------------------------------------------------------------------------------------------------


class Outbox:
    """Durable, idempotent submission of tickets to an Open311 server (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        client: Open311Client,
        conf: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.client = client
        self.conf = dict(conf)
        self.clock = clock
        self.rng = rng
        self._definitions: dict[str, dict[str, Any] | None] = {}
        create_schema(engine)

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any] | None = None, **kwargs: Any) -> Outbox:
        """The outbox of ``[dispatch]``: store ``outbox_db_url``, client from the client_* keys."""
        from common import settings

        conf = dict(settings.section("dispatch") if conf is None else conf)
        return cls(make_engine(conf["outbox_db_url"]), Open311Client.from_settings(conf), conf, **kwargs)

    # -- settings -------------------------------------------------------------------------------------------------

    def _setting(self, key: str) -> float:
        return float(self.conf[key])

    @property
    def embedded(self) -> bool:
        """True when the client talks to our own embedded server (no client_base_url configured)."""
        return not self.conf.get("client_base_url")

    def _auto(self, key: str) -> bool:
        value = self.conf.get(key, "auto")
        return self.embedded if value == "auto" else value in (True, "true", "always", 1)

    # -- submitting -----------------------------------------------------------------------------------------------

    def enqueue(self, draft: TicketDraft) -> str:
        """Store the ticket (one transaction) and return its provisional reference; nothing is sent.

        A draft whose idempotency key is already stored returns the existing row's reference.
        """
        return self._store(draft, claim=False)[0]

    def _store(self, draft: TicketDraft, claim: bool) -> tuple[str, bool]:
        """Insert the row (claimed for the caller with ``claim``); returns (reference, claimed)."""
        draft.validate()
        key = draft.idempotency_key or uuid.uuid4().hex
        now = self.clock()
        payload = json.dumps({"fields": draft.form(), "attributes": draft.attributes}, ensure_ascii=False)
        row = {
            "idempotency_key": key, "state": PENDING, "payload": payload, "service_code": draft.service_code,
            "service_name": local_service_name(draft.service_code), "sender_id": draft.sender_id or None,
            "phone": normalize_phone(draft.phone) or None, "channel": draft.channel or None,
            "next_attempt_at": now, "claimed_until": now + self._setting("outbox_claim_s") if claim else None,
            "created_at": now,
        }
        for attempt in range(REFERENCE_ATTEMPTS):
            row["reference"] = self._new_reference(now, extra=attempt // 3)
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(
                        "INSERT INTO dispatch_outbox (reference, idempotency_key, state, payload, service_code,"
                        " service_name, sender_id, phone, channel, next_attempt_at, claimed_until, created_at)"
                        " VALUES (:reference, :idempotency_key, :state, :payload, :service_code, :service_name,"
                        " :sender_id, :phone, :channel, :next_attempt_at, :claimed_until, :created_at)"), row)
                return row["reference"], claim
            except IntegrityError:
                existing = self._row("idempotency_key = :k", k=key)
                if existing is not None:  # the same submission again (an action retried)
                    return existing["reference"], claim and self._claim(existing["reference"], self.clock())
        raise RuntimeError("could not allocate a provisional reference")

    def submit(self, draft: TicketDraft) -> Receipt:
        """Store the ticket, then try to send it at once with the short ``submit_timeout_s``.

        Returns the real number when the backend answered, else a provisional reference (the drain loop
        sends it later). Raises ValueError for a draft without service code or location, and
        :class:`~dispatch.open311_client.Open311Rejected` when the backend refused the ticket (4xx) so the
        dialogue can tell the resident; the row is kept as ``rejected``.
        """
        reference, claimed = self._store(draft, claim=True)
        row = self._row("reference = :r", r=reference)
        assert row is not None
        if row["state"] == PENDING and claimed:
            try:
                self._send(row, timeout_s=self._setting("submit_timeout_s"))
            except Open311Unavailable:
                pass  # queued; the drain loop takes over
            row = self._row("reference = :r", r=reference)
            assert row is not None
        if row["state"] == REJECTED:
            raise Open311Rejected(row["last_error"] or "rejected", status=400)
        if row["service_request_id"] and not row["expected_datetime"]:
            self._refresh(row, timeout_s=self._setting("submit_timeout_s"))
            row = self._row("reference = :r", r=reference) or row
        return self._receipt(row)

    def _receipt(self, row: Mapping[str, Any]) -> Receipt:
        real = row["service_request_id"]
        return Receipt(
            reference=real or row["reference"], provisional=not real, expected_datetime=row["expected_datetime"],
            service_name=row["service_name"] or local_service_name(row["service_code"]), service_request_id=real,
        )

    def _new_reference(self, now: float, extra: int = 0) -> str:
        day = time.strftime("%Y%m%d", time.localtime(now))
        return f"{REFERENCE_PREFIX}{day}-{secrets.token_hex(REFERENCE_HEX // 2 + extra).upper()}"

    # -- sending --------------------------------------------------------------------------------------------------

    def _send(self, row: Mapping[str, Any], timeout_s: float | None = None) -> str:
        """One attempt to create the request; records the outcome and returns the row's new state.

        Raises Open311Unavailable after scheduling the retry (callers decide whether to go on).
        """
        payload = json.loads(row["payload"])
        try:
            attributes = fill_required(self._definition(row["service_code"], timeout_s),
                                       str(payload["fields"].get("description") or ""), payload.get("attributes"))
            answer = self.client.create_request(
                payload["fields"], attributes, idempotency_key=row["idempotency_key"], timeout_s=timeout_s)
        except Open311Unavailable as exc:
            self._retry_later(row, str(exc))
            raise
        except Open311Rejected as exc:
            reason = exc.description
            self._update(row["reference"], state=REJECTED, last_error=reason, claimed_until=None,
                         attempts=row["attempts"] + 1)
            log.error("ticket %s rejected by the backend: %s", row["reference"], reason)
            return REJECTED
        srid, token = answer.get("service_request_id"), answer.get("token")
        state = TOKEN if token and not srid else SENT
        self._update(row["reference"], state=state, service_request_id=str(srid) if srid else None,
                     token=str(token) if token else None, claimed_until=None, last_error=None,
                     attempts=row["attempts"] + 1, sent_at=self.clock(),
                     next_attempt_at=self.clock() + (self._setting("outbox_backoff_base_s") if state == TOKEN else 0),
                     **_known(answer))  # our server already answers status and promised time
        log.info("ticket %s sent: %s", row["reference"], srid or f"token {token}")
        return state

    def _definition(self, service_code: str, timeout_s: float | None) -> dict[str, Any] | None:
        """The service's attribute definitions, fetched once per process (None for an unknown service:
        the server then refuses the ticket itself, with its own error)."""
        if service_code not in self._definitions:
            try:
                self._definitions[service_code] = self.client.service_definition(service_code, timeout_s=timeout_s)
            except (Open311NotFound, Open311Rejected):
                self._definitions[service_code] = None
        return self._definitions[service_code]

    def _resolve_token(self, row: Mapping[str, Any]) -> str:
        """A batch server's token → service_request_id (stays TOKEN with backoff until assigned)."""
        try:
            answer = self.client.token(row["token"])
        except (Open311Unavailable, Open311NotFound) as exc:
            self._retry_later(row, str(exc))
            raise Open311Unavailable(str(exc)) from None
        srid = answer.get("service_request_id")
        if not srid:
            self._retry_later(row, "token not assigned yet")
            raise Open311Unavailable("token not assigned yet")
        self._update(row["reference"], state=SENT, service_request_id=str(srid), claimed_until=None, last_error=None)
        return SENT

    def _retry_later(self, row: Mapping[str, Any], error: str) -> None:
        """Exponential backoff with jitter (half to full delay) so many queued tickets do not stampede."""
        attempts = row["attempts"] + 1
        base, ceiling = self._setting("outbox_backoff_base_s"), self._setting("outbox_backoff_max_s")
        delay = min(ceiling, base * 2 ** (attempts - 1)) * (0.5 + 0.5 * self.rng())
        self._update(row["reference"], attempts=attempts, last_error=error[:500], claimed_until=None,
                     next_attempt_at=self.clock() + delay)
        log.warning("ticket %s not sent (attempt %d, retry in %.0fs): %s", row["reference"], attempts, delay, error)

    def _claim(self, reference: str, now: float) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(text(
                "UPDATE dispatch_outbox SET claimed_until = :until WHERE reference = :r AND state IN (:p, :t)"
                " AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until < :now)"),
                {"until": now + self._setting("outbox_claim_s"), "r": reference, "p": PENDING, "t": TOKEN,
                 "now": now})
            return result.rowcount == 1

    def _claim_due(self, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due tickets in one statement (a token marks ours) and return them.

        The outer WHERE repeats the claim conditions: under PostgreSQL's READ COMMITTED a row that a
        concurrent drainer claimed first is re-checked against them and skipped, so no row is claimed twice.
        """
        now, token = self.clock(), uuid.uuid4().hex
        due = ("state IN (:p, :t) AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until < :now)")
        params = {"p": PENDING, "t": TOKEN, "now": now, "n": limit, "token": token,
                  "until": now + self._setting("outbox_claim_s")}
        with self.engine.begin() as conn:
            conn.execute(text(
                f"UPDATE dispatch_outbox SET claimed_until = :until, claim_token = :token WHERE {due} AND reference IN"
                f" (SELECT reference FROM dispatch_outbox WHERE {due} ORDER BY created_at LIMIT :n)"), params)
        return self._rows("claim_token = :token ORDER BY created_at", token=token)

    def drain(self, limit: int | None = None) -> DrainResult:
        """One pass: claim the due tickets (oldest first), send them; returns the counts.

        After the first "unavailable" answer the rest of the pass is released untried (the backend is down;
        no point in hammering it). When a ticket gets through, tickets waiting in backoff are made due at
        once: the backend is back and residents should not wait for their backoff to expire.
        """
        claimed = self._claim_due(int(limit or self.conf["outbox_batch"]))
        result = DrainResult(claimed=len(claimed))
        if not claimed:
            return result
        down = threading.Event()
        lock = threading.Lock()

        def one(row: dict[str, Any]) -> None:
            if down.is_set():
                self._update(row["reference"], claimed_until=None)
                return
            try:
                state = self._resolve_token(row) if row["state"] == TOKEN else self._send(row)
            except Open311Unavailable:
                down.set()
                with lock:
                    result.unavailable += 1
                return
            with lock:
                result.sent += state == SENT or state == TOKEN
                result.rejected += state == REJECTED

        workers = max(1, int(self.conf.get("outbox_workers", 1)))
        if workers == 1:
            for row in claimed:
                one(row)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, claimed))
        if result.sent:
            with self.engine.begin() as conn:
                conn.execute(text(
                    "UPDATE dispatch_outbox SET next_attempt_at = :now WHERE state = :p AND next_attempt_at > :now"),
                    {"now": self.clock(), "p": PENDING})
        return result

    def pending_count(self) -> int:
        """Tickets not yet accepted by the backend (pending or waiting for a token)."""
        with self.engine.begin() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM dispatch_outbox WHERE state IN (:p, :t)"),
                                    {"p": PENDING, "t": TOKEN}).scalar() or 0)

    # -- reading --------------------------------------------------------------------------------------------------

    def resolve(self, reference: str) -> str | None:
        """The real service_request_id behind a reference (itself when not provisional; None while queued)."""
        if not is_provisional(reference):
            return reference
        row = self._row("reference = :r", r=reference.upper())
        return row["service_request_id"] if row else None

    def status(self, reference: str) -> dict[str, Any] | None:
        """The case's state: ``{"reference", "service_request_id", "status", "status_notes", "service_name",
        "expected_datetime", "updated_datetime", "provisional"}`` (plus ``requested_datetime``, for sorting),
        or None when no such case exists.

        ``status`` is the server's ``open``/``closed``, or ours: ``pending`` (queued here, provisional) and
        ``rejected``. A TMP reference whose ticket has been sent reports the real number as ``reference``.
        When the backend is unreachable the last known state is returned; with nothing known locally,
        :class:`~dispatch.open311_client.Open311Unavailable` is raised.
        """
        reference = (reference or "").strip()
        if not reference:
            return None
        if is_provisional(reference):
            row = self._row("reference = :r", r=reference.upper())
            if row is None:
                return None
        else:
            row = self._row("service_request_id = :s", s=reference)
        if row is not None and (row["state"] != SENT or not row["service_request_id"]):
            return self._local_status(row)
        srid = row["service_request_id"] if row is not None else reference
        try:
            remote = self.client.get_request(srid)
        except Open311NotFound:
            return None
        except (Open311Unavailable, Open311Rejected):
            if row is None:
                raise
            return self._local_status(row)  # the last known state beats no answer
        if row is not None:
            self._remember(row["reference"], remote)
        return self._remote_status(remote, row)

    def cases_for(self, sender_id: str | None = None, phone: str | None = None) -> list[dict[str, Any]]:
        """This resident's cases, newest first, as :meth:`status` dicts: the tickets sent from here (by
        channel identity or phone) plus, on servers that honour the contact filter, those filed elsewhere."""
        phone = normalize_phone(phone)
        if not sender_id and not phone:
            return []
        clauses, params = [], {}
        if sender_id:
            clauses.append("sender_id = :sender")
            params["sender"] = sender_id
        if phone:
            clauses.append("phone = :phone")
            params["phone"] = phone
        rows = self._rows(f"{' OR '.join(clauses)} ORDER BY created_at DESC", **params)
        by_id = {r["service_request_id"]: r for r in rows if r["state"] == SENT and r["service_request_id"]}
        remote: dict[str, dict[str, Any]] = {}
        try:
            ids = list(by_id)
            batch = int(self.conf.get("status_poll_batch", 50))
            for start in range(0, len(ids), batch):
                for item in self.client.get_requests(service_request_id=",".join(ids[start:start + batch])):
                    remote[str(item.get("service_request_id"))] = item
            if self._auto("client_contact_filter"):
                for key, value in (("sender_id", sender_id), ("phone", phone)):
                    if value:
                        for item in self.client.get_requests(**{key: value}):
                            remote.setdefault(str(item.get("service_request_id")), item)
        except Open311Unavailable as exc:
            log.warning("case list from local cache only: %s", exc)
        except Open311Rejected as exc:
            log.warning("case list lookup refused: %s", exc)
        cases = [self._local_status(r) for r in rows if r["service_request_id"] not in remote]
        cases += [self._remote_status(item, by_id.get(srid)) for srid, item in remote.items()]
        cases.sort(key=lambda c: c.get("requested_datetime") or "", reverse=True)
        return cases

    def rate(self, reference: str, score: int, comment: str = "") -> bool:
        """Send the resident's 1–5 rating; False when the score is out of range, the ticket is still
        provisional, or the backend refused or could not be reached (logged)."""
        if not isinstance(score, int) or not 1 <= score <= 5:
            return False
        srid = self.resolve(reference)
        if not srid:
            return False
        try:
            self.client.rate(srid, score, comment)
            return True
        except Open311Error as exc:
            log.warning("rating of %s not accepted: %s", srid, exc)
            return False

    def senders_for(self, service_request_id: str) -> list[dict[str, str]]:
        """Who filed this ticket from here ({"sender_id", "channel"}): the gateway tells them of changes."""
        rows = self._rows("service_request_id = :s", s=service_request_id)
        return [{"sender_id": r["sender_id"], "channel": r["channel"] or ""} for r in rows if r["sender_id"]]

    def _local_status(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if row["state"] in (PENDING, TOKEN):
            status, notes = PENDING, NOTE_PENDING
        elif row["state"] == REJECTED:
            status, notes = REJECTED, NOTE_REJECTED.format(reason=row["last_error"] or "")
        elif not row["service_request_id"]:
            status, notes = "submitted", NOTE_BLACKBOX
        else:
            status, notes = row["status"] or "open", row["status_notes"] or ""
        return {
            "reference": row["service_request_id"] or row["reference"],
            "service_request_id": row["service_request_id"], "status": status, "status_notes": notes,
            "service_name": row["service_name"] or local_service_name(row["service_code"]),
            "expected_datetime": row["expected_datetime"], "updated_datetime": row["updated_datetime"],
            "provisional": not row["service_request_id"],
            "requested_datetime": row["requested_datetime"] or _iso(row["created_at"]),
        }

    @staticmethod
    def _remote_status(item: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
        srid = str(item.get("service_request_id") or "")
        return {
            "reference": srid, "service_request_id": srid, "status": item.get("status") or "open",
            "status_notes": item.get("status_notes") or "",
            "service_name": item.get("service_name") or (row["service_name"] if row else "") or "",
            "expected_datetime": item.get("expected_datetime"), "updated_datetime": item.get("updated_datetime"),
            "provisional": False, "requested_datetime": item.get("requested_datetime"),
        }

    def _refresh(self, row: Mapping[str, Any], timeout_s: float | None = None) -> None:
        """Fetch the created request once for the promised time (the POST answer does not carry it)."""
        try:
            self._remember(row["reference"], self.client.get_request(row["service_request_id"], timeout_s=timeout_s))
        except Open311Error as exc:
            log.info("no details for %s yet: %s", row["service_request_id"], exc)

    def _remember(self, reference: str, item: Mapping[str, Any]) -> None:
        values = _known(item)
        if values:
            self._update(reference, **values)

    # -- status polling (servers without our webhook) ------------------------------------------------------------

    def poll_statuses(self, notify: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Ask the server for the status of open tickets; report each change through ``notify`` (default:
        POST to the gateway's /hooks/dispatch, like the embedded server's webhook). Returns the changes
        reported. A change is only recorded once reported, so a failed notification is retried next time."""
        notify = notify or self.notify
        rows = self._rows("state = :s AND service_request_id IS NOT NULL AND (status IS NULL OR status <> 'closed')"
                          " ORDER BY created_at", s=SENT)
        by_id = {r["service_request_id"]: r for r in rows}
        ids, changes = list(by_id), 0
        batch = int(self.conf.get("status_poll_batch", 50))
        for start in range(0, len(ids), batch):
            try:
                items = self.client.get_requests(service_request_id=",".join(ids[start:start + batch]))
            except Open311Error as exc:
                log.warning("status poll failed: %s", exc)
                return changes
            for item in items:
                row = by_id.get(str(item.get("service_request_id")))
                if row is None:
                    continue
                changed = (item.get("status"), item.get("updated_datetime")) != (row["status"], row["updated_datetime"])
                if not changed:
                    continue
                if row["status"] is not None or item.get("status") == "closed":
                    try:
                        notify(self._event(row, item))
                    except OSError as exc:
                        log.warning("status change of %s not delivered: %s", row["service_request_id"], exc)
                        continue
                    changes += 1
                self._remember(row["reference"], item)
        return changes

    @staticmethod
    def _event(row: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """The embedded server's webhook body (dispatch/server/store.py) for a polled change: the Open311
        request fields plus who to tell (see gateway/notifications.py)."""
        return {
            "event": "status_changed", "service_request_id": str(item.get("service_request_id")),
            "status": item.get("status"), "status_notes": item.get("status_notes") or "",
            "service_code": item.get("service_code") or row["service_code"],
            "service_name": item.get("service_name") or row["service_name"],
            "updated_datetime": item.get("updated_datetime"), "reference": row["reference"],
            "sender_id": row["sender_id"], "channel": row["channel"] or "",
        }

    def notify(self, body: dict[str, Any]) -> None:
        """POST one status change to the gateway, signed with the shared webhook secret (HMAC-SHA256)."""
        from common import settings

        url = self.conf.get("notify_url") or settings.base_url("gateway") + "/hooks/dispatch"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        secret = settings.read_or_create_secret(self.conf["webhook_secret_file"])
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json",
            "X-Dispatch-Signature": signature(data, secret),
        })
        with urllib.request.urlopen(request, timeout=self._setting("client_timeout_s")) as response:
            response.read()

    # -- the service loop -------------------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Drain until ``stop`` is set; poll statuses too when ``status_poll`` says so.

        While the backend is down the loop waits with its own exponential backoff, so an outage costs one
        failed request per wait, not one per queued ticket.
        """
        stop = stop or threading.Event()
        poll = self._auto("status_poll")
        interval = self._setting("outbox_drain_interval_s")
        base, ceiling = self._setting("outbox_backoff_base_s"), self._setting("outbox_backoff_max_s")
        next_poll, failures = 0.0, 0
        log.info("outbox draining (%d pending); status polling %s", self.pending_count(), "on" if poll else "off")
        while not stop.is_set():
            try:
                result = self.drain()
                if poll and self.clock() >= next_poll:
                    self.poll_statuses()
                    next_poll = self.clock() + self._setting("status_poll_interval_s")
            except (OperationalError, ProgrammingError) as exc:  # database briefly unavailable
                log.error("outbox store error: %s", exc)
                result = DrainResult(unavailable=1)
            if result.unavailable and not result.sent:
                failures += 1
                stop.wait(min(ceiling, base * 2 ** (failures - 1)))
            elif result.claimed >= int(self.conf["outbox_batch"]):
                failures = 0  # more are due: go on at once
            else:
                failures = 0
                stop.wait(interval)

    # -- rows -----------------------------------------------------------------------------------------------------

    def _rows(self, where: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            return [dict(r) for r in conn.execute(text(f"SELECT * FROM dispatch_outbox WHERE {where}"),
                                                  params).mappings()]

    def _row(self, where: str, **params: Any) -> dict[str, Any] | None:
        rows = self._rows(where, **params)
        return rows[0] if rows else None

    def _update(self, reference: str, **values: Any) -> None:
        assigns = ", ".join(f"{name} = :{name}" for name in values)
        with self.engine.begin() as conn:
            conn.execute(text(f"UPDATE dispatch_outbox SET {assigns} WHERE reference = :reference"),
                         {**values, "reference": reference})

    def rows(self) -> Iterable[dict[str, Any]]:
        """Every stored ticket (tests and the bench inspect them)."""
        return self._rows("1 = 1 ORDER BY created_at")


def _known(item: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a server answer the outbox caches (for status when the server is unreachable)."""
    keys = ("status", "status_notes", "expected_datetime", "updated_datetime", "requested_datetime", "service_name")
    return {k: str(item[k]) for k in keys if item.get(k) is not None}


def signature(body: bytes, secret: str) -> str:
    """The ``X-Dispatch-Signature`` header of a status webhook: HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _iso(epoch: float | None) -> str | None:
    """ISO 8601 with the zone as ±HH:MM, like the server's times (so they sort together)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    """``python -m dispatch.outbox drain [--once]`` (the "outbox" service) and ``status REFERENCE``."""
    from common.logging import setup

    parser = argparse.ArgumentParser(prog="python -m dispatch.outbox", description="工单发件箱：补发、查询")
    sub = parser.add_subparsers(dest="command", required=True)
    drain = sub.add_parser("drain", help="send queued tickets (forever, or --once)")
    drain.add_argument("--once", action="store_true", help="one pass, then exit")
    status = sub.add_parser("status", help="show one ticket")
    status.add_argument("reference")
    args = parser.parse_args(argv)
    setup("outbox")
    outbox = Outbox.from_settings()
    if args.command == "status":
        print(json.dumps(outbox.status(args.reference), ensure_ascii=False, indent=2))
        return 0
    if args.once:
        print(json.dumps(asdict(outbox.drain()), ensure_ascii=False))
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    outbox.run_forever(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
