"""The call's way into the assistant: the gateway's ``POST /api/chat``, like every other channel.

Why over HTTP and not by importing the gateway: a phone call is one more channel; going through
the same endpoint keeps hand-off, PII masking and the conversation store identical for callers,
and the gateway's 503 ("Rasa not ready / too slow") becomes the apology the caller hears.

The bot is a trusted client of the gateway (``Authorization: Bearer <client secret "phone">``): it alone
knows the caller's number (from Asterisk), so it alone may send ``metadata.phone``; the gateway files
its conversations under its namespace, ``phone:phone-<call uuid>`` (docs/architecture.md, "Identity").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from common.web import client_secret

CLIENT = "phone"  # the voice bot's client name at the gateway ([security] clients always has it)
MAX_KEYPAD_CHOICES = 9  # keys 1–9; 0 is the hand-off key


class AssistantUnavailable(RuntimeError):
    """The gateway did not answer in time or answered with an error: apologise to the caller."""


@dataclass
class Choice:
    """A button of the reply: on the phone it becomes a key the caller can press."""

    title: str
    payload: str
    key: str = ""


def assign_keys(choices: list[Choice]) -> list[Choice]:
    """Keys 1, 2, … in order, except when every title starts with its own digit (ratings: 5分 … 1分),
    where pressing 5 must mean 5分, not the first button."""
    leading = [c.title[0] for c in choices]
    if all(d.isdigit() and d != "0" for d in leading) and len(set(leading)) == len(leading):
        return [Choice(c.title, c.payload, d) for c, d in zip(choices, leading, strict=True)]
    return [Choice(c.title, c.payload, str(i)) for i, c in enumerate(choices, 1)]


@dataclass
class Reply:
    texts: list[str]
    raw: Any = None
    choices: list[Choice] = field(default_factory=list)

    @property
    def speech(self) -> str:
        texts = [*self.texts, *([keypad_prompt(self.choices)] if self.choices else [])]
        return "".join(text if text.endswith(("。", "！", "？", ".", "!", "?")) else text + "。"
                       for text in texts if text.strip())


def keypad_prompt(choices: list[Choice]) -> str:
    """Why keys and not "please say": one-syllable spoken answers are what phone ASR gets wrong most."""
    return "，".join(f"{choice.title}请按{choice.key}" for choice in choices)


def _parse(body: Any) -> tuple[list[str], list[Choice]]:
    """Sentences to speak and the last message's buttons, from the gateway's reply (a list of bot
    messages, or {"messages": [...]}). Only the last buttons count: they belong to the open question."""
    messages = body.get("messages", []) if isinstance(body, dict) else body
    texts: list[str] = []
    choices: list[Choice] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        if message.get("text"):
            texts.append(str(message["text"]))
        buttons = [Choice(str(b.get("title") or ""), str(b.get("payload") or b.get("title") or ""))
                   for b in message.get("buttons") or [] if isinstance(b, dict)]
        if buttons := [b for b in buttons if b.title and b.payload]:
            choices = assign_keys(buttons[:MAX_KEYPAD_CHOICES])
    return texts, choices


class AssistantClient:
    def __init__(self, base_url: str, timeout_s: float, secret: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/api/chat"
        # Read like the staff token: the gateway on this machine reads the same file under the data dir.
        self.client = httpx.AsyncClient(timeout=timeout_s,
                                        headers={"Authorization": f"Bearer {secret or client_secret(CLIENT)}"})

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> Reply:
        """``sender`` is the call's name (``phone-<uuid>``); the gateway files it as ``phone:phone-<uuid>``."""
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
        texts, choices = _parse(body)
        return Reply(texts, body, choices)

    async def close(self) -> None:
        await self.client.aclose()
