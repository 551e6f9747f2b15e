"""Campaign time: daily slots, the calling window and blocked dates, read in the campaign's own zone.

Pure functions of a :class:`Schedule` and an aware ``now`` (tests pass any instant; nothing here reads the
clock). A *slot* is one target's call at one daily time; it is due at that time and may be retried until
its *deadline*: the next daily time or the end of the window, whichever is first. So the 09:00 check is
never still being retried when the 16:00 one starts, and nothing is dialled after the window closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from campaigns.model import Schedule

CLOCK_FORMAT = "%H:%M"
MINUTES_PER_HOUR = 60


@dataclass(frozen=True)
class SlotPlan:
    """One daily time on one day: due at ``due_at``, retried until ``deadline_at`` (both aware UTC)."""

    day: date
    time: str
    due_at: datetime
    deadline_at: datetime


def minutes_of(clock: str) -> int:
    """``"09:30"`` → 570 (validated strings only)."""
    hours, minutes = clock.split(":")
    return int(hours) * MINUTES_PER_HOUR + int(minutes)


def local_day(schedule: Schedule, now: datetime) -> date:
    return now.astimezone(ZoneInfo(schedule.timezone)).date()


def at(schedule: Schedule, day: date, clock: str) -> datetime:
    """The instant (aware UTC) of ``clock`` on ``day`` in the campaign's zone."""
    hours, minutes = divmod(minutes_of(clock), MINUTES_PER_HOUR)
    local = datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(schedule.timezone))
    return local.astimezone(timezone.utc)


def is_blocked(schedule: Schedule, day: date) -> bool:
    return day in schedule.blocked_dates


def window_of(schedule: Schedule, day: date) -> tuple[datetime, datetime]:
    return at(schedule, day, schedule.window[0]), at(schedule, day, schedule.window[1])


def may_call(schedule: Schedule, now: datetime) -> bool:
    """True when a call may be placed at ``now``: inside the window of a day that is not blocked."""
    day = local_day(schedule, now)
    if is_blocked(schedule, day):
        return False
    start, end = window_of(schedule, day)
    return start <= now < end


def slots_of_day(schedule: Schedule, day: date) -> list[SlotPlan]:
    """The day's slots (none on a blocked date); each daily time lies inside the window (validated)."""
    if is_blocked(schedule, day):
        return []
    _, window_end = window_of(schedule, day)
    dues = [at(schedule, day, clock) for clock in schedule.times]
    deadlines = [*dues[1:], window_end]
    return [SlotPlan(day, clock, due, min(deadline, window_end))
            for clock, due, deadline in zip(schedule.times, dues, deadlines, strict=True)]


def clamp_to_window(schedule: Schedule, when: datetime, deadline: datetime) -> datetime | None:
    """``when`` if a call may be placed then and before ``deadline``; else None (the slot has no time left).

    Retries and call-backs go through this: "call me back at 21:00" on a window ending at 20:00 is not
    honoured by calling at 21:00 (the resident goes on the follow-up list instead).
    """
    if when >= deadline or not may_call(schedule, when):
        return None
    return when
