"""The SLA scheduler: every few seconds, find cases past a deadline and put them under supervision.

The scan itself is ``Store.scan_overdue(now)``; this loop only decides when to run it and reads the
time from the injected clock, so a test moves the clock and calls ``scan`` without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dispatch.server.background import BackgroundTask

log = logging.getLogger("dispatch.sla")


class SlaScheduler:
    def __init__(self, store: Any, clock: Any, interval_s: float, notifier: Any) -> None:
        self.store, self.clock, self.interval_s, self.notifier = store, clock, interval_s, notifier
        self._task = BackgroundTask("dispatch-sla")

    async def scan(self) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(self.store.scan_overdue, self.clock.now())
        for item in found:
            log.warning("督办: %s 超时未完成 %s（%s）", item["service_request_id"], item["stage"], item["department"])
        return found

    def start(self) -> None:
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:  # a database hiccup must not end supervision for good
                log.exception("SLA scan failed; retrying in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)
