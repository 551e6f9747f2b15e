"""Hand-off requests: residents who asked for a person, listed for staff until handed back.

The bot is paused in Rasa (ConversationPaused) by the action; this store is the staff's queue,
and "hand back" resumes the conversation in Rasa so the assistant answers again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sanic import Blueprint, Request, response

from channels.base import UserMessage
from common import settings
from common.web import ApiError, require_staff

metadata = sa.MetaData()
handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender", sa.String(128), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, default="open"),  # open | resumed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resumed_at", sa.DateTime(timezone=True)),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class HandoffStore:
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(settings.resolve_db_url(url), future=True)
        metadata.create_all(self.engine)

    @classmethod
    def from_settings(cls) -> HandoffStore:
        return cls(settings.section("gateway")["handoff_db_url"])

    def open(self, message: UserMessage, reason: str) -> int:
        """Record a request; a resident already waiting is not queued twice."""
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(handoffs.c.id).where(
                handoffs.c.sender == message.sender, handoffs.c.status == "open")).scalar()
            if existing:
                return int(existing)
            return int(conn.execute(handoffs.insert().values(
                sender=message.sender, channel=message.channel, reason=reason, status="open",
                created_at=_now())).inserted_primary_key[0])

    def list(self, status: str | None = "open") -> list[dict[str, Any]]:
        query = sa.select(handoffs).order_by(handoffs.c.created_at)
        if status:
            query = query.where(handoffs.c.status == status)
        with self.engine.connect() as conn:
            return [_row(row) for row in conn.execute(query).mappings()]

    def get(self, handoff_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id)).mappings().first()
        return _row(row) if row else None

    def mark_resumed(self, handoff_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(handoffs.update().where(handoffs.c.id == handoff_id).values(
                status="resumed", resumed_at=_now()))


def _row(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "resumed_at"):
        if data.get(key) is not None:
            data[key] = data[key].isoformat()
    return data


def transcript_from_tracker(tracker: dict[str, Any] | None) -> list[dict[str, str]]:
    lines = []
    for event in (tracker or {}).get("events", []):
        if event.get("event") in ("user", "bot") and event.get("text"):
            lines.append({"who": "resident" if event["event"] == "user" else "assistant", "text": event["text"],
                          "time": dt.datetime.fromtimestamp(event.get("timestamp", 0), dt.timezone.utc).isoformat()})
    return lines


def blueprint(store: HandoffStore, assistant: Any) -> Blueprint:
    bp = Blueprint("handoffs", url_prefix="/api/handoffs")

    def _find(handoff_id: int) -> dict[str, Any]:
        item = store.get(handoff_id)
        if item is None:
            raise ApiError(404, "not_found", f"没有编号为 {handoff_id} 的转人工请求", "id")
        return item

    @bp.get("/")
    @require_staff
    async def list_handoffs(request: Request):
        status = request.args.get("status", "open")
        if status not in ("open", "resumed", "all"):
            raise ApiError(400, "invalid_value", "status 只能是 open、resumed 或 all", "status")
        return response.json({"handoffs": store.list(None if status == "all" else status)}, ensure_ascii=False)

    @bp.get("/<handoff_id:int>/transcript")
    @require_staff
    async def transcript(request: Request, handoff_id: int):
        item = _find(handoff_id)
        return response.json({"handoff": item, "transcript": transcript_from_tracker(
            await assistant.tracker(item["sender"]))}, ensure_ascii=False)

    @bp.post("/<handoff_id:int>/resume")
    @require_staff
    async def resume(request: Request, handoff_id: int):
        item = _find(handoff_id)
        if not await assistant.resume(item["sender"]):
            raise ApiError(502, "resume_failed", "助手未能恢复该对话，请稍后重试")
        store.mark_resumed(handoff_id)
        return response.json({"handoff": store.get(handoff_id)}, ensure_ascii=False)

    return bp
