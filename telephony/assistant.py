"""The call's way into the assistant: the gateway's ``POST /api/chat``, like every other channel.

Why over HTTP and not by importing the gateway: a phone call is one more channel; going through
the same endpoint keeps hand-off, PII masking and the conversation store identical for callers,
and the gateway's 503 ("Rasa not ready / too slow") becomes the apology the caller hears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class AssistantUnavailable(RuntimeError):
    """The gateway did not answer in time or answered with an error: apologise to the caller."""


@dataclass
class Reply:
    texts: list[str]
    raw: Any = None

    @property
    def speech(self) -> str:
        return "".join(text if text.endswith(("。", "！", "？", ".", "!", "?")) else text + "。"
                       for text in self.texts if text.strip())


def _texts(body: Any) -> list[str]:
    """Sentences to speak from the gateway's reply (a list of bot messages, or {"messages": [...]})."""
    messages = body.get("messages", []) if isinstance(body, dict) else body
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        if message.get("text"):
            texts.append(str(message["text"]))
        titles = [str(b.get("title", "")) for b in message.get("buttons") or [] if isinstance(b, dict)]
        if titles := [t for t in titles if t]:
            texts.append("您可以说：" + "、".join(titles))
    return texts


class AssistantClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.url = base_url.rstrip("/") + "/api/chat"
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> Reply:
        try:
            response = await self.client.post(
                self.url, json={"sender": sender, "message": message, "metadata": metadata})
        except httpx.HTTPError as exc:
            raise AssistantUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise AssistantUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            raise AssistantUnavailable("the gateway's reply is not JSON") from None
        return Reply(_texts(body), body)

    async def close(self) -> None:
        await self.client.aclose()
