"""What an edit may not do to a campaign's results, and what it does to today's slots (``update_campaign``).

Why the script rules (refused with :class:`EditRefused`, the API's 409):

* A question with recorded answers is never removed and never changes its answer type: the stored answers,
  the daily report, the follow-up list and alert tickets would describe a question the campaign no longer
  asks, or read a "yes" as a temperature. Rewording it, changing its keys, adding questions are fine.
* While a call is on the line (an attempt claimed or being dialled), no question is removed or narrowed
  (its type, its choices, its number range): that call runs the script it read when it started, and its
  answers are checked against the *stored* script when they are recorded — an answer the new script refuses
  would lose the whole call's record. This is the one reason an edit may have to wait: pause the campaign
  (calls in progress still finish), edit once they have, resume. Rewording needs no wait.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from campaigns import kinds, schedule
from campaigns.model import CampaignSpec, Question
from campaigns.states import LIVE_ATTEMPT_STATES, OPEN_SLOT_STATES, PENDING, RETRY, check_slot, follow_up_reason
from campaigns.store.base import StoreBase
from campaigns.store.schema import attempts, slots

CANCELLED, UNREACHABLE = "cancelled", "unreachable"


class EditRefused(ValueError):
    """An edit that would make recorded answers or a call on the line meaningless (``field`` names what)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def accepts_all(old: Question, new: Question) -> bool:
    """True when ``new`` accepts every value ``old`` did (the answers of a call that started with ``old``)."""
    if new.type != old.type:
        return False
    if old.type == "choice":
        return set(old.choices) <= set(new.choices)
    if old.type == "number":
        low_ok = new.min is None or (old.min is not None and new.min <= old.min)
        high_ok = new.max is None or (old.max is not None and new.max >= old.max)
        return low_ok and high_ok
    return True  # yes/no and free speech accept the same values whatever the wording


class EditsMixin(StoreBase):
    def _check_script(self, conn: Connection, campaign_id: int, old: CampaignSpec, new: CampaignSpec) -> None:
        """EditRefused when the new script breaks a rule of the module docstring."""
        answered = self._answered_questions(conn, campaign_id)
        live = int(conn.execute(select(func.count()).where(
            attempts.c.campaign_id == campaign_id, attempts.c.state.in_(LIVE_ATTEMPT_STATES))).scalar_one())
        positions = {question.id: index for index, question in enumerate(new.script)}
        for question in old.script:
            index = positions.get(question.id)
            after = None if index is None else new.script[index]
            name = f"{question.id}（{question.title}）"
            if question.id in answered:
                if after is None:
                    raise EditRefused("script", f"问题 {name} 已有居民的回答，不能删除（可以改写问法）")
                if after.type != question.type:
                    raise EditRefused(f"script[{index}].type", f"问题 {name} 已有居民的回答，不能改变回答类型")
            if live and (after is None or not accepts_all(question, after)):
                raise EditRefused("script" if index is None else f"script[{index}]",
                                  f"有 {live} 通电话正在进行，它们按原来的问题作答：通话结束前不能删除问题 {name}，"
                                  "也不能收窄它接受的回答（可先暂停活动，等通话结束后再改）")

    def _answered_questions(self, conn: Connection, campaign_id: int) -> set[str]:
        query = select(attempts.c.answers).where(attempts.c.campaign_id == campaign_id,
                                                 attempts.c.answers.is_not(None))
        found: set[str] = set()
        for answers in conn.execute(query).scalars():
            found.update(json.loads(answers) if isinstance(answers, str) else answers or {})
        return found

    def _reschedule_today(self, conn: Connection, campaign: dict[str, Any], new: CampaignSpec,
                          now: datetime) -> None:
        """Today's open slots under a changed schedule or retry policy (the campaign's zone says what today is).

        * A daily time removed (or today newly blocked): its pending, not-yet-called slots are cancelled. Those
          on the line finish and are decided as usual; those waiting for a retry were called already and are
          tried until their deadline, then go on the follow-up list if never reached. A kind called once
          (call-backs, notices) keeps its pending slots: cancelling one would mean never calling that resident.
        * Deadlines only shorten: an open slot is retried at most until the new schedule's next daily time or
          the end of its window, so a new 12:00 call never overlaps the 09:00 retries of the same resident.
        * A daily time added: planned for today by the next claim if it is still ahead (the caller clears
          ``planned_day``); a window changed: no call is placed outside the new one (claims read the stored
          schedule).
        * Fewer attempts: a slot waiting for a retry that has used them all is unreachable now (人工补漏), not
          called once more.

        Past days' slots are left as they are; later days have none yet (each day is planned on the day).
        """
        day = schedule.local_day(new.schedule, now)
        plans = schedule.slots_of_day(new.schedule, day)
        times, dues = {plan.time for plan in plans}, sorted(plan.due_at for plan in plans)
        _, window_end = schedule.window_of(new.schedule, day)
        kind = kinds.get(campaign["kind"])
        once = bool(kind and kind.once)
        query = select(slots).where(slots.c.campaign_id == campaign["id"], slots.c.day == day,
                                    slots.c.state.in_(OPEN_SLOT_STATES))
        for slot in conn.execute(query).mappings().all():
            values: dict[str, Any] = {}
            if slot["state"] == PENDING and slot["time"] not in times and not once:
                check_slot(PENDING, CANCELLED)
                values.update(state=CANCELLED)
            elif slot["state"] == RETRY and slot["attempts_used"] >= new.retry.attempts:
                check_slot(RETRY, UNREACHABLE)
                values.update(state=UNREACHABLE, follow_up=follow_up_reason(UNREACHABLE, slot["last_outcome"],
                                                                            slot["attempts_used"]))
            else:
                deadline = min([due for due in dues if due > slot["due_at"]] + [window_end, slot["deadline_at"]])
                if deadline < slot["deadline_at"]:
                    values.update(deadline_at=deadline)
            if values:
                conn.execute(update(slots).where(slots.c.id == slot["id"]).values(**values, updated_at=now))
