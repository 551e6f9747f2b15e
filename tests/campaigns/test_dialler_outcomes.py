"""The outcome table: Hangup Cause first, OriginateResponse Reason as fall-back, AMD and the dialogue once answered."""

from __future__ import annotations

import pytest

from campaigns.dialler_outcomes import UNANSWERED, CallFacts, classify
from campaigns.states import DIALLER_OUTCOMES


@pytest.mark.parametrize(("cause", "reason", "expected"), [
    (17, None, "busy"),
    (17, "0", "busy"),  # OriginateResponse was seen saying 0 for a busy line: the cause wins
    (19, "3", "no_answer"),
    (18, None, "no_answer"),
    (16, None, "no_answer"),  # cleared while ringing (ring timeout)
    (21, None, "rejected"),
    (1, None, "failed"),  # unallocated number
    (3, None, "failed"),  # no route
    (34, "8", "failed"),  # congestion
    (None, "5", "busy"),
    (None, "3", "no_answer"),
    (None, "8", "failed"),
    (None, None, "failed"),
])
def test_an_unanswered_call_is_classified_by_its_cause_then_its_reason(cause, reason, expected) -> None:
    assert classify(CallFacts(cause=cause, reason=reason)) == expected


def test_every_outcome_of_the_table_is_one_the_store_accepts() -> None:
    assert set(UNANSWERED.values()) <= set(DIALLER_OUTCOMES)


@pytest.mark.parametrize(("amd", "dialogue", "notsure_is_machine", "expected"), [
    ("MACHINE", "answered", False, "machine"),  # a machine never gets the questionnaire's outcome
    ("NOTSURE", None, True, "machine"),
    ("NOTSURE", "answered", False, "answered"),
    ("HUMAN", "dnc", False, "dnc"),
    ("HUMAN", "callback", False, "callback"),
    ("HUMAN", None, False, "hung_up_early"),  # hung up before the dialogue decided
    (None, "answered", False, "answered"),
])
def test_an_answered_call_is_classified_by_amd_then_the_dialogue(amd, dialogue, notsure_is_machine, expected) -> None:
    facts = CallFacts(answered=True, cause=16, dialogue_outcome=dialogue)
    if amd:
        facts.note_amd(amd)
    assert classify(facts, notsure_is_machine) == expected


def test_an_amd_verdict_means_the_call_was_answered_and_garbage_counts_as_notsure() -> None:
    facts = CallFacts(cause=16)
    facts.note_amd("weird")
    assert facts.answered and facts.amd == "NOTSURE"
    assert classify(facts) == "hung_up_early"
