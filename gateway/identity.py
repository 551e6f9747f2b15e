"""Who is talking: the gateway's trust boundary. Identity comes from the channel, never from the message body.

Every resident-facing route (``/api/chat``, ``/api/voice``, ``/api/notifications``) asks the gate:

* ``Authorization: Bearer <client secret>`` – a trusted client (gateway/clients.py). It names the sender
  (namespaced ``<client>:<sender>``) and may set identity metadata such as ``metadata.phone``.
* ``Authorization: Bearer <session>`` or the session cookie – a resident (gateway/sessions.py). The sender is
  the session's; a body ``sender`` may only repeat it (else 403). A forged or expired session is refused
  with 401 (and the cookie cleared) rather than replaced: a client must notice that its conversation ended,
  and a resident is never silently attached to a conversation that is not theirs.
* nothing – first contact: a new resident session with a sender id the gateway makes up; a body
  ``sender`` is ignored. The reply carries ``"sender"`` and ``"session"`` and sets the HttpOnly cookie.

Identity metadata (``[gateway] identity_metadata_keys``) from anyone but a trusted client is dropped in
``admitted`` before the message reaches Rasa, so the actions may trust ``metadata.phone``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from channels.base import UserMessage
from common import settings
from common.web import ApiError, bearer_token
from gateway.clients import ClientRegistry
from gateway.sessions import ResidentSessions, SessionInvalid

log = logging.getLogger(__name__)
MAX_SENDER_CHARS = 128  # the hand-off store's column; sender ids are keys in Rasa, the outbox and hand-offs


@dataclass(frozen=True)
class Identity:
    sender: str
    client: str | None = None  # the trusted client that vouches for this sender; None: a resident's session


class SessionRejected(ApiError):
    """401 for a bad session; the cookie is also cleared, so a browser's next request starts afresh."""

    def __init__(self, expired: bool, cookie: str, secure: bool) -> None:
        message = ("会话已过期，请重新开始对话（不带凭据发送即获得新会话）。" if expired
                   else "会话凭据无效，请重新开始对话（不带凭据发送即获得新会话）。")
        super().__init__(401, "session_expired" if expired else "invalid_session", message, "authorization")
        self.cookie, self.secure = cookie, secure

    def to_response(self) -> HTTPResponse:
        reply = super().to_response()
        # Not sanic's delete_cookie: it marks the deletion Secure, which a browser on plain HTTP ignores.
        reply.add_cookie(self.cookie, "", max_age=0, httponly=True, samesite="Lax", secure=self.secure, path="/")
        return reply


def claimed_sender(value: Any) -> str | None:
    """A ``sender`` given in a request (body, form or query), checked; None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_value", "sender 须为字符串", "sender")
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_SENDER_CHARS:
        raise ApiError(400, "too_long", f"sender 不能超过 {MAX_SENDER_CHARS} 个字符", "sender")
    if not value.isprintable():
        raise ApiError(400, "invalid_value", "sender 不能含控制字符", "sender")
    return value


def namespaced(client: str, sender: str) -> str:
    """``<client>:<sender>``; a sender the gateway already namespaced (echoed back by the client) is kept."""
    full = sender if sender.startswith(f"{client}:") else f"{client}:{sender}"
    if len(full) > MAX_SENDER_CHARS:
        raise ApiError(400, "too_long", f"sender（含客户端前缀）不能超过 {MAX_SENDER_CHARS} 个字符", "sender")
    return full


class IdentityGate:
    def __init__(self, sessions: ResidentSessions, clients: ClientRegistry, cookie: str = "govbot_session",
                 cookie_secure: bool = False, identity_keys: tuple[str, ...] = ("phone", "channel")) -> None:
        self.sessions, self.clients = sessions, clients
        self.cookie, self.cookie_secure = cookie, cookie_secure
        self.identity_keys = frozenset(identity_keys)

    @classmethod
    def from_settings(cls) -> IdentityGate:
        conf = settings.section("gateway")
        return cls(ResidentSessions.from_settings(), ClientRegistry.from_settings(), str(conf["session_cookie"]),
                   bool(conf["session_cookie_secure"]), tuple(conf["identity_metadata_keys"]))

    def resolve(self, request: Request, claimed: Any = None, *, first_contact: bool = True) -> Identity:
        """The caller's identity; ``first_contact=False`` (reading notifications) refuses callers with none."""
        sender = claimed_sender(claimed)
        token = bearer_token(request)
        if token:
            client = self.clients.client_for(token)
            if client is not None:
                if sender is None:
                    raise ApiError(400, "missing_field", "受信任的客户端须提供 sender（会话标识）", "sender")
                return Identity(namespaced(client, sender), client)
            return self._resident(token, sender)
        cookie = request.cookies.get(self.cookie)
        if cookie:
            return self._resident(cookie, sender)
        if not first_contact:
            raise ApiError(401, "unauthorized", "需要居民会话（Cookie 或 Authorization: Bearer <session>）"
                           "或客户端凭据", "authorization")
        if sender is not None:
            log.debug("first contact: the body's sender is ignored, the gateway names the conversation")
        return Identity(self.sessions.new_sender())

    def _resident(self, token: str, sender: str | None) -> Identity:
        try:
            own = self.sessions.verify(token)
        except SessionInvalid as exc:
            raise SessionRejected(exc.expired, self.cookie, self.cookie_secure) from None
        if sender is not None and sender != own:
            raise ApiError(403, "forbidden", "sender 与您的会话不符（可省略 sender）", "sender")
        return Identity(own)

    def admitted(self, message: UserMessage) -> UserMessage:
        """The message as Rasa may see it: identity metadata only when a trusted client vouches for it."""
        if message.client is not None:
            return message
        dropped = sorted(self.identity_keys & message.metadata.keys())
        if not dropped:
            return message
        log.debug("dropped identity metadata %s from resident %s (not a trusted client)", dropped, message.sender)
        return replace(message, metadata={k: v for k, v in message.metadata.items() if k not in self.identity_keys})

    def reply(self, body: dict[str, Any], identity: Identity) -> HTTPResponse:
        """The JSON reply with ``sender`` (and, for a resident, a renewed ``session`` and cookie)."""
        body = {**body, "sender": identity.sender}
        if identity.client is not None:
            return response.json(body, ensure_ascii=False)
        session = self.sessions.issue(identity.sender)
        reply = response.json({**body, "session": session}, ensure_ascii=False)
        reply.add_cookie(self.cookie, session, httponly=True, samesite="Lax", secure=self.cookie_secure,
                         max_age=int(self.sessions.lifetime_s), path="/")
        return reply


def gate_for(app: Sanic) -> IdentityGate:
    """The app's gate (``create_app`` installs one; a bare test app gets one from settings on first use)."""
    gate = getattr(app.ctx, "identity", None)
    if gate is None:
        gate = app.ctx.identity = IdentityGate.from_settings()
    return gate
