"""The REST channel: ``POST /api/chat`` for web pages, mini-programs and the terminal chat."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request, response

from channels.base import InputChannel, OnNewMessage, UserMessage
from common.web import ApiError, json_body

MAX_SENDER_CHARS = 128
MAX_CHANNEL_CHARS = 32


def parse_chat_request(data: dict[str, Any], max_chars: int) -> tuple[str, str, dict[str, Any]]:
    """Validate ``{sender, message, metadata?}``; every problem names its field."""
    sender = data.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        raise ApiError(400, "missing_field", "缺少 sender（会话标识）", "sender")
    if len(sender) > MAX_SENDER_CHARS:
        raise ApiError(400, "too_long", f"sender 不能超过 {MAX_SENDER_CHARS} 个字符", "sender")
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
    return sender.strip(), message.strip(), metadata


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
            sender, text, metadata = parse_chat_request(json_body(request), self.max_chars)
            # Clients behind this API may name their own channel (the voice bot says "phone").
            channel = str(metadata.get("channel") or self.name())[:MAX_CHANNEL_CHARS]
            replies = await on_new_message(UserMessage(sender, text, channel, metadata))
            return response.json({"messages": [reply.to_json() for reply in replies]}, ensure_ascii=False)

        return bp
