"""The drain loop: send what is queued, with backoff while the backend is down.

Several processes may drain at once (the action server's submit, the "outbox" service): a row is *claimed*
with a conditional UPDATE (``claimed_until``) before it is sent; a crashed claimant's claim simply expires.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from common.backoff import Backoff
from dispatch.backends.base import BackendUnavailable
from dispatch.outbox.model import PENDING, REJECTED, SENT, TOKEN, DrainResult
from dispatch.outbox.polling import PollingMixin

log = logging.getLogger("dispatch.outbox")


class DrainMixin(PollingMixin):
    def _claim_due(self, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due tickets in one statement (a token marks ours) and return them.

        The outer WHERE repeats the claim conditions: under PostgreSQL's READ COMMITTED a row that a
        concurrent drainer claimed first is re-checked against them and skipped, so no row is claimed twice.
        """
        now, token = self.clock(), uuid.uuid4().hex
        due = ("state IN (:p, :t) AND next_attempt_at <= :now AND (claimed_until IS NULL OR claimed_until < :now)")
        params = {"p": PENDING, "t": TOKEN, "now": now, "n": limit, "token": token,
                  "until": now + self._setting("outbox_claim_s")}
        with self.engine.begin() as conn:
            conn.execute(text(
                f"UPDATE dispatch_outbox SET claimed_until = :until, claim_token = :token WHERE {due} AND reference IN"
                f" (SELECT reference FROM dispatch_outbox WHERE {due} ORDER BY created_at LIMIT :n)"), params)
        return self._rows("claim_token = :token ORDER BY created_at", token=token)

    def drain(self, limit: int | None = None) -> DrainResult:
        """One pass: claim the due tickets (oldest first), send them; returns the counts.

        After the first "unavailable" answer the rest of the pass is released untried (the backend is down;
        no point in hammering it). When a ticket gets through, tickets waiting in backoff are made due at
        once: the backend is back and residents should not wait for their backoff to expire.
        """
        claimed = self._claim_due(int(limit or self.conf["outbox_batch"]))
        result = DrainResult(claimed=len(claimed))
        if not claimed:
            return result
        down = threading.Event()
        lock = threading.Lock()

        def one(row: dict[str, Any]) -> None:
            if down.is_set():
                self._update(row["reference"], claimed_until=None)
                return
            try:
                state = self._resolve_token(row) if row["state"] == TOKEN else self._send(row)
            except BackendUnavailable:
                down.set()
                with lock:
                    result.unavailable += 1
                return
            with lock:
                result.sent += state == SENT or state == TOKEN
                result.rejected += state == REJECTED

        workers = max(1, int(self.conf.get("outbox_workers", 1)))
        if workers == 1:
            for row in claimed:
                one(row)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, claimed))
        if result.sent:
            with self.engine.begin() as conn:
                conn.execute(text(
                    "UPDATE dispatch_outbox SET next_attempt_at = :now WHERE state = :p AND next_attempt_at > :now"),
                    {"now": self.clock(), "p": PENDING})
        return result

    def pending_count(self) -> int:
        """Tickets not yet accepted by the backend (pending or waiting for a token)."""
        with self.engine.begin() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM dispatch_outbox WHERE state IN (:p, :t)"),
                                    {"p": PENDING, "t": TOKEN}).scalar() or 0)

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Drain until ``stop`` is set; poll statuses too when ``status_poll`` says so (by default: when the
        backend does not push changes itself).

        While the backend is down the loop waits on the shared backoff schedule, so an outage costs one
        failed request per wait, not one per queued ticket.
        """
        stop = stop or threading.Event()
        poll = self._auto("status_poll", not self.backend.pushes_updates)
        interval = self._setting("outbox_drain_interval_s")
        backoff = Backoff(self._setting("outbox_backoff_base_s"), self._setting("outbox_backoff_max_s"))
        next_poll = 0.0
        log.info("outbox draining (%d pending); status polling %s", self.pending_count(), "on" if poll else "off")
        while not stop.is_set():
            try:
                result = self.drain()
                if poll and self.clock() >= next_poll:
                    self.poll_statuses()
                    next_poll = self.clock() + self._setting("status_poll_interval_s")
            except (OperationalError, ProgrammingError) as exc:  # database briefly unavailable
                log.error("outbox store error: %s", exc)
                result = DrainResult(unavailable=1)
            if result.unavailable and not result.sent:
                stop.wait(backoff.failed())
            elif result.claimed >= int(self.conf["outbox_batch"]):
                backoff.succeeded()  # more are due: go on at once
            else:
                backoff.succeeded()
                stop.wait(interval)
