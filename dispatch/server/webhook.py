"""Status changes to the gateway: a worker drains the store's webhook events with retries.

Events are written in the same transaction as the change (a durable outbox), so a dispatcher's
request never waits for the gateway and a crash between commit and delivery loses nothing.
Retries follow the shared schedule (``common.backoff``) from ``webhook_backoff_s``, doubling up to
``webhook_backoff_max_s``; after ``webhook_max_attempts`` the event is marked failed.
Retries run on the real clock (network time), not the injectable one the SLA uses.
Each POST is signed like the gateway's ``/hooks/dispatch`` expects: ``X-Dispatch-Signature:
sha256=<HMAC-SHA256 of the body>`` with the shared ``[dispatch] webhook_secret_file``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import httpx

from common.backoff import delay
from dispatch.server.background import BackgroundTask
from dispatch.server.clock import SystemClock
from dispatch.signing import HEADER, signature

log = logging.getLogger("dispatch.webhook")
BATCH = 20


class Notifier:
    def __init__(self, store: Any, config: Any) -> None:
        self.store, self.clock, self.config = store, SystemClock(), config
        self.url: str = config.status_webhook_url
        self._wake = asyncio.Event()
        self._task = BackgroundTask("dispatch-webhook")

    def wake(self) -> None:
        """Called after a status change: deliver now instead of at the next poll."""
        if self.url:
            self._wake.set()

    def start(self) -> None:
        if self.url:
            self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """Try every event that is due once; return how many were delivered."""
        delivered = 0
        for event in await asyncio.to_thread(self.store.due_events, self.clock.now(), BATCH):
            error: str | None = None
            try:
                body = event["payload"].encode("utf-8")
                response = await client.post(self.url, content=body, headers={
                    "Content-Type": "application/json; charset=utf-8",
                    HEADER: signature(body, self.config.webhook_secret)})
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            retry_at = None
            if error:
                attempt = event["attempts"] + 1
                if attempt < self.config.webhook_max_attempts:
                    wait = delay(attempt, self.config.webhook_backoff_s, self.config.webhook_backoff_max_s)
                    retry_at = self.clock.now() + timedelta(seconds=wait)
                sid = json.loads(event["payload"]).get("service_request_id")
                log.warning("webhook for %s failed (attempt %d): %s", sid, attempt, error)
            else:
                delivered += 1
            await asyncio.to_thread(self.store.event_done, event["id"], self.clock.now(), error, retry_at)
        return delivered

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout_s) as client:
            while True:
                try:
                    await self.deliver_due(client)
                except Exception:
                    log.exception("webhook delivery failed")
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.config.webhook_backoff_s)
                except asyncio.TimeoutError:
                    pass

