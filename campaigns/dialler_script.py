"""The campaign call's dialogue: opening, identity check, each question (keys first, speech too), re-ask once, closing.

Why apart from the audio: the dialogue only needs "say this" and "what did the resident answer" (keys or
recognised text), so it runs unchanged over the phone (:mod:`campaigns.dialler_call`) and over a scripted
double in the tests. It decides the attempt's outcome:

- the identity check (``[campaigns] identity_question``, "请问是张三吗？是请按1，不是请按2", speech too) answered
  no → ``wrong_person`` (a final state: staff check the number) and nothing else is asked; it is asked on
  every call, a retry included, because whoever picks up this time may be someone else;
- every question answered → ``answered`` (the closing is said);
- the opt-out key (``[campaigns] opt_out_key`` / the campaign's) or "不要再打了" at any question → ``dnc``;
- "稍后再打" / "现在不方便" → ``callback`` (the store reschedules inside the window);
- a question still unclear after being asked twice → ``hung_up_early`` with the answers so far: the retry
  asks only the rest (``store.slot_answers``), and after the last attempt staff follow up;
- the resident hanging up → :class:`CallEnded`; the caller keeps the answers given so far.

Speech is constrained to the question's answers: yes/no phrases, a number (spoken Chinese numerals through
:mod:`common.zh_numbers`, the parsing the health form uses), a choice's label or its key read aloud, free text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from campaigns.dialler_config import DiallerConfig
from campaigns.model import NO, YES, AnswerError, CampaignSpec, Question, next_question
from common import zh_numbers

ASKS_PER_QUESTION = 2  # the question, then one re-ask
DNC, CALLBACK, WRONG_PERSON = "dnc", "callback", "wrong_person"
IDENTITY_KEYS = {"1": YES, "2": NO}  # as the prompt says: 是请按1，不是请按2


class CallEnded(Exception):
    """The resident hung up (or the call was cut)."""


@dataclass(frozen=True)
class Heard:
    """One answer: the keys pressed (``#`` removed) or the recognised text; both empty for silence."""

    keys: str = ""
    text: str = ""


class CallIO(Protocol):
    async def say(self, text: str) -> None:
        """Speak ``text``; keys or speech may cut it short (they are kept for :meth:`hear`)."""

    async def hear(self, question: Question) -> Heard:
        """The resident's next answer to ``question`` (silence: an empty Heard); CallEnded when gone."""


@dataclass
class ScriptResult:
    outcome: str | None = None  # None while the dialogue runs (a hang-up leaves it None)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # question id → {value, keys, text}
    identity: str | None = None  # YES / NO once the identity check was answered (not a stored answer)


@dataclass(frozen=True)
class Intent:
    """Not an answer: the resident wants no more calls (dnc) or to be called later (callback)."""

    name: str


def interpret(question: Question, heard: Heard, opt_out_key: str, conf: DiallerConfig) -> Any:
    """The answer's value, an :class:`Intent`, or AnswerError when it is unclear."""
    if heard.keys:
        if heard.keys == opt_out_key:
            return Intent(DNC)
        return question.answer_from_keys(heard.keys)
    text = heard.text.strip()
    if not text:
        raise AnswerError("没有听到回答")
    if any(phrase in text for phrase in conf.dnc_phrases):
        return Intent(DNC)
    if any(phrase in text for phrase in conf.callback_phrases):
        return Intent(CALLBACK)
    if question.type == "yes_no":
        return question.accept(_yes_no(text, conf))
    if question.type == "number":
        return question.accept(_number(question, text))
    if question.type == "choice":
        return question.accept(_choice(question, text))
    return question.accept(text)


def _yes_no(text: str, conf: DiallerConfig) -> str | None:
    """Negatives first: 没有 contains 有, 不是 contains 是."""
    if any(phrase in text for phrase in conf.no_phrases):
        return NO
    if any(phrase in text for phrase in conf.yes_phrases):
        return YES
    return None


def _number(question: Question, text: str) -> float | None:
    if question.unit == "度":
        return zh_numbers.parse_temperature(text)
    cleaned = text.replace(question.unit, "") if question.unit else text
    return zh_numbers.parse_decimal(cleaned.strip("。，,. "))


def _choice(question: Question, text: str) -> str | None:
    """A choice by its label (需要买药) or by the key read aloud (二 / 2 / 按2)."""
    for value, label in question.choices.items():
        if label and label in text:
            return value
    digits = zh_numbers.spoken_digits_to_arabic(text)
    spoken = [ch for ch in digits if ch.isdigit()]
    if len(spoken) == 1 and spoken[0] in question.keys:
        return question.keys[spoken[0]]
    single = zh_numbers.parse_integer(text.strip("按。，, "))
    return question.keys.get(str(single)) if single is not None else None


class ScriptRun:
    """One call's dialogue for one campaign; ``result`` holds what is known even after a hang-up."""

    def __init__(self, spec: CampaignSpec, conf: DiallerConfig, previous: dict[str, Any] | None = None,
                 name: str = "") -> None:
        """``name``: the resident the call is for (the identity check); empty skips the check."""
        self.spec, self.conf, self.name = spec, conf, name.strip()
        self.previous = dict(previous or {})  # answers of earlier attempts of the same slot
        self.result = ScriptResult()

    async def run(self, io: CallIO) -> ScriptResult:
        if self.spec.opening:
            await io.say(self.spec.opening)
        decided = await self._check_identity(io)
        while decided is None:
            question = next_question(self.spec, {**self.previous, **self.result.answers})
            if question is None:
                break
            decided = await self._ask(io, question)
        if decided is not None:
            self.result.outcome = decided
            await io.say({DNC: self.conf.goodbye_dnc, CALLBACK: self.conf.goodbye_callback,
                          WRONG_PERSON: self.conf.goodbye_wrong_person}.get(decided, self.conf.goodbye_unclear))
            return self.result
        self.result.outcome = "answered"
        if self.spec.closing:
            await io.say(self.spec.closing)
        return self.result

    def identity_question(self) -> Question:
        return Question(id="identity", text=self.conf.identity_question.format(name=self.name), type="yes_no",
                        keys=dict(IDENTITY_KEYS), label="身份确认")

    async def _check_identity(self, io: CallIO) -> str | None:
        """None when the resident is who we called (or there is no name to check); else the outcome."""
        if not self.name:
            return None
        found: list[Any] = []
        decided = await self._ask(io, self.identity_question(), found.append)
        if decided is None:
            self.result.identity = found[0]
            return WRONG_PERSON if found[0] == NO else None
        return decided

    async def _ask(self, io: CallIO, question: Question, keep: Callable[[Any], None] | None = None) -> str | None:
        """Ask until answered (None) or decided otherwise (the outcome); ``keep`` takes the value instead of
        the stored answers."""
        for ask in range(ASKS_PER_QUESTION):
            if ask:
                await io.say(self.conf.reask_prefix)
            await io.say(question.text)
            heard = await io.hear(question)
            try:
                value = interpret(question, heard, self.spec.opt_out_key, self.conf)
            except AnswerError:
                continue
            if isinstance(value, Intent):
                return value.name
            if keep is not None:
                keep(value)
            else:
                self.result.answers[question.id] = {"value": value, "keys": heard.keys, "text": heard.text}
            return None
        return "hung_up_early"

