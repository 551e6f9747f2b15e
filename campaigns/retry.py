"""The retry policy: after an attempt, is the slot retried (when?) or finished (in which state?).

Pure, so the table of cases is tested without a database; the store applies the decision in the same
transaction that records the outcome. Rules:

- an outcome with a final state (completed, dnc, wrong person, refused) ends the slot;
- a call-back ("请晚点再打") is rescheduled at the resident's time (or ``callback_default_minutes`` later)
  without using up an attempt, ``callbacks_per_slot`` times; after that it counts like no answer;
- anything else uses an attempt and is retried after the busy / no-answer / default interval, while attempts
  are left and the retry still falls before the slot's deadline inside the calling window;
- otherwise the slot ends ``unreachable`` and goes on the follow-up list (人工补漏) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from campaigns.model import CampaignSpec
from campaigns.schedule import clamp_to_window
from campaigns.states import OUTCOMES, RETRY_BUSY, RETRY_NO_ANSWER, follow_up_reason

SECONDS_PER_MINUTE = 60


@dataclass(frozen=True)
class Decision:
    attempts_used: int  # after this attempt
    callbacks_used: int
    next_at: datetime | None = None  # retried at (None: final)
    final_state: str | None = None
    follow_up: str | None = None  # reason for the follow-up list, when staff must step in


def interval(spec: CampaignSpec, outcome: str) -> timedelta:
    retry = OUTCOMES[outcome].retry
    minutes = {RETRY_BUSY: spec.retry.busy_interval_minutes,
               RETRY_NO_ANSWER: spec.retry.no_answer_interval_minutes}.get(retry, spec.retry.interval_minutes)
    return timedelta(seconds=minutes * SECONDS_PER_MINUTE)


def decide(spec: CampaignSpec, outcome: str, *, attempts_before: int, callbacks_before: int, ended_at: datetime,
           deadline_at: datetime, callback_at: datetime | None, callbacks_per_slot: int,
           callback_default_minutes: float) -> Decision:
    """What happens to the slot after an attempt that ended at ``ended_at`` with ``outcome``."""
    kind = OUTCOMES[outcome]
    if kind.final:
        used = attempts_before + 1
        return Decision(used, callbacks_before, final_state=kind.final,
                        follow_up=follow_up_reason(kind.final, outcome, used))
    if kind.callback and callbacks_before < callbacks_per_slot:
        wanted = callback_at or ended_at + timedelta(seconds=callback_default_minutes * SECONDS_PER_MINUTE)
        when = clamp_to_window(spec.schedule, max(wanted, ended_at), deadline_at)
        if when is not None:
            return Decision(attempts_before, callbacks_before + 1, next_at=when)
        return Decision(attempts_before, callbacks_before, final_state="unreachable",
                        follow_up="居民约定稍后回拨，但约定时间已超出本时段的呼叫时间，请人工联系")
    used = attempts_before + 1
    if used < spec.retry.attempts:
        when = clamp_to_window(spec.schedule, ended_at + interval(spec, outcome), deadline_at)
        if when is not None:
            return Decision(used, callbacks_before, next_at=when)
    return Decision(used, callbacks_before, final_state="unreachable",
                    follow_up=follow_up_reason("unreachable", outcome, used))
