"""One attempt's outcome from what Asterisk said about its call (pure: facts in, outcome out).

Why the Hangup ``Cause`` first: OriginateResponse's ``Reason`` was seen reporting a busy line as reason 0, so
it is only the fall-back when no Hangup cause arrived. ``UNANSWERED`` is the one table from Q.850 causes to
outcomes; causes it does not name (1 unallocated number, 3 no route, 34 congestion, 38 network out of order,
…) are failures.

Once answered, the call's own facts decide: ``AMD()`` said MACHINE → ``machine`` (its ``machine_message``, a
retry, never the questionnaire); the dialogue's outcome (completed script → ``answered``, an opt-out → ``dnc``, "call me
later" → ``callback``, …) → that; a call that ended before the dialogue decided → ``hung_up_early``.
NOTSURE goes to the questionnaire unless ``[campaigns] amd_notsure_is_machine``: keys first means a machine
cannot answer the questions anyway, and a person must not be dropped as a machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.states import OUTCOMES

CAUSE_NORMAL, CAUSE_BUSY, CAUSE_NO_USER_RESPONSE, CAUSE_NO_ANSWER, CAUSE_REJECTED = 16, 17, 18, 19, 21
# Hangup Cause of a call that was never answered → outcome (the table the tests check).
UNANSWERED: dict[int, str] = {
    CAUSE_NORMAL: "no_answer",  # cleared while ringing (the ring timeout, a cancel): nobody picked up
    CAUSE_BUSY: "busy",
    CAUSE_NO_USER_RESPONSE: "no_answer",
    CAUSE_NO_ANSWER: "no_answer",
    CAUSE_REJECTED: "rejected",
}
# OriginateResponse Reason (Asterisk's AST_CONTROL_* code) → outcome, only when no Hangup cause said more.
BY_REASON: dict[str, str] = {"1": "no_answer", "3": "no_answer", "5": "busy", "8": "failed", "0": "failed"}
ANSWER_REASON = "4"
HUMAN, MACHINE, NOTSURE = "HUMAN", "MACHINE", "NOTSURE"
AMD_RESULTS = (HUMAN, MACHINE, NOTSURE)


@dataclass
class CallFacts:
    """What is known about one attempt's call so far (filled from AMI events and the dialogue)."""

    answered: bool = False
    cause: int | None = None  # Hangup Cause
    reason: str | None = None  # OriginateResponse Reason
    amd: str | None = None  # HUMAN / MACHINE / NOTSURE (our dialplan's GovbotAmd event)
    dialogue_outcome: str | None = None  # what the dialogue decided, if it ran to a decision

    def note_amd(self, status: str) -> None:
        value = status.strip().upper()
        self.amd = value if value in AMD_RESULTS else NOTSURE
        self.answered = True  # AMD only runs on an answered channel


def is_machine(amd: str | None, notsure_is_machine: bool) -> bool:
    return amd == MACHINE or (amd == NOTSURE and notsure_is_machine)


def classify(facts: CallFacts, notsure_is_machine: bool = False) -> str:
    """The outcome (a key of ``campaigns.states.OUTCOMES``) of one attempt."""
    if facts.answered:
        if is_machine(facts.amd, notsure_is_machine):
            return "machine"
        if facts.dialogue_outcome in OUTCOMES:
            return facts.dialogue_outcome
        return "hung_up_early"
    if facts.cause in UNANSWERED:
        return UNANSWERED[facts.cause]
    if facts.cause:  # a cause that says what went wrong: trust it over the reason
        return "failed"
    return BY_REASON.get(facts.reason or "", "failed")


def cause_of(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None
