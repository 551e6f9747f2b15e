"""An attempt's outcome and answers, recorded with the slot's next step in one transaction.

Why the answers are checked here again (the call dialogue already constrains them): the store is what the
follow-up list, the alert tickets and the daily report read, so it accepts only answers the campaign's script
allows; an answer it refuses is an error the dialler sees at once (nothing of the call is stored half).
A resident who says "don't call me again" (outcome ``dnc``) is put on the do-not-call list of the campaign's
kind in the same transaction.

A late result — the dialler was presumed dead (attempt ``lost``) and reports after all — is stored whole (its
answers are never thrown away) and corrects the slot when it says the resident was reached and the slot was
not decided otherwise meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from campaigns import abnormal, retry
from campaigns.model import AnswerError, CampaignSpec, spec_from_dict
from campaigns.states import (
    ACTIVE,
    ANSWERED_FINALS,
    CLAIMED,
    CORRECTABLE,
    DIALING,
    DIALLER_OUTCOMES,
    DONE,
    LOST,
    OUTCOMES,
    RETRY,
    STOPPED,
    TransitionError,
    check_attempt,
)
from campaigns.store.base import NotFound, dumps, row_dict
from campaigns.store.claims import ClaimsMixin
from campaigns.store.dnc import DncMixin
from campaigns.store.schema import attempts, slots, targets

ANSWER_PARTS = ("value", "keys", "text")  # the stored value, the raw keys pressed, the recognised speech


class OutcomeError(ValueError):
    """An outcome or answer the store refuses (``field`` names it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class OutcomesMixin(ClaimsMixin, DncMixin):
    def record_outcome(self, attempt_id: int, outcome: str, answers: Mapping[str, Any] | None, now: datetime, *,
                       dialler_id: str | None = None, callback_at: datetime | None = None) -> dict[str, Any]:
        """Store how the attempt ended and what the resident answered; returns the slot as it is now.

        ``answers`` maps a question id to its value or to ``{"value", "keys", "text"}``. ``callback_at`` is
        the time a resident asked to be called back (outcome ``callback``).
        """
        if outcome not in DIALLER_OUTCOMES:
            raise OutcomeError("outcome", f"须为 {' / '.join(DIALLER_OUTCOMES)} 之一")
        with self._tx(write=True) as conn:
            attempt = self._attempt(conn, attempt_id)
            if dialler_id is not None and attempt["dialler_id"] != dialler_id:
                raise TransitionError("attempt_owner", f"拨打记录 {attempt_id} 不属于拨号程序 {dialler_id}")
            if attempt["state"] not in (CLAIMED, DIALING, LOST):
                raise TransitionError("attempt_state",
                                      f"拨打记录 {attempt_id} 已结束（{attempt['state']}），不能再记录结果")
            campaign = self._campaign(conn, attempt["campaign_id"])
            spec = spec_from_dict(campaign["spec"])
            stored, reasons = _checked_answers(spec, answers or {})
            check_attempt(attempt["state"], DONE)
            conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(
                state=DONE, outcome=outcome, ended_at=now, answers=dumps(stored),
                abnormal=dumps(reasons) if reasons else None))
            slot = row_dict(conn.execute(select(slots).where(slots.c.id == attempt["slot_id"])).one())
            if reasons:
                conn.execute(update(slots).where(slots.c.id == slot["id"])
                             .values(abnormal=dumps(sorted({*(slot["abnormal"] or []), *reasons}))))
            if outcome == "dnc":
                self._add_dnc(conn, campaign["kind"], attempt_phone(conn, attempt), now,
                              reason="居民在电话中要求不再来电", added_by=attempt["dialler_id"])
            if attempt["state"] == LOST:
                self._late_result(conn, slot, outcome, now)
            elif slot["state"] == ACTIVE:
                decision = retry.decide(spec, outcome, attempts_before=slot["attempts_used"],
                                        callbacks_before=slot["callbacks_used"], ended_at=now,
                                        deadline_at=slot["deadline_at"], callback_at=callback_at,
                                        callbacks_per_slot=self.config.callbacks_per_slot,
                                        callback_default_minutes=self.config.callback_default_minutes)
                if campaign["state"] == STOPPED and decision.final_state is None:
                    decision = retry.Decision(decision.attempts_used, decision.callbacks_used, final_state="cancelled")
                self._apply(conn, slot, decision, outcome, now)
            return row_dict(conn.execute(select(slots).where(slots.c.id == slot["id"])).one())

    def slot_answers(self, slot_id: int) -> dict[str, Any]:
        """The slot's answers so far, later attempts winning (a resident called back is asked only the rest)."""
        with self._tx() as conn:
            query = (select(attempts.c.answers).where(attempts.c.slot_id == slot_id, attempts.c.state == DONE)
                     .order_by(attempts.c.seq))
            merged: dict[str, Any] = {}
            for found in conn.execute(query).scalars():
                merged.update(json.loads(found) if found else {})
            return merged

    def attempts_of(self, slot_id: int) -> list[dict[str, Any]]:
        with self._tx() as conn:
            query = select(attempts).where(attempts.c.slot_id == slot_id).order_by(attempts.c.seq)
            return [row_dict(found) for found in conn.execute(query)]

    def _attempt(self, conn: Connection, attempt_id: int) -> dict[str, Any]:
        query = select(attempts).where(attempts.c.id == attempt_id)
        if not self.is_sqlite:
            query = query.with_for_update()
        found = conn.execute(query).first()
        if found is None:
            raise NotFound(f"没有拨打记录 {attempt_id}")
        return row_dict(found)

    def _late_result(self, conn: Connection, slot: dict[str, Any], outcome: str, now: datetime) -> None:
        final = OUTCOMES[outcome].final
        if final in ANSWERED_FINALS and (slot["state"] in CORRECTABLE or slot["state"] == RETRY):
            conn.execute(update(slots).where(slots.c.id == slot["id"])
                         .values(state=final, last_outcome=outcome, follow_up=None, updated_at=now))


def attempt_phone(conn: Connection, attempt: dict[str, Any]) -> str:
    return str(conn.execute(select(targets.c.phone).where(targets.c.id == attempt["target_id"])).scalar_one())


def _checked_answers(spec: CampaignSpec, answers: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The answers in their stored form and the abnormal-rule reasons they trigger; OutcomeError if refused."""
    stored: dict[str, Any] = {}
    reasons: list[str] = []
    for question_id, given in answers.items():
        question = spec.question(question_id)
        if question is None:
            raise OutcomeError(f"answers.{question_id}", "脚本中没有这个问题")
        parts = dict(given) if isinstance(given, Mapping) else {"value": given}
        unknown = set(parts) - set(ANSWER_PARTS)
        if unknown:
            raise OutcomeError(f"answers.{question_id}", f"未知字段 {'、'.join(sorted(unknown))}")
        try:
            value = question.accept(parts.get("value"))
        except AnswerError as exc:
            raise OutcomeError(f"answers.{question_id}", str(exc)) from None
        stored[question_id] = {"value": value, "keys": str(parts.get("keys") or ""),
                               "text": str(parts.get("text") or "")}
        reasons += abnormal.reasons(spec, question_id, value)
    return stored, reasons
