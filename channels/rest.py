"""The REST channel: ``POST /api/chat`` for web pages, mini-programs, the terminal chat and the voice bot.

Who is talking is decided by the gateway's identity gate (gateway/identity.py), not by the body: a
resident's session (cookie or Bearer; issued on first contact) or a trusted client's credential.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request

from channels.base import InputChannel, OnNewMessage, UserMessage
from common.web import ApiError, json_body
from gateway.identity import gate_for

MAX_CHANNEL_CHARS = 32


def parse_chat_request(data: dict[str, Any], max_chars: int) -> tuple[str, dict[str, Any]]:
    """Validate ``{message, metadata?}`` (``sender`` is the identity gate's); every problem names its field."""
    message = data.get("message")
    if not isinstance(message, str):
        raise ApiError(400, "missing_field", "缺少 message（消息内容）", "message")
    if not message.strip():
        raise ApiError(400, "empty_message", "消息内容不能为空", "message")
    if len(message) > max_chars:
        raise ApiError(413, "too_long", f"消息不能超过 {max_chars} 个字符", "message")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_value", "metadata 须为 JSON 对象", "metadata")
    return message.strip(), metadata


class RestInput(InputChannel):
    def __init__(self, max_chars: int = 2000) -> None:
        self.max_chars = max_chars

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> RestInput:
        return cls(int(conf.get("max_message_chars", 2000)))

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("rest_channel")

        @bp.post("/api/chat")
        async def chat(request: Request):
            data = json_body(request)
            gate = gate_for(request.app)
            identity = gate.resolve(request, data.get("sender"))
            text, metadata = parse_chat_request(data, self.max_chars)
            # Only a trusted client may name the channel (the voice bot says "phone"); it defaults to its name.
            channel = self.name()
            if identity.client is not None:
                channel = str(metadata.get("channel") or identity.client)[:MAX_CHANNEL_CHARS]
            replies = await on_new_message(UserMessage(identity.sender, text, channel, metadata, identity.client))
            return gate.reply({"messages": [reply.to_json() for reply in replies]}, identity)

        return bp
