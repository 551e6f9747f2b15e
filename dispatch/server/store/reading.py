"""Reading cases: by number, token or idempotency key, the Open311 search, the dispatchers' queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from dispatch.server.schema import history, ratings, supervision, tickets
from dispatch.server.store.events import EventsMixin
from dispatch.server.store.rows import Filters, db_time, row_dict


class ReadingMixin(EventsMixin):
    def get(self, service_request_id: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            return row_dict(row) if row else None

    def get_by_token(self, token: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.token == token)).first()
            return row_dict(row) if row else None

    def get_by_idempotency_key(self, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.idempotency_key == key)).first()
            return row_dict(row) if row else None

    def search(self, filters: Filters) -> list[dict[str, Any]]:
        query = select(tickets)
        if filters.ids:
            query = query.where(tickets.c.service_request_id.in_(filters.ids))
        else:
            if filters.service_codes:
                query = query.where(tickets.c.service_code.in_(filters.service_codes))
            if filters.start:
                query = query.where(tickets.c.requested_at >= db_time(filters.start))
            if filters.end:
                query = query.where(tickets.c.requested_at <= db_time(filters.end))
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
            return [row_dict(r) for r in conn.execute(query)]

    def queue(self, *, status: str | None = None, overdue: bool = False, department: str | None = None,
              query_text: str | None = None, now: datetime, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """The dispatchers' work list: parent cases only, urgent and oldest first."""
        query = select(tickets).where(tickets.c.parent_id.is_(None))
        if status == "open":
            query = query.where(tickets.c.status != "closed")
        elif status:
            query = query.where(tickets.c.status == status)
        if overdue:
            n = db_time(now)
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
            return [row_dict(r) for r in conn.execute(query.limit(limit).offset(offset))]

    def details(self, service_request_id: str) -> dict[str, Any] | None:
        """A case with its history, linked duplicates, ratings and supervision entries."""
        with self._read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                return None
            ticket = row_dict(row)
            ticket["history"] = [row_dict(r) for r in conn.execute(
                select(history).where(history.c.ticket_id == ticket["id"]).order_by(history.c.id))]
            ticket["duplicates"] = [row_dict(r) for r in conn.execute(
                select(tickets).where(tickets.c.parent_id == ticket["id"]).order_by(tickets.c.id))]
            ids = [ticket["id"], *(d["id"] for d in ticket["duplicates"])]
            ticket["ratings"] = [row_dict(r) for r in conn.execute(
                select(ratings).where(ratings.c.ticket_id.in_(ids)).order_by(ratings.c.id))]
            ticket["supervision"] = [row_dict(r) for r in conn.execute(
                select(supervision).where(supervision.c.ticket_id == ticket["id"]).order_by(supervision.c.id))]
            return ticket

