"""Tell residents when their case changes: the dispatch status webhook in, per-resident notifications out.

Why the gateway keeps them: the resident is not in a conversation when the command centre closes the case,
so the change waits here until their channel asks (the web page polls, the CLI checks on each turn) and is
then handed out once. Both routes live on one blueprint the gateway mounts:

* ``POST /hooks/dispatch`` – the embedded server's status webhook (and the outbox's poller for other Open311
  servers) posts ``{"event": "status_changed", "service_request_id", "status", "status_notes", "result",
  "service_name", "updated_datetime", "sender_id", "channel", ...}``. Authenticated with the shared secret in
  ``[dispatch] webhook_secret_file``: either ``X-Dispatch-Signature: sha256=<HMAC-SHA256 of the body>`` or
  ``Authorization: Bearer <secret>``. Redelivered events are stored once.
* ``GET /api/notifications`` – the caller's own pending notifications, marked delivered. The caller is who the
  identity gate says (gateway/identity.py): a resident's session (cookie or Bearer), or a trusted client with
  ``?sender=`` (its own namespaced senders only). No credential → 401; a resident's ``?sender=`` may only
  repeat their own (else 403): reading hands the notifications out, so nobody may read another's.

SQLite by default (``[dispatch] notifications_db_url``), PostgreSQL by URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from common import settings
from common.web import ApiError, bearer_token, json_body, same_secret
from dispatch.db import make_engine
from dispatch.signing import HEADER, signature
from gateway.campaigns_api import offer_callback
from gateway.identity import gate_for

TEXT_CLOSED = "您的工单 {id} 已办结：{result}。请对处理结果评价（1-5分）。"
TEXT_CLOSED_BARE = "您的工单 {id} 已办结，请对处理结果评价（1-5分）。"
TEXT_PROGRESS = "您的工单 {id} 有新进展：{notes}。"
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gateway_notifications (
        event_key VARCHAR(64) PRIMARY KEY,
        sender_id VARCHAR(500) NOT NULL,
        channel VARCHAR(40),
        service_request_id VARCHAR(120) NOT NULL,
        status VARCHAR(32) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        text TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        delivered_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS gateway_notifications_pending ON gateway_notifications (sender_id, delivered_at)",
]

Recipients = Callable[[str], list[dict[str, str]]]


def _sentence(value: Any) -> str:
    """Notes as a clause: trimmed, without the closing punctuation our template adds itself."""
    return str(value or "").strip().rstrip("。.！!；;，,")


def message(event: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, Mandarin text) for a status event; None when there is nothing to tell the resident."""
    srid = event["service_request_id"]
    if event.get("status") == "closed":
        result = _sentence(event.get("result") or event.get("status_notes"))
        return "closed", (TEXT_CLOSED.format(id=srid, result=result) if result else TEXT_CLOSED_BARE.format(id=srid))
    notes = _sentence(event.get("status_notes"))
    return ("progress", TEXT_PROGRESS.format(id=srid, notes=notes)) if notes else None


class NotificationStore:
    """Per-resident notifications; each (resident, case, status, time) is stored once and delivered once."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        with engine.begin() as conn:
            for statement in SCHEMA:
                conn.execute(text(statement))

    @classmethod
    def from_settings(cls) -> NotificationStore:
        return cls(make_engine(settings.section("dispatch")["notifications_db_url"]))

    def add(self, event: dict[str, Any], recipients: list[dict[str, str]]) -> int:
        """Store the event's notification for each recipient; returns how many were new."""
        told = message(event)
        if told is None:
            return 0
        kind, body = told
        stored = 0
        for recipient in recipients:
            sender = recipient["sender_id"]
            identity = "|".join(str(x) for x in (sender, event["service_request_id"], event.get("status"),
                                                 event.get("detailed_status"), event.get("updated_datetime")))
            row = {"event_key": hashlib.sha256(identity.encode("utf-8")).hexdigest(), "sender_id": sender,
                   "channel": recipient.get("channel") or None, "service_request_id": event["service_request_id"],
                   "status": event.get("status") or "", "kind": kind, "text": body,
                   "payload": json.dumps(event, ensure_ascii=False), "created_at": self.clock()}
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(
                        "INSERT INTO gateway_notifications (event_key, sender_id, channel, service_request_id,"
                        " status, kind, text, payload, created_at) VALUES (:event_key, :sender_id, :channel,"
                        " :service_request_id, :status, :kind, :text, :payload, :created_at)"), row)
                stored += 1
            except IntegrityError:
                pass  # a redelivered webhook
        return stored

    def take(self, sender_id: str) -> list[dict[str, Any]]:
        """The resident's undelivered notifications, oldest first, each marked delivered (handed out once
        even when two requests of the same resident race)."""
        with self.engine.begin() as conn:
            pending = [dict(r) for r in conn.execute(text(
                "SELECT event_key, service_request_id, status, kind, text, created_at FROM gateway_notifications"
                " WHERE sender_id = :s AND delivered_at IS NULL ORDER BY created_at"), {"s": sender_id}).mappings()]
        taken = []
        for item in pending:
            with self.engine.begin() as conn:
                claimed = conn.execute(text(
                    "UPDATE gateway_notifications SET delivered_at = :now WHERE event_key = :k"
                    " AND delivered_at IS NULL"), {"now": self.clock(), "k": item["event_key"]}).rowcount
            if claimed == 1:
                taken.append({"id": item.pop("event_key"), **item, "rate": item["kind"] == "closed"})
        return taken


def _authentic(request: Request, secret: str) -> bool:
    given = request.headers.get(HEADER, "")
    if given:
        return same_secret(given.strip(), signature(request.body or b"", secret))
    return same_secret(bearer_token(request), secret)


@lru_cache(maxsize=1)
def _outbox() -> Any:
    from dispatch.outbox import Outbox

    return Outbox.from_settings()


def _outbox_recipients(service_request_id: str) -> list[dict[str, str]]:
    """Who filed the ticket from here, for webhooks that do not name the resident."""
    return _outbox().senders_for(service_request_id)


def blueprint(store: NotificationStore | None = None, recipients: Recipients | None = None,
              secret: str | None = None) -> Blueprint:
    """The webhook and notification routes. Arguments are for tests; by default everything comes from
    ``[dispatch]`` (store URL, secret file) and recipients missing from an event are looked up in the outbox."""
    bp = Blueprint("dispatch_notifications")
    state: dict[str, Any] = {"store": store}
    lookup = recipients or _outbox_recipients

    def get_store() -> NotificationStore:
        if state["store"] is None:
            state["store"] = NotificationStore.from_settings()
        return state["store"]

    def get_secret() -> str:
        return secret or settings.read_or_create_secret(settings.section("dispatch")["webhook_secret_file"])

    @bp.post("/hooks/dispatch")
    async def dispatch_hook(request: Request) -> HTTPResponse:
        if not _authentic(request, get_secret()):
            raise ApiError(401, "unauthorized", "签名无效或缺少共享密钥", "x-dispatch-signature")
        event = json_body(request, required=("service_request_id", "status"))
        event["service_request_id"] = str(event["service_request_id"])
        people = [{"sender_id": str(event["sender_id"]), "channel": str(event.get("channel") or "")}] \
            if event.get("sender_id") else []
        people += [r for r in event.get("reporters") or [] if isinstance(r, dict) and r.get("sender_id")]
        if not people:
            people = await asyncio.to_thread(lookup, event["service_request_id"])
        unique = list({p["sender_id"]: p for p in people}.values())
        stored = await asyncio.to_thread(get_store().add, event, unique)
        await offer_callback(request.app, event)  # 满意度回访 of a closed case; never raises (campaigns/callbacks.py)
        return response.json({"stored": stored, "recipients": len(unique)})

    @bp.get("/api/notifications")
    async def notifications(request: Request) -> HTTPResponse:
        identity = gate_for(request.app).resolve(request, request.args.get("sender"), first_contact=False)
        items = await asyncio.to_thread(get_store().take, identity.sender)
        return response.json({"notifications": items}, ensure_ascii=False)

    return bp
