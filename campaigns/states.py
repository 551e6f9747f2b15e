"""The states of a campaign, a slot and an attempt, with the allowed transitions in one table each.

Modelled on VICIdial's lead statuses (NA no answer, B busy, AA answering machine, CALLBK call back, DNC do
not call …): each attempt ends with one *outcome*; the outcome decides whether the slot (one target's call
at one daily time) is retried or takes a *final state*. Everything is stored, so a restarted dialler resumes
from the store and never from memory; a change not in the tables below is a bug and raises.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- campaigns -------------------------------------------------------------------------------------------------

DRAFT, RUNNING, PAUSED, STOPPED = "draft", "running", "paused", "stopped"
CAMPAIGN_ACTIONS: dict[str, tuple[frozenset[str], str]] = {  # action → (states it applies to, new state)
    "start": (frozenset({DRAFT}), RUNNING),
    "pause": (frozenset({RUNNING}), PAUSED),
    "resume": (frozenset({PAUSED}), RUNNING),
    "stop": (frozenset({DRAFT, RUNNING, PAUSED}), STOPPED),
}
CAMPAIGN_STATE_LABELS = {DRAFT: "草稿", RUNNING: "进行中", PAUSED: "已暂停", STOPPED: "已结束"}
ACTION_LABELS = {"start": "启动", "pause": "暂停", "resume": "恢复", "stop": "结束"}

# --- attempt outcomes ------------------------------------------------------------------------------------------

RETRY_DEFAULT, RETRY_BUSY, RETRY_NO_ANSWER = "default", "busy", "no_answer"
LOST_OUTCOME = "lost"


@dataclass(frozen=True)
class Outcome:
    code: str  # VICIdial-style status code, for operators who know them
    label: str
    answered: bool = False  # a person picked up (counts as "reached" in progress)
    final: str | None = None  # the slot's final state, or None: retry (``retry`` says which interval)
    retry: str = RETRY_DEFAULT
    callback: bool = False  # reschedule at the resident's time without using up an attempt


OUTCOMES: dict[str, Outcome] = {
    "answered": Outcome("A", "已接听并答完", answered=True, final="completed"),
    "busy": Outcome("B", "忙线", retry=RETRY_BUSY),
    "no_answer": Outcome("NA", "无人接听", retry=RETRY_NO_ANSWER),
    "rejected": Outcome("RJ", "拒接", retry=RETRY_BUSY),
    "failed": Outcome("DC", "呼叫失败", retry=RETRY_DEFAULT),
    "machine": Outcome("AA", "答录机", retry=RETRY_NO_ANSWER),
    "hung_up_early": Outcome("HU", "中途挂断", answered=True, retry=RETRY_DEFAULT),
    "callback": Outcome("CALLBK", "约定回拨", answered=True, callback=True),
    "dnc": Outcome("DNC", "要求不再来电", answered=True, final="dnc"),
    "wrong_person": Outcome("WP", "非本人接听", answered=True, final="wrong_person"),
    "refused": Outcome("NI", "拒绝回答", answered=True, final="refused"),
    # Set by the store, never by a dialler: the dialler died after dialling and nobody knows what happened.
    LOST_OUTCOME: Outcome("LOST", "结果未知（拨号程序中断）", retry=RETRY_NO_ANSWER),
}
DIALLER_OUTCOMES = tuple(name for name in OUTCOMES if name != LOST_OUTCOME)

# --- slots -----------------------------------------------------------------------------------------------------

PENDING, ACTIVE, RETRY = "pending", "active", "retry"
CLAIMABLE_SLOT_STATES = (PENDING, RETRY)
OPEN_SLOT_STATES = frozenset({PENDING, ACTIVE, RETRY})
FINAL_SLOT_STATES = {
    "completed": "已完成",
    "dnc": "要求不再来电",
    "wrong_person": "非本人接听",
    "refused": "拒绝回答",
    "unreachable": "未接通",
    "not_called": "未拨打",
    "cancelled": "已取消",
}
SLOT_LABELS = {PENDING: "待拨打", ACTIVE: "通话中", RETRY: "等待重拨", **FINAL_SLOT_STATES}
# A late result (a lost attempt whose dialler reports after all) may correct these final states.
CORRECTABLE = frozenset({"unreachable", "not_called"})
ANSWERED_FINALS = frozenset({"completed", "dnc", "wrong_person", "refused"})
SLOT_TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({ACTIVE, "dnc", "not_called", "cancelled"}),
    ACTIVE: frozenset({PENDING, RETRY, *FINAL_SLOT_STATES}),  # PENDING/RETRY again: a claim released undialled
    RETRY: frozenset({ACTIVE, "dnc", "unreachable", "cancelled", *ANSWERED_FINALS}),
    **{state: ANSWERED_FINALS for state in CORRECTABLE},
}

# --- attempts --------------------------------------------------------------------------------------------------

CLAIMED, DIALING, DONE, RELEASED, LOST = "claimed", "dialing", "done", "released", "lost"
LIVE_ATTEMPT_STATES = (CLAIMED, DIALING)  # these hold a channel (count against the caps)
ATTEMPT_TRANSITIONS: dict[str, frozenset[str]] = {
    CLAIMED: frozenset({DIALING, RELEASED, DONE}),  # DONE from CLAIMED: failed before Originate was sent
    DIALING: frozenset({DONE, LOST}),
    LOST: frozenset({DONE}),  # the late result of a dialler that was presumed dead
    DONE: frozenset(),
    RELEASED: frozenset(),
}


class TransitionError(Exception):
    """A change the state tables do not allow (the API would answer 409 with ``code``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def check_slot(old: str, new: str) -> None:
    if new not in SLOT_TRANSITIONS.get(old, frozenset()):
        before, after = SLOT_LABELS.get(old, old), SLOT_LABELS.get(new, new)
        raise TransitionError("slot_state", f"时段状态不能从 {before} 变为 {after}")


def check_attempt(old: str, new: str) -> None:
    if new not in ATTEMPT_TRANSITIONS.get(old, frozenset()):
        raise TransitionError("attempt_state", f"拨打记录状态不能从 {old} 变为 {new}")


def campaign_after(state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``, or TransitionError (starting twice, resuming a draft …)."""
    if action not in CAMPAIGN_ACTIONS:
        raise TransitionError("action", f"未知操作 {action}（可用：{'、'.join(CAMPAIGN_ACTIONS)}）")
    allowed, new = CAMPAIGN_ACTIONS[action]
    if state not in allowed:
        raise TransitionError("campaign_state",
                              f"活动{CAMPAIGN_STATE_LABELS.get(state, state)}，不能{ACTION_LABELS[action]}")
    return new


def follow_up_reason(final_state: str, last_outcome: str | None, attempts: int) -> str | None:
    """Why staff must step in (人工补漏), or None for a slot that needs nobody."""
    if final_state == "unreachable":
        last = OUTCOMES[last_outcome].label if last_outcome in OUTCOMES else "未知"
        return f"{attempts} 次拨打均未完成（最后一次：{last}）"
    return {
        "not_called": "时段内未能拨打（活动暂停、号码在免打扰名单或线路不足）",
        "wrong_person": "接听者非本人，请核实号码",
        "refused": "居民拒绝回答问题",
        "dnc": "居民要求不再来电，请改为人工联系",
    }.get(final_state)
