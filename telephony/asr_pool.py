"""Recognition work of all calls on a few threads, the oldest utterance first.

Why not ``asyncio.to_thread``: with 20 callers talking at once the recogniser needs more CPU than
two cores have, and a shared FIFO of 20 ms–200 ms chunks serves every call a little at a time, so
*every* caller waits for the whole backlog. Serving the utterance that started first keeps early
callers' answers quick and only the last ones wait; and ``asr_threads`` (≈ cores) workers avoid
oversubscribing the CPU the call loop also needs for its 20 ms frames.

Why an admission limit (``Admission``) and not only a queue: past what the cores can recognise, a
queue makes *every* caller wait longer for every answer (11–15 s per turn at 20 calls, issue 11). Above
``max_active_calls`` a new caller instead hears a short holding message, repeated, and waits in
arrival order; each call that ends admits the longest-waiting one, so the calls in conversation keep
their turn latency.

Why no batching of several callers' utterances into one encoder pass: measured here (int8 Whisper-base,
one thread per worker), a batch of 2 / 4 / 8 30-s windows cost 1.17 / 1.36 / 1.55 s per utterance against
1.09 s alone — the CPU encoder is compute-bound, so batching only makes the first caller wait for the
last. Fitting the encoder window to the utterance (``speech.asr.whisper``) is what cut the cost.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class AsrPool:
    def __init__(self, workers: int) -> None:
        self._queue: queue.PriorityQueue[tuple[float, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"asr-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    async def run(self, priority: float, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker; lower ``priority`` (the utterance's start time) runs first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((priority, next(self._order), (fn, args, future, loop)))
        return await future

    def _work(self) -> None:
        while True:
            _priority, _order, job = self._queue.get()
            if job is None:
                return
            fn, args, future, loop = job
            if future.cancelled():
                continue  # the call ended while this waited
            try:
                result, error = fn(*args), None
            except Exception as exc:
                result, error = None, exc
            loop.call_soon_threadsafe(_settle, future, result, error)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put((float("inf"), next(self._order), None))


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Admission:
    """At most ``limit`` calls in conversation; the others wait in arrival order, hearing ``on_hold``."""

    def __init__(self, limit: int, hold_repeat_s: float) -> None:
        if limit < 1:
            raise ValueError(f"[telephony] max_active_calls 必须至少为 1（现在是 {limit}）")
        if hold_repeat_s <= 0:
            raise ValueError(f"[telephony] hold_repeat_s 必须大于 0（现在是 {hold_repeat_s}）")
        self.limit, self.hold_repeat_s = limit, hold_repeat_s
        self.active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(not f.done() for f in self._waiting)

    async def enter(self, on_hold: Callable[[], Awaitable[object]]) -> bool:
        """Take a place; returns True if the caller had to wait (and heard ``on_hold`` at least once).

        ``on_hold`` is awaited at once and then every ``hold_repeat_s`` while the caller waits; it is
        cancelled the moment a place is free, so the conversation starts without finishing the message."""
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        holding = asyncio.create_task(self._hold(on_hold))
        try:
            await turn  # the place is handed over by leave(): ``active`` already counts this call
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # admitted and hung up in the same moment: pass the place on
            else:
                turn.cancel()
            raise
        finally:
            holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)
        return True

    async def _hold(self, on_hold: Callable[[], Awaitable[object]]) -> None:
        while True:
            await on_hold()
            await asyncio.sleep(self.hold_repeat_s)  # the message's repeat period while the caller waits

    def leave(self) -> None:
        """The call ended: its place goes to the longest-waiting caller still on the line."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.active = max(0, self.active - 1)

    @asynccontextmanager
    async def place(self, on_hold: Callable[[], Awaitable[object]]) -> AsyncIterator[bool]:
        """``async with admission.place(play_holding) as waited:`` the conversation, then leave()."""
        waited = await self.enter(on_hold)
        try:
            yield waited
        finally:
            self.leave()
