"""Webhook events: a durable outbox of status changes, written in the change's own transaction."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from dispatch.server.schema import webhook_events
from dispatch.server.store.base import StoreBase
from dispatch.server.store.rows import aware, db_time, row_dict


class EventsMixin(StoreBase):
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
            "updated_datetime": aware(ticket["updated_at"]).astimezone(tz).isoformat(timespec="seconds"),
            "duplicate_of": duplicate_of,
            "channel": ticket.get("channel"),
            "sender_id": ticket.get("sender_id"),
            "phone": ticket.get("phone"),
            "rating_path": (f"/open311/v2/requests/{ticket['service_request_id']}/rating.json" if closed else None),
        }
        real_now = db_time(datetime.now(timezone.utc))  # delivery runs on the real clock (see webhook.py)
        conn.execute(webhook_events.insert().values(
            payload=json.dumps(payload, ensure_ascii=False), created_at=real_now, next_at=real_now,
            attempts=0, failed=False))

    def due_events(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [row_dict(r) for r in conn.execute(select(webhook_events).where(
                webhook_events.c.delivered_at.is_(None), webhook_events.c.failed.is_(False),
                webhook_events.c.next_at <= db_time(now)).order_by(webhook_events.c.id).limit(limit))]

    def event_done(self, event_id: int, now: datetime, error: str | None, retry_at: datetime | None) -> None:
        with self._write() as conn:
            values: dict[str, Any] = {"attempts": webhook_events.c.attempts + 1, "last_error": error}
            if error is None:
                values["delivered_at"] = db_time(now)
            elif retry_at is None:
                values["failed"] = True
            else:
                values["next_at"] = db_time(retry_at)
            conn.execute(webhook_events.update().where(webhook_events.c.id == event_id).values(**values))

