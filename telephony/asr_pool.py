"""Recognition work of all calls on a few threads, the oldest utterance first.

Why not ``asyncio.to_thread``: with 20 callers talking at once the recogniser needs more CPU than
two cores have, and a shared FIFO of 20 ms–200 ms chunks serves every call a little at a time, so
*every* caller waits for the whole backlog. Serving the utterance that started first keeps early
callers' answers quick and only the last ones wait; and ``asr_threads`` (≈ cores) workers avoid
oversubscribing the CPU the call loop also needs for its 20 ms frames.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
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
