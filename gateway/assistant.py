"""The gateway's side of a conversation turn: forward to Rasa's REST channel and back.

Rasa answers a REST message only after it has run every action of the turn, so the call has a
bounded timeout: a resident gets a clear 503 within seconds instead of a hanging request when
Rasa is still loading its model or is down.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from channels.base import BotMessage, UserMessage
from common import settings

log = logging.getLogger(__name__)
HANDOFF_REPLY = "您的对话已转人工，工作人员会尽快回复您，请稍候。"


class AssistantUnavailable(Exception):
    """Rasa did not answer in time (loading, down, overloaded)."""


class RasaAssistant:
    def __init__(self, base_url: str, token: str, timeout_s: float, on_handoff=None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))
        self._client: httpx.AsyncClient | None = None
        self.on_handoff = on_handoff  # async (UserMessage, dict) -> None

    @property
    def client(self) -> httpx.AsyncClient:
        """One connection pool per server lifetime (created on first use inside the server's loop)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    @classmethod
    def from_settings(cls, on_handoff=None) -> RasaAssistant:
        from ops.model import rasa_token

        conf = settings.section("gateway")
        return cls(settings.base_url("rasa"), rasa_token(), float(conf["rasa_timeout_s"]), on_handoff)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def handle(self, message: UserMessage) -> list[BotMessage]:
        # channel (and client: who vouches for metadata.phone) are the gateway's facts, never the caller's.
        facts = {"channel": message.channel, **({"client": message.client} if message.client else {})}
        payload = {"sender": message.sender, "message": message.text, "input_channel": message.channel,
                   "metadata": {**message.metadata, **facts}}
        try:
            response = await self.client.post(f"{self.base_url}/webhooks/rest/webhook", json=payload)
        except httpx.HTTPError as exc:
            raise AssistantUnavailable(str(exc) or type(exc).__name__) from exc
        if response.status_code != 200:
            raise AssistantUnavailable(f"Rasa answered {response.status_code}")
        replies: list[BotMessage] = []
        for item in response.json():
            custom = item.get("custom")
            if isinstance(custom, dict) and "handoff" in custom:
                if self.on_handoff:
                    await self.on_handoff(message, custom["handoff"])
                continue
            if item.get("text") or item.get("buttons") or custom:
                replies.append(BotMessage(text=item.get("text", ""), buttons=item.get("buttons") or [],
                                          custom=custom if isinstance(custom, dict) else None))
        if not replies and await self.is_paused(message.sender):
            replies.append(BotMessage(text=HANDOFF_REPLY))
        return replies

    async def is_paused(self, sender: str) -> bool:
        tracker = await self._get(f"/conversations/{sender}/tracker", {"include_events": "NONE"})
        return bool(tracker and tracker.get("paused"))

    async def tracker(self, sender: str) -> dict[str, Any] | None:
        return await self._get(f"/conversations/{sender}/tracker", {"include_events": "ALL"})

    async def resume(self, sender: str) -> bool:
        """Hand the conversation back to the bot (Rasa's ``resume`` event)."""
        try:
            response = await self.client.post(
                f"{self.base_url}/conversations/{sender}/tracker/events",
                # A fresh session: what the resident said while paused was handled by staff, and must not
                # steer the bot's next prediction.
                params={"token": self.token},
                json=[{"event": "resume"}, {"event": "session_started"}, {"event": "action", "name": "action_listen"}],
            )
        except httpx.HTTPError as exc:
            raise AssistantUnavailable(str(exc)) from exc
        return response.status_code == 200

    async def readiness(self) -> dict[str, Any]:
        """Is the model loaded and the action server up? Each check is bounded and reported."""
        timeout = float(settings.section("gateway").get("readiness_timeout_s", 2.0))
        status: dict[str, Any] = {}
        try:
            rasa = await self.client.get(f"{self.base_url}/status", params={"token": self.token}, timeout=timeout)
            body = rasa.json() if rasa.status_code == 200 else {}
            status["rasa"] = "ready" if body.get("model_file") else f"loading ({rasa.status_code})"
        except (httpx.HTTPError, ValueError) as exc:
            status["rasa"] = f"unreachable ({type(exc).__name__})"
        actions = settings.section("actions")
        try:
            health = await self.client.get(f"http://{actions['host']}:{actions['port']}/health", timeout=timeout)
            status["actions"] = "ready" if health.status_code == 200 else f"error ({health.status_code})"
        except httpx.HTTPError as exc:
            status["actions"] = f"unreachable ({type(exc).__name__})"
        status["ready"] = status["rasa"] == "ready" and status["actions"] == "ready"
        return status

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        try:
            response = await self.client.get(f"{self.base_url}{path}", params={**params, "token": self.token})
        except httpx.HTTPError as exc:
            raise AssistantUnavailable(str(exc)) from exc
        return response.json() if response.status_code == 200 else None
