"""New reports: numbering, duplicate detection (汇总去重) and the idempotency key."""

from __future__ import annotations

import json
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dispatch.server import dedup
from dispatch.server.schema import counters, tickets
from dispatch.server.store.reading import ReadingMixin
from dispatch.server.store.rows import OPEN_STATUSES, SYSTEM, NewRequest, db_time, row_dict

LOCK_MAX_LATITUDE = 85.0  # dedup lock cells are wide enough for any place up to here
DUPLICATE_CANDIDATES = 200  # most recent open cases compared with a new report


class IntakeMixin(ReadingMixin):
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
                    return row_dict(found), False
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
                "requested_at": db_time(now),
                "updated_at": db_time(now),
                "sign_due": db_time(now + sla.sign),
                "dispatch_due": db_time(now + sla.dispatch),
                "close_due": db_time(now + sla.close),
            }
            if parent is not None:
                values.update(
                    parent_id=parent["id"], status=parent["status"], department=parent["department"],
                    status_notes=self._child_notes(parent), close_due=db_time(parent["close_due"]),
                    sign_due=db_time(parent["sign_due"]), dispatch_due=db_time(parent["dispatch_due"]),
                )
            ticket_id = conn.execute(tickets.insert().values(**values).returning(tickets.c.id)).scalar_one()
            self._log(conn, ticket_id, now, "created", new.channel or SYSTEM, values["status"],
                      "市民来件" + (f"，已并入工单 {parent['service_request_id']}" if parent else ""))
            number = self._next_number(conn, now)
            if parent is not None:
                conn.execute(tickets.update().where(tickets.c.id == parent["id"])
                             .values(reporters=tickets.c.reporters + 1, updated_at=db_time(now)))
                self._log(conn, parent["id"], now, "linked", SYSTEM, parent["status"],
                          f"重复来件 {number} 已并入本工单", public=False)
            row = conn.execute(tickets.update().where(tickets.c.id == ticket_id)
                               .values(service_request_id=number).returning(*tickets.c)).one()
            return row_dict(row), True

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
        window = db_time(now - timedelta(hours=self.config.dedup_window_hours))
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
        for row in conn.execute(query.order_by(tickets.c.requested_at.desc()).limit(DUPLICATE_CANDIDATES)):
            case = row_dict(row)
            if dedup.is_duplicate(candidate, case, self.config.dedup_distance_m, self.config.dedup_text_similarity):
                return case
        return None

