"""What a campaign is: its script, schedule, retry policy, limits and abnormal-answer rule (value objects).

Why value objects with ``to_dict``: the same shape is what the API accepts, what the CLI reads from a YAML
file, what the store keeps (one JSON column) and what the dialler gets back, so there is one place that says
what a campaign holds. Building one from untrusted input is :mod:`campaigns.validation`'s job; everything
here assumes valid values.

Keys first: every question says which key to press ("体温正常请按1，发烧请按2"); speech is the alternative the
dialogue accepts, constrained to the same answers. A number question is typed as digits with ``*`` as the
decimal point (``3 6 * 5`` → 36.5), ended by ``#`` or the digit timeout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

ANSWER_TYPES = ("yes_no", "number", "choice", "free")
YES, NO = "yes", "no"
DECIMAL_KEY = "*"
END_KEY = "#"


class AnswerError(ValueError):
    """Keys or a value a question does not accept (the dialogue re-asks; never stored)."""


@dataclass(frozen=True)
class Question:
    """One question of a script and the answer it expects.

    ``keys`` maps a DTMF key to the stored value (``{"1": "yes", "2": "no"}``; for a choice, to a key of
    ``choices``). Number questions have no key map: the digits are the answer, within ``min``–``max``.
    """

    id: str
    text: str
    type: str
    keys: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # choice value → label (read back, reported)
    unit: str = ""
    min: float | None = None
    max: float | None = None
    label: str = ""  # short name in reports and alert tickets (体温); the id when empty
    # A free question the resident may skip ("还有什么意见或建议"): "#" alone or silence is "no comment" (""),
    # the call goes on; otherwise a skipped question is re-asked and the attempt ends unanswered.
    optional: bool = False

    @property
    def title(self) -> str:
        return self.label or self.id

    def answer_from_keys(self, pressed: str) -> Any:
        """The value for the keys a resident pressed, or AnswerError (wrong key, out of range)."""
        pressed = pressed.strip().rstrip(END_KEY)
        if self.type == "number":
            if not pressed or pressed.count(DECIMAL_KEY) > 1 or not pressed.replace(DECIMAL_KEY, "").isdigit():
                raise AnswerError(f"请用数字键输入{self.unit or '数字'}，小数点请按星号")
            return self.accept(float(pressed.replace(DECIMAL_KEY, ".")))
        if pressed not in self.keys:
            raise AnswerError(f"没有按键 {pressed!r} 对应的选项（可按 {'、'.join(sorted(self.keys))}）")
        return self.keys[pressed]

    def accept(self, value: Any) -> Any:
        """``value`` (from keys or recognised speech) normalised, or AnswerError if this question refuses it."""
        if self.type == "yes_no":
            if value not in (YES, NO):
                raise AnswerError("请回答是或者不是")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise AnswerError(f"可选的回答是：{'、'.join(self.choices.values())}")
            return value
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AnswerError(f"请说出或输入一个数字（{self.unit}）")
            number = float(value)
            if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
                low, high = ("" if bound is None else f"{bound:g}" for bound in (self.min, self.max))
                raise AnswerError(f"{number:g}{self.unit} 超出范围 {low}–{high}{self.unit}，请再说一遍")
            return number
        text = str(value or "").strip()
        if not text and not self.optional:
            raise AnswerError("没有听到您的回答")
        return text


@dataclass(frozen=True)
class Schedule:
    """When calls happen, read in ``timezone``: one slot per target at each daily time, only inside the window."""

    times: tuple[str, ...]  # "HH:MM", ascending
    window: tuple[str, str]  # start, end "HH:MM": no call is ever placed outside [start, end)
    timezone: str
    blocked_dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per daily slot and the pauses between them (busy and no-answer may differ)."""

    attempts: int  # per slot, the first call included
    interval_minutes: float  # after a failure, a hang-up mid-call or an outcome without its own interval
    busy_interval_minutes: float  # after busy or rejected: the resident is there, try again soon
    no_answer_interval_minutes: float  # after no answer, an answering machine or a lost attempt


@dataclass(frozen=True)
class Condition:
    """One abnormal-answer condition: ``temperature >= 37.3``, ``cough == yes``, ``need in [medicine, doctor]``."""

    question: str  # a question id of the script
    op: str  # one of campaigns.abnormal's NUMBER_OPS (number questions) or VALUE_OPS (the others)
    value: Any  # a number, an answer value, or a list of values for ``in``


@dataclass(frozen=True)
class CampaignSpec:
    """Everything an operator decides about a campaign (the targets are rows of their own)."""

    name: str
    kind: str
    opening: str
    closing: str
    script: tuple[Question, ...]
    schedule: Schedule
    retry: RetryPolicy
    max_channels: int
    ring_timeout_s: int
    caller_id: str
    opt_out_key: str
    abnormal: tuple[Condition, ...] = ()
    # Played once to an answering machine (AMD MACHINE), then hang up; empty: nothing (the outcome is ``machine``).
    machine_message: str = ""

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.script if q.id == question_id), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schedule"]["blocked_dates"] = [d.isoformat() for d in self.schedule.blocked_dates]
        data["schedule"]["times"] = list(self.schedule.times)
        data["schedule"]["window"] = list(self.schedule.window)
        data["script"] = [asdict(q) for q in self.script]
        data["abnormal"] = [asdict(c) for c in self.abnormal]
        return data


def next_question(spec: CampaignSpec, answered: set[str] | dict[str, Any]) -> Question | None:
    """The first question of the script not yet answered (None: the script is complete).

    Answers of earlier attempts of the same slot count: a resident who hung up after two questions is asked
    only the rest when called back (the store's ``slot_answers`` gives the slot's answers so far).
    """
    return next((q for q in spec.script if q.id not in answered), None)


def spec_from_dict(data: dict[str, Any]) -> CampaignSpec:
    """A stored spec (``CampaignSpec.to_dict()``, validated when it was stored) back as value objects.

    Not :func:`campaigns.validation.parse_spec`: a stored campaign must load even after the settings changed
    (a lowered channel cap is applied when claiming, not by refusing to read the campaign).
    """
    schedule = data["schedule"]
    return CampaignSpec(
        name=data["name"], kind=data["kind"], opening=data["opening"], closing=data["closing"],
        script=tuple(Question(**question) for question in data["script"]),
        schedule=Schedule(times=tuple(schedule["times"]), window=(schedule["window"][0], schedule["window"][1]),
                          timezone=schedule["timezone"],
                          blocked_dates=tuple(date.fromisoformat(d) for d in schedule["blocked_dates"])),
        retry=RetryPolicy(**data["retry"]), max_channels=data["max_channels"], ring_timeout_s=data["ring_timeout_s"],
        caller_id=data["caller_id"], opt_out_key=data["opt_out_key"],
        abnormal=tuple(Condition(**condition) for condition in data["abnormal"]),
        machine_message=data.get("machine_message", ""))  # absent in campaigns stored before it existed
