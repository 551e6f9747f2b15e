"""The campaign call's dialogue: opening, identity check, each question (keys first, speech too), re-ask once, closing.

Why apart from the audio: the dialogue only needs "say this" and "what did the resident answer" (keys or
recognised text), so it runs unchanged over the phone (:mod:`campaigns.dialler_call`) and over a scripted
double in the tests. It decides the attempt's outcome:

- the identity check (``[campaigns] identity_question``, "请问是张三吗？是请按1，不是请按2", speech too) answered
  no → ``wrong_person`` (a final state: staff check the number) and nothing else is asked; it is asked on
  every call, a retry included, because whoever picks up this time may be someone else;
- every question answered → ``answered`` (the closing is said);
- the opt-out key (``[campaigns] opt_out_key`` / the campaign's) or "不要再打了" at any question → ``dnc``;
- "稍后再打" / "现在不方便" → ``callback`` (the store reschedules inside the window); a time said with it
  ("下午三点再打", "过半个小时", :mod:`campaigns.callback_time`) is the result's ``callback_at`` and is said back
  ("好的，我们下午三点再给您打电话"), or — outside the calling window or the slot, where the store hands the resident
  to staff — "工作人员会另行与您联系";
- a question still unclear after being asked twice → ``hung_up_early`` with the answers so far: the retry
  asks only the rest (``store.slot_answers``), and after the last attempt staff follow up;
- the resident hanging up → :class:`CallEnded`; the caller keeps the answers given so far.

Speech is constrained to the question's answers: yes/no phrases, a number (spoken Chinese numerals through
:mod:`common.zh_numbers`, the parsing the health form uses), a choice's label or its key read aloud, free text.
When the words match nothing, a yes/no or choice answer is matched by its sound (:mod:`campaigns.answer_sounds`:
"施灯" is "是的" misheard over the phone). An ``optional`` free question (the call-back's comment) may be
skipped with "#" or silence: recorded as no comment (""), the call goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from campaigns import answer_sounds, callback_time
from campaigns.dialler_config import DiallerConfig
from campaigns.model import END_KEY, NO, YES, AnswerError, CampaignSpec, Question, next_question
from campaigns.schedule import clamp_to_window
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
    said: str = ""  # the transcript before its numbers became digits (十二点三十分, not 12.3十分); empty: ``text``


class CallIO(Protocol):
    """``expect(question)`` (optional): called before ``question`` is said, so speech over its prompt is heard
    for it (:class:`campaigns.answer_ears.AnswerEars`)."""

    async def say(self, text: str) -> None:
        """Speak ``text``; keys or speech may cut it short (they are kept for :meth:`hear`)."""

    async def hear(self, question: Question) -> Heard:
        """The resident's next answer to ``question`` (silence: an empty Heard); CallEnded when gone."""


@dataclass
class ScriptResult:
    outcome: str | None = None  # None while the dialogue runs (a hang-up leaves it None)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # question id → {value, keys, text}
    identity: str | None = None  # YES / NO once the identity check was answered (not a stored answer)
    callback_at: datetime | None = None  # outcome callback: the time the resident asked for (None: none said)


@dataclass(frozen=True)
class SlotTime:
    """What a call-back time is read and promised against: the call's clock, the slot's last moment, and whether
    the store will still reschedule (``[campaigns] callbacks_per_slot`` not used up)."""

    clock: Callable[[], datetime]
    deadline_at: datetime
    callbacks_left: bool = True


@dataclass(frozen=True)
class Intent:
    """Not an answer: the resident wants no more calls (dnc) or to be called later (callback)."""

    name: str


def interpret(question: Question, heard: Heard, opt_out_key: str, conf: DiallerConfig) -> Any:
    """The answer's value, an :class:`Intent`, or AnswerError when it is unclear."""
    text = heard.text.strip()
    if question.optional and not text and heard.keys in ("", END_KEY):
        return question.accept("")  # "#" alone or silence: nothing to add
    if heard.keys:
        if heard.keys == opt_out_key:
            return Intent(DNC)
        return question.answer_from_keys(heard.keys)
    if not text:
        raise AnswerError("没有听到回答")
    if any(phrase in text for phrase in conf.dnc_phrases):
        return Intent(DNC)
    if any(phrase in text for phrase in conf.callback_phrases):
        return Intent(CALLBACK)
    if question.type == "yes_no":
        return question.accept(_yes_no(text, conf) or answer_sounds.by_sound(question, text, conf))
    if question.type == "number":
        return question.accept(_number(question, text))
    if question.type == "choice":
        return question.accept(_choice(question, text, conf) or answer_sounds.by_sound(question, text, conf))
    return question.accept(text)


def _yes_no(text: str, conf: DiallerConfig) -> str | None:
    """Negatives first: 没有 contains 有, 不是 contains 是. Then what is no answer though it holds a yes phrase
    (你是谁 holds 是, 你好 holds 好): None, asked again."""
    if any(phrase in text for phrase in conf.no_phrases):
        return NO
    if any(phrase in text for phrase in conf.non_answer_phrases):
        return None
    if any(phrase in text for phrase in conf.yes_phrases):
        return YES
    return None


def _number(question: Question, text: str) -> float | None:
    if question.unit == "度":
        return zh_numbers.parse_temperature(text)
    cleaned = text.replace(question.unit, "") if question.unit else text
    return zh_numbers.parse_decimal(cleaned.strip("。，,. "))


def _choice(question: Question, text: str, conf: DiallerConfig) -> str | None:
    """A choice by its label (需要买药) or by the key read aloud (二 / 2 / 按2).

    The longest phrase said wins: "不满意" and "基本满意" both contain "满意"."""
    said = [(len(phrase), value) for phrase, value in answer_sounds.choice_words(question, conf) if phrase in text]
    if said:
        return max(said)[1]
    digits = zh_numbers.spoken_digits_to_arabic(text)
    spoken = [ch for ch in digits if ch.isdigit()]
    if len(spoken) == 1 and spoken[0] in question.keys:
        return question.keys[spoken[0]]
    single = zh_numbers.parse_integer(text.strip("按。，, "))
    return question.keys.get(str(single)) if single is not None else None


class ScriptRun:
    """One call's dialogue for one campaign; ``result`` holds what is known even after a hang-up."""

    def __init__(self, spec: CampaignSpec, conf: DiallerConfig, previous: dict[str, Any] | None = None,
                 name: str = "", slot: SlotTime | None = None) -> None:
        """``name``: the resident the call is for (the identity check); empty skips the check. ``slot``: None
        reads no call-back time (the store's default delay)."""
        self.spec, self.conf, self.name, self.slot = spec, conf, name.strip(), slot
        self.previous = dict(previous or {})  # answers of earlier attempts of the same slot
        self.result = ScriptResult()
        self._callback_words = ""  # what the resident said when asking to be called later

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
            await io.say({DNC: self.conf.goodbye_dnc, CALLBACK: self._callback_goodbye(),
                          WRONG_PERSON: self.conf.goodbye_wrong_person}.get(decided, self.conf.goodbye_unclear))
            return self.result
        self.result.outcome = "answered"
        if self.spec.closing:
            await io.say(self.spec.closing)
        return self.result

    def _callback_goodbye(self) -> str:
        """Keep the resident's time and say what happens: called back then, or by staff when the store cannot."""
        if self.slot is None:
            return self.conf.goodbye_callback
        now, zone = self.slot.clock(), self.spec.schedule.timezone
        at = callback_time.wanted_time(self._callback_words, now, zone, self.conf.callback_periods)
        self.result.callback_at = at
        if at is None or not self.slot.callbacks_left:
            return self.conf.goodbye_callback  # the default delay, or a retry like a no-answer: "稍后"
        if clamp_to_window(self.spec.schedule, at, self.slot.deadline_at) is None:
            return self.conf.goodbye_callback_staff  # the store ends the slot and puts it on the follow-up list
        return self.conf.goodbye_callback_at.format(time=callback_time.spoken(at, now, zone))

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
        expect = getattr(io, "expect", None)  # a CallIO may tune its recogniser to the question (answer_ears)
        if expect is not None:
            expect(question)
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
                if value.name == CALLBACK:
                    self._callback_words = heard.said or heard.text
                return value.name
            if keep is not None:
                keep(value)
            else:
                self.result.answers[question.id] = {"value": value, "keys": heard.keys, "text": heard.text}
            return None
        return "hung_up_early"

