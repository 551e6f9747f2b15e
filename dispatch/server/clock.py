"""Time as a dependency: the SLA scheduler and every timestamp read ``clock.now()``.

Tests hand the app a ``ManualClock`` and move it forward to make cases overdue without sleeping.
All times inside the server are aware UTC datetimes; the zone of the district applies only on output.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that stands still until ``advance`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now
