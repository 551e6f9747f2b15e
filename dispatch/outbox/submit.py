"""Submitting: store the ticket first (one transaction, idempotency key), then try the backend once.

A resident who reports a broken street light at 3 a.m. must get a reference even when the command centre's
system is down, so :meth:`SubmitMixin.submit` writes before it sends, and a ticket the backend did not
take keeps a provisional reference (``TMP-20261123-7F3A``) that the drain loop later turns into the real
number. Every attempt sends the same idempotency key, so an answer lost on the way (timeout, crash after
the backend created the case) is answered with the original case instead of a second one.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from common.backoff import delay
from dispatch.backends.base import BackendNotFound, BackendRejected, BackendUnavailable
from dispatch.classify import service_name as local_service_name
from dispatch.outbox.model import (
    PENDING,
    REFERENCE_ATTEMPTS,
    REFERENCE_HEX,
    REFERENCE_PREFIX,
    REJECTED,
    SENT,
    TOKEN,
    Receipt,
    TicketDraft,
    normalize_phone,
)
from dispatch.outbox.table import OutboxBase

log = logging.getLogger("dispatch.outbox")
ERROR_CHARS = 500  # of a backend's error kept on the row


class SubmitMixin(OutboxBase):
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
        :class:`~dispatch.backends.base.BackendRejected` when the backend refused the ticket so the
        dialogue can tell the resident; the row is kept as ``rejected``.
        """
        reference, claimed = self._store(draft, claim=True)
        row = self._row("reference = :r", r=reference)
        assert row is not None
        if row["state"] == PENDING and claimed:
            try:
                self._send(row, timeout_s=self._setting("submit_timeout_s"))
            except BackendUnavailable:
                pass  # queued; the drain loop takes over
            row = self._row("reference = :r", r=reference)
            assert row is not None
        if row["state"] == REJECTED:
            raise BackendRejected(row["last_error"] or "rejected", status=400)
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

    # -- sending ----------------------------------------------------------------------------------------------

    def _send(self, row: Mapping[str, Any], timeout_s: float | None = None) -> str:
        """One attempt to create the case; records the outcome and returns the row's new state.

        Raises BackendUnavailable after scheduling the retry (callers decide whether to go on).
        """
        payload = json.loads(row["payload"])
        try:
            answer = self.backend.submit(payload["fields"], payload.get("attributes") or {},
                                         row["idempotency_key"], timeout_s=timeout_s)
        except BackendUnavailable as exc:
            self._retry_later(row, str(exc))
            raise
        except BackendRejected as exc:
            reason = exc.description
            self._update(row["reference"], state=REJECTED, last_error=reason, claimed_until=None,
                         attempts=row["attempts"] + 1)
            log.error("ticket %s rejected by the backend: %s", row["reference"], reason)
            return REJECTED
        srid, token = answer.service_request_id, answer.token
        state = TOKEN if token and not srid else SENT
        self._update(row["reference"], state=state, service_request_id=srid, token=token, claimed_until=None,
                     last_error=None, attempts=row["attempts"] + 1, sent_at=self.clock(),
                     next_attempt_at=self.clock() + (self._setting("outbox_backoff_base_s") if state == TOKEN else 0),
                     **answer.known)  # our server already answers status and promised time
        log.info("ticket %s sent: %s", row["reference"], srid or f"token {token}")
        return state

    def _resolve_token(self, row: Mapping[str, Any]) -> str:
        """A batch backend's token → its number (stays TOKEN with backoff until assigned)."""
        try:
            srid = self.backend.resolve_token(row["token"])
        except (BackendUnavailable, BackendNotFound) as exc:
            self._retry_later(row, str(exc))
            raise BackendUnavailable(str(exc)) from None
        if not srid:
            self._retry_later(row, "token not assigned yet")
            raise BackendUnavailable("token not assigned yet")
        self._update(row["reference"], state=SENT, service_request_id=srid, claimed_until=None, last_error=None)
        return SENT

    def _retry_later(self, row: Mapping[str, Any], error: str) -> None:
        """The shared schedule (common.backoff) with jitter, so many queued tickets do not stampede."""
        attempts = row["attempts"] + 1
        wait = delay(attempts, self._setting("outbox_backoff_base_s"), self._setting("outbox_backoff_max_s"),
                     self.rng)
        self._update(row["reference"], attempts=attempts, last_error=error[:ERROR_CHARS], claimed_until=None,
                     next_attempt_at=self.clock() + wait)
        log.warning("ticket %s not sent (attempt %d, retry in %.0fs): %s", row["reference"], attempts, wait, error)

    def _claim(self, reference: str, now: float) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(text(
                "UPDATE dispatch_outbox SET claimed_until = :until WHERE reference = :r AND state IN (:p, :t)"
                " AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until < :now)"),
                {"until": now + self._setting("outbox_claim_s"), "r": reference, "p": PENDING, "t": TOKEN,
                 "now": now})
            return result.rowcount == 1
