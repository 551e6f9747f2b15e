"""The dispatch store: tickets, their history, ratings, supervision and webhook events.

Every change is one transaction, so a request is stored whole or not at all (never a partial row),
and the ticket, its history line, the duplicate link and the webhook event commit together.
On SQLite writes take the database lock up front (BEGIN IMMEDIATE) so that duplicate detection and
the day's ticket counter cannot race; on PostgreSQL the counter row lock (taken last) and advisory
locks on the area around the report (``_lock_area``) do the same.
The store is synchronous; the web layer runs it in worker threads.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, event, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dispatch.server import dedup
from dispatch.server.catalogue import Catalogue
from dispatch.server.config import DispatchConfig
from dispatch.server.schema import counters, history, metadata, ratings, supervision, tickets, webhook_events

OPEN_STATUSES = ("submitted", "signed", "assigned", "reopened")
STAGE_NAMES = {"sign": "签收", "dispatch": "派遣", "close": "办结"}
SYSTEM = "系统"
LOCK_MAX_LATITUDE = 85.0  # dedup lock cells are wide enough for any place up to here


class TransitionError(Exception):
    """A dispatcher action that the case's state does not allow (the API answers 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class NewRequest:
    """A validated POST requests: what the resident reported, and where from."""

    service_code: str
    description: str = ""
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    grid: str | None = None
    media_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    channel: str | None = None
    sender_id: str | None = None
    transcript: str | None = None
    urgent: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Filters:
    """GET requests filters (the spec's, plus ``phone``/``sender_id`` for a resident's own cases)."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # public: open / closed
    start: datetime | None = None
    end: datetime | None = None
    phone: str | None = None
    sender_id: str | None = None
    channel: str | None = None
    limit: int = 1000


def _db(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


_TIME_COLUMNS = ("requested_at", "updated_at", "signed_at", "assigned_at", "closed_at",
                 "sign_due", "dispatch_due", "close_due", "at", "due_at", "detected_at", "resolved_at")


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in _TIME_COLUMNS:
        if key in data:
            data[key] = _aware(data[key])
    for key in ("attributes", "co_departments"):
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    return data


class Store:
    def __init__(self, config: DispatchConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.engine = make_engine(config.db_url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = threading.Lock()
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction. SQLite: this process's writer threads queue on a lock instead of
        SQLite's busy handler, which polls with growing sleeps (SQLite's file lock still guards against
        other processes)."""
        if self.is_sqlite:
            with self._sqlite_writer, self._begin_write() as conn:
                yield conn
        else:
            with self._begin_write() as conn:
                yield conn

    @contextmanager
    def _begin_write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(dispatch_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # --- creating -----------------------------------------------------------------------------

    def create(self, new: NewRequest, now: datetime) -> tuple[dict[str, Any], bool]:
        """Store a report; ``(ticket, False)`` when its idempotency key was seen before."""
        try:
            return self._create(new, now)
        except IntegrityError:
            # Two submissions with one key raced (PostgreSQL): the other one won; answer with it.
            existing = self.get_by_idempotency_key(new.idempotency_key) if new.idempotency_key else None
            if existing is None:
                raise
            return existing, False

    def _create(self, new: NewRequest, now: datetime) -> tuple[dict[str, Any], bool]:
        service = self.catalogue.services[new.service_code]
        with self._write() as conn:
            if new.idempotency_key:
                found = conn.execute(select(tickets).where(tickets.c.idempotency_key == new.idempotency_key)).first()
                if found is not None:
                    return _row(found), False
            parent = None
            if service.dedup and not service.urgent and not new.urgent:
                if not self.is_sqlite:
                    self._lock_area(conn, new)
                parent = self._find_duplicate(conn, new, now)
            token = secrets.token_hex(16)
            sla = service.sla
            values: dict[str, Any] = {
                **{k: getattr(new, k) for k in (
                    "service_code", "lat", "long", "address_string", "address_id", "grid", "media_url", "email",
                    "first_name", "last_name", "phone", "device_id", "account_id", "channel", "sender_id",
                    "transcript", "idempotency_key")},
                "service_request_id": f"~{token[:31]}",  # numbered last, to hold the counter lock briefly
                "token": token,
                "service_name": service.name,
                "description": new.description,
                "attributes": json.dumps(new.attributes, ensure_ascii=False),
                "urgent": bool(service.urgent or new.urgent),
                "status": "submitted",
                "status_notes": "已受理，等待签收",
                "department": service.department_name,
                "co_departments": "[]",
                "reporters": 1,
                "overdue_level": 0,
                "requested_at": _db(now),
                "updated_at": _db(now),
                "sign_due": _db(now + sla.sign),
                "dispatch_due": _db(now + sla.dispatch),
                "close_due": _db(now + sla.close),
            }
            if parent is not None:
                values.update(
                    parent_id=parent["id"], status=parent["status"], department=parent["department"],
                    status_notes=self._child_notes(parent), close_due=_db(parent["close_due"]),
                    sign_due=_db(parent["sign_due"]), dispatch_due=_db(parent["dispatch_due"]),
                )
            ticket_id = conn.execute(tickets.insert().values(**values).returning(tickets.c.id)).scalar_one()
            self._log(conn, ticket_id, now, "created", new.channel or SYSTEM, values["status"],
                      "市民来件" + (f"，已并入工单 {parent['service_request_id']}" if parent else ""))
            number = self._next_number(conn, now)
            if parent is not None:
                conn.execute(tickets.update().where(tickets.c.id == parent["id"])
                             .values(reporters=tickets.c.reporters + 1, updated_at=_db(now)))
                self._log(conn, parent["id"], now, "linked", SYSTEM, parent["status"],
                          f"重复来件 {number} 已并入本工单", public=False)
            row = conn.execute(tickets.update().where(tickets.c.id == ticket_id)
                               .values(service_request_id=number).returning(*tickets.c)).one()
            return _row(row), True

    def _lock_area(self, conn: Connection, new: NewRequest) -> None:
        """PostgreSQL: serialize duplicate detection only among reports that could match each other.

        With coordinates: the 3×3 cells around the point (a cell is as tall as the dedup distance,
        and wide enough up to 85° latitude), so any two reports within the distance share a lock;
        plus the service's lock in shared mode. Without: the service's lock exclusively (addresses
        match loosely). Locks are taken in one statement, in key order, so they cannot deadlock.
        """
        service_key = f"dispatch:{new.service_code}"
        if new.lat is None or new.long is None:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": service_key})
            return
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext(:key))"), {"key": service_key})
        cell_lat, _ = dedup.degrees_box(0.0, self.config.dedup_distance_m)
        cell_long = cell_lat / math.cos(math.radians(LOCK_MAX_LATITUDE))
        row, col = math.floor(new.lat / cell_lat), math.floor(new.long / cell_long)
        keys = sorted(f"{service_key}:{row + i}:{col + j}" for i in (-1, 0, 1) for j in (-1, 0, 1))
        conn.execute(text("SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT hashtext(k) AS h FROM "
                          "unnest(CAST(:keys AS text[])) AS k ORDER BY 1 OFFSET 0) AS ordered"), {"keys": keys})

    def _next_number(self, conn: Connection, now: datetime) -> str:
        day = now.astimezone(self.config.timezone).strftime("%Y%m%d")
        dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
        stmt = (dialect_insert(counters).values(day=day, value=1)
                .on_conflict_do_update(index_elements=["day"], set_={"value": counters.c.value + 1})
                .returning(counters.c.value))
        value = conn.execute(stmt).scalar_one()
        return f"{self.config.ticket_prefix}{day}-{value:04d}"

    def _find_duplicate(self, conn: Connection, new: NewRequest, now: datetime) -> dict[str, Any] | None:
        window = _db(now - timedelta(hours=self.config.dedup_window_hours))
        query = select(tickets).where(
            tickets.c.service_code == new.service_code, tickets.c.parent_id.is_(None),
            tickets.c.status.in_(OPEN_STATUSES), tickets.c.urgent.is_(False), tickets.c.requested_at >= window,
        )
        if new.lat is not None and new.long is not None:
            dlat, dlon = dedup.degrees_box(new.lat, self.config.dedup_distance_m)
            query = query.where(tickets.c.lat.between(new.lat - dlat, new.lat + dlat),
                                tickets.c.long.between(new.long - dlon, new.long + dlon))
        candidate = {"lat": new.lat, "long": new.long, "address_id": new.address_id, "grid": new.grid,
                     "address_string": new.address_string, "description": new.description}
        for row in conn.execute(query.order_by(tickets.c.requested_at.desc()).limit(200)):
            case = _row(row)
            if dedup.is_duplicate(candidate, case, self.config.dedup_distance_m, self.config.dedup_text_similarity):
                return case
        return None

    # --- reading ------------------------------------------------------------------------------

    def get(self, service_request_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            return _row(row) if row else None

    def get_by_token(self, token: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.token == token)).first()
            return _row(row) if row else None

    def get_by_idempotency_key(self, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.idempotency_key == key)).first()
            return _row(row) if row else None

    def search(self, filters: Filters) -> list[dict[str, Any]]:
        query = select(tickets)
        if filters.ids:
            query = query.where(tickets.c.service_request_id.in_(filters.ids))
        else:
            if filters.service_codes:
                query = query.where(tickets.c.service_code.in_(filters.service_codes))
            if filters.start:
                query = query.where(tickets.c.requested_at >= _db(filters.start))
            if filters.end:
                query = query.where(tickets.c.requested_at <= _db(filters.end))
            if set(filters.statuses) == {"open"}:
                query = query.where(tickets.c.status != "closed")
            elif set(filters.statuses) == {"closed"}:
                query = query.where(tickets.c.status == "closed")
            if filters.phone:
                query = query.where(tickets.c.phone == filters.phone)
            if filters.sender_id:
                query = query.where(tickets.c.sender_id == filters.sender_id)
            if filters.channel:
                query = query.where(tickets.c.channel == filters.channel)
        query = query.order_by(tickets.c.requested_at.desc(), tickets.c.id.desc()).limit(filters.limit)
        with self._read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def queue(self, *, status: str | None = None, overdue: bool = False, department: str | None = None,
              query_text: str | None = None, now: datetime, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """The dispatchers' work list: parent cases only, urgent and oldest first."""
        query = select(tickets).where(tickets.c.parent_id.is_(None))
        if status == "open":
            query = query.where(tickets.c.status != "closed")
        elif status:
            query = query.where(tickets.c.status == status)
        if overdue:
            n = _db(now)
            query = query.where(tickets.c.status != "closed", or_(
                and_(tickets.c.status == "submitted", tickets.c.sign_due < n),
                and_(tickets.c.assigned_at.is_(None), tickets.c.dispatch_due < n),
                tickets.c.close_due < n,
            ))
        if department:
            query = query.where(tickets.c.department == department)
        if query_text:
            like = f"%{query_text}%"
            query = query.where(or_(tickets.c.description.like(like), tickets.c.service_request_id.like(like),
                                    tickets.c.address_string.like(like)))
        query = query.order_by(tickets.c.urgent.desc(), tickets.c.requested_at.asc(), tickets.c.id.asc())
        with self._read() as conn:
            return [_row(r) for r in conn.execute(query.limit(limit).offset(offset))]

    def details(self, service_request_id: str) -> dict[str, Any] | None:
        """A case with its history, linked duplicates, ratings and supervision entries."""
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                return None
            ticket = _row(row)
            ticket["history"] = [_row(r) for r in conn.execute(
                select(history).where(history.c.ticket_id == ticket["id"]).order_by(history.c.id))]
            ticket["duplicates"] = [_row(r) for r in conn.execute(
                select(tickets).where(tickets.c.parent_id == ticket["id"]).order_by(tickets.c.id))]
            ids = [ticket["id"], *(d["id"] for d in ticket["duplicates"])]
            ticket["ratings"] = [_row(r) for r in conn.execute(
                select(ratings).where(ratings.c.ticket_id.in_(ids)).order_by(ratings.c.id))]
            ticket["supervision"] = [_row(r) for r in conn.execute(
                select(supervision).where(supervision.c.ticket_id == ticket["id"]).order_by(supervision.c.id))]
            return ticket

    # --- dispatcher actions -------------------------------------------------------------------

    def act(self, service_request_id: str, action: str, actor: str, now: datetime, **args: Any) -> dict[str, Any]:
        """Apply one dispatcher action (sign, assign, note, escalate, close, reopen) in one transaction."""
        with self._write() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                raise LookupError(service_request_id)
            ticket = _row(row)
            if ticket["parent_id"] is not None:
                parent = conn.execute(select(tickets.c.service_request_id)
                                      .where(tickets.c.id == ticket["parent_id"])).scalar_one()
                raise TransitionError("merged", f"该工单已并入 {parent}，请在主工单上操作")
            changes, note, public = getattr(self, f"_do_{action}")(ticket, now, **args)
            changes["updated_at"] = _db(now)
            conn.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**changes))
            status = changes.get("status", ticket["status"])
            self._log(conn, ticket["id"], now, action, actor, status, note, public=public)
            for stage in {"sign": ("sign",), "assign": ("sign", "dispatch"),
                          "close": ("sign", "dispatch", "close")}.get(action, ()):
                conn.execute(supervision.update().where(
                    supervision.c.ticket_id == ticket["id"], supervision.c.stage == stage,
                    supervision.c.resolved_at.is_(None)).values(resolved_at=_db(now)))
            updated = _row(conn.execute(select(tickets).where(tickets.c.id == ticket["id"])).one())
            self._mirror_children(conn, updated, now, notify=public)
            if public:
                self._enqueue_event(conn, updated, now)
            return updated

    def _do_sign(self, t: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str, bool]:
        if t["status"] != "submitted":
            raise TransitionError("already_signed", "该工单已签收")
        return {"status": "signed", "signed_at": _db(now), "status_notes": "已签收，正在派遣"}, "签收", True

    def _do_assign(self, t: dict[str, Any], now: datetime, department: str,
                   grid: str | None = None, note: str | None = None) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结，请先重新办理")
        name = self.catalogue.department_name(department)
        if name is None:
            raise TransitionError("unknown_department", f"未知部门：{department}")
        place = f"{name}（{grid}）" if grid else name
        changes: dict[str, Any] = {"status": "assigned", "department": name, "grid": grid or t["grid"],
                                   "status_notes": f"已派遣至{place}" + (f"：{note}" if note else "")}
        if t["signed_at"] is None:
            changes["signed_at"] = _db(now)
        if t["assigned_at"] is None:
            changes["assigned_at"] = _db(now)
        return changes, f"派遣至{place}" + (f"：{note}" if note else ""), True

    def _do_note(self, t: dict[str, Any], now: datetime, note: str,
                 public: bool = True) -> tuple[dict[str, Any], str, bool]:
        return ({"status_notes": note} if public else {}), note, public

    def _do_escalate(self, t: dict[str, Any], now: datetime, departments: list[str],
                     note: str | None = None) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结，请先重新办理")
        names = []
        for dept in departments:
            name = self.catalogue.department_name(dept)
            if name is None:
                raise TransitionError("unknown_department", f"未知部门：{dept}")
            names.append(name)
        joined = list(dict.fromkeys([*t["co_departments"], *names]))
        message = f"已吹哨召集{'、'.join(names)}协同处置" + (f"：{note}" if note else "")
        return {"co_departments": json.dumps(joined, ensure_ascii=False), "status_notes": message}, message, True

    def _do_close(self, t: dict[str, Any], now: datetime, result: str) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结")
        changes: dict[str, Any] = {"status": "closed", "closed_at": _db(now), "result": result,
                                   "status_notes": f"已办结：{result}"}
        if t["signed_at"] is None:
            changes["signed_at"] = _db(now)
        return changes, f"办结：{result}", True

    def _do_reopen(self, t: dict[str, Any], now: datetime, reason: str) -> tuple[dict[str, Any], str, bool]:
        if t["status"] != "closed":
            raise TransitionError("not_closed", "只有已办结的工单可以重新办理")
        service = self.catalogue.services.get(t["service_code"])
        close = service.sla.close if service else timedelta(hours=self.config.sla_close_hours)
        changes: dict[str, Any] = {"status": "reopened", "closed_at": None, "result": None,
                                   "close_due": _db(now + close), "status_notes": f"重新办理：{reason}"}
        if t["assigned_at"] is None:  # closed without dispatch: the dispatch clock starts again too
            dispatch = service.sla.dispatch if service else timedelta(minutes=self.config.sla_dispatch_minutes)
            changes["dispatch_due"] = _db(now + dispatch)
        return changes, f"重新办理：{reason}", True

    def _child_notes(self, parent: dict[str, Any]) -> str:
        return f"已与工单 {parent['service_request_id']} 合并处理。{parent['status_notes']}"

    def _mirror_children(self, conn: Connection, parent: dict[str, Any], now: datetime, notify: bool) -> None:
        """Every reporter of a merged case sees (and is told) what the parent's reporter sees."""
        children = [_row(r) for r in conn.execute(select(tickets).where(tickets.c.parent_id == parent["id"]))]
        if not children:
            return
        conn.execute(tickets.update().where(tickets.c.parent_id == parent["id"]).values(
            status=parent["status"], status_notes=self._child_notes(parent), result=parent["result"],
            closed_at=_db(parent["closed_at"]) if parent["closed_at"] else None,
            close_due=_db(parent["close_due"]), department=parent["department"], updated_at=_db(now)))
        if notify:
            for child in children:
                self._enqueue_event(conn, {**child, "status": parent["status"], "result": parent["result"],
                                           "status_notes": self._child_notes(parent), "updated_at": now}, now,
                                    duplicate_of=parent["service_request_id"])

    def _log(self, conn: Connection, ticket_id: int, now: datetime, action: str, actor: str, status: str,
             note: str, public: bool = True) -> None:
        conn.execute(history.insert().values(ticket_id=ticket_id, at=_db(now), action=action, actor=actor,
                                             status=status, note=note, public=public))

    # --- ratings ------------------------------------------------------------------------------

    def rate(self, service_request_id: str, score: int, comment: str, now: datetime) -> dict[str, Any]:
        with self._write() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                raise LookupError(service_request_id)
            ticket = _row(row)
            if ticket["status"] != "closed":
                raise TransitionError("not_closed", "工单办结后才能评价")
            if conn.execute(select(ratings.c.id).where(ratings.c.ticket_id == ticket["id"])).first():
                raise TransitionError("already_rated", "该工单已评价")
            conn.execute(ratings.insert().values(ticket_id=ticket["id"], score=score, comment=comment, at=_db(now)))
            self._log(conn, ticket["id"], now, "rated", ticket["channel"] or SYSTEM, ticket["status"],
                      f"评价 {score} 分" + (f"：{comment}" if comment else ""), public=False)
            return {"service_request_id": service_request_id, "score": score, "comment": comment, "at": now}

    # --- SLA supervision (督办) -----------------------------------------------------------------

    def scan_overdue(self, now: datetime) -> list[dict[str, Any]]:
        """Record each newly overdue stage, escalate the case to the supervising department."""
        n = _db(now)
        stages = {
            "sign": and_(tickets.c.status == "submitted", tickets.c.sign_due < n),
            "dispatch": and_(tickets.c.assigned_at.is_(None), tickets.c.dispatch_due < n),
            "close": tickets.c.close_due < n,
        }
        found: list[dict[str, Any]] = []
        with self._write() as conn:
            for stage, condition in stages.items():
                due = getattr(tickets.c, f"{stage}_due")
                seen = select(supervision.c.id).where(supervision.c.ticket_id == tickets.c.id,
                                                      supervision.c.stage == stage, supervision.c.due_at == due)
                rows = conn.execute(select(tickets).where(
                    tickets.c.parent_id.is_(None), tickets.c.status != "closed", condition, ~seen.exists()))
                for ticket in [_row(r) for r in rows]:
                    due_at = ticket[f"{stage}_due"]
                    conn.execute(supervision.insert().values(ticket_id=ticket["id"], stage=stage,
                                                             due_at=_db(due_at), detected_at=n))
                    dept = self.config.supervision_department
                    joined = list(dict.fromkeys([*ticket["co_departments"], dept]))
                    deadline = due_at.astimezone(self.config.timezone)
                    note = f"超时未{STAGE_NAMES[stage]}（时限 {deadline:%m-%d %H:%M}），已升级至{dept}督办"
                    conn.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(
                        overdue_level=tickets.c.overdue_level + 1,
                        co_departments=json.dumps(joined, ensure_ascii=False), updated_at=n))
                    self._log(conn, ticket["id"], now, "overdue", SYSTEM, ticket["status"], note, public=False)
                    found.append({"service_request_id": ticket["service_request_id"], "stage": stage,
                                  "due_at": due_at, "department": ticket["department"]})
        return found

    def supervision_list(self, include_resolved: bool = False) -> list[dict[str, Any]]:
        query = (select(supervision, tickets.c.service_request_id, tickets.c.service_name, tickets.c.department,
                        tickets.c.status, tickets.c.urgent, tickets.c.overdue_level)
                 .join(tickets, tickets.c.id == supervision.c.ticket_id))
        if not include_resolved:
            query = query.where(supervision.c.resolved_at.is_(None))
        with self._read() as conn:
            return [_row(r) for r in conn.execute(query.order_by(supervision.c.due_at))]

    # --- metrics ------------------------------------------------------------------------------

    def metric_rows(self, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Parent cases reported in [start, end] and the ratings of them and their duplicates."""
        parent_of = func.coalesce(tickets.c.parent_id, tickets.c.id)
        with self._read() as conn:
            cases = [_row(r) for r in conn.execute(select(tickets).where(
                tickets.c.parent_id.is_(None), tickets.c.requested_at >= _db(start),
                tickets.c.requested_at <= _db(end)))]
            rated = [_row(r) for r in conn.execute(
                select(ratings.c.score, parent_of.label("case_id"))
                .join(tickets, tickets.c.id == ratings.c.ticket_id)
                .where(tickets.c.requested_at >= _db(start), tickets.c.requested_at <= _db(end)))]
        return cases, rated

    # --- webhook events (a durable outbox of status changes) -------------------------------------

    def _enqueue_event(self, conn: Connection, ticket: dict[str, Any], now: datetime,
                       duplicate_of: str | None = None) -> None:
        if not self.config.status_webhook_url:
            return
        tz = self.config.timezone
        closed = ticket["status"] == "closed"
        payload = {
            "event": "status_changed",
            "service_request_id": ticket["service_request_id"],
            "status": "closed" if closed else "open",
            "detailed_status": ticket["status"],
            "status_notes": ticket["status_notes"],
            "result": ticket.get("result"),
            "service_code": ticket["service_code"],
            "service_name": ticket["service_name"],
            "updated_datetime": _aware(ticket["updated_at"]).astimezone(tz).isoformat(timespec="seconds"),
            "duplicate_of": duplicate_of,
            "channel": ticket.get("channel"),
            "sender_id": ticket.get("sender_id"),
            "phone": ticket.get("phone"),
            "rating_path": (f"/open311/v2/requests/{ticket['service_request_id']}/rating.json" if closed else None),
        }
        real_now = _db(datetime.now(timezone.utc))  # delivery runs on the real clock (see webhook.py)
        conn.execute(webhook_events.insert().values(
            payload=json.dumps(payload, ensure_ascii=False), created_at=real_now, next_at=real_now,
            attempts=0, failed=False))

    def due_events(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [_row(r) for r in conn.execute(select(webhook_events).where(
                webhook_events.c.delivered_at.is_(None), webhook_events.c.failed.is_(False),
                webhook_events.c.next_at <= _db(now)).order_by(webhook_events.c.id).limit(limit))]

    def event_done(self, event_id: int, now: datetime, error: str | None, retry_at: datetime | None) -> None:
        with self._write() as conn:
            values: dict[str, Any] = {"attempts": webhook_events.c.attempts + 1, "last_error": error}
            if error is None:
                values["delivered_at"] = _db(now)
            elif retry_at is None:
                values["failed"] = True
            else:
                values["next_at"] = _db(retry_at)
            conn.execute(webhook_events.update().where(webhook_events.c.id == event_id).values(**values))

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(select(1))


def make_engine(url: str) -> Engine:
    """An engine for either database; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE for writes."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("dispatch_write") else "BEGIN")

    return engine
