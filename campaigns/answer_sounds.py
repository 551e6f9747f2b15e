"""A campaign question's expected spoken answers, and the one a misheard transcript sounds like.

Why: the dialogue's word matching (:mod:`campaigns.dialler_script`) fails on what Whisper-base makes of a lone
word at 8 kHz ("是的" → "施灯", "满意" → "埋一"); elderly residents answering in one word were re-asked and the
attempt ended ``hung_up_early``. The expected answers are few and known — the yes/no phrases of ``[campaigns]``,
a choice's labels, and what the prompt itself says before "请按N" ("没有请按2" → 没有 is the key-2 answer) — so
the syllables of the transcript are compared with theirs (:mod:`speech.sounds`).

Safety first: the opt-out, call-back and non-answer phrases (你是谁, 不想说) compete as "not an answer", so a
misheard "不要再打了" never wins as an answer; a transcript with a negation (``sound_yes_blockers``: 不, 没 …) is
never a "yes" by sound; anything not clearly closest is None, and the dialogue asks again. Exact word matching
runs first.
"""

from __future__ import annotations

import re

from campaigns.dialler_config import DiallerConfig
from campaigns.model import NO, YES, Question
from speech import sounds

_PRESS = re.compile(r"([^，。；？！,.;?!、]+?)请?按\s*([0-9])")
_LEAD = ("如果", "请问")  # said before the answer in a key hint ("如果满意请按1"), not part of it


def key_phrases(question: Question) -> list[tuple[str, str]]:
    """(what the prompt says, the value) for each "X请按N" of the question's text whose key N is in its map."""
    found = []
    for phrase, key in _PRESS.findall(question.text):
        phrase = phrase.strip()
        for lead in _LEAD:
            phrase = phrase.removeprefix(lead)
        if phrase and key in question.keys:
            found.append((phrase, question.keys[key]))
    return found


def choice_words(question: Question, conf: DiallerConfig) -> list[tuple[str, str]]:
    """(phrase, value) of a choice: its labels and the ``choice_phrases`` of its values (一般 → basic)."""
    words = [(label, value) for value, label in question.choices.items() if label]
    return words + [(p, value) for value in question.choices for p in conf.choice_phrases.get(value, ())]


def expected(question: Question, conf: DiallerConfig) -> list[tuple[str, str | None]]:
    """The phrases a spoken answer to ``question`` is compared with; value None: never an answer."""
    phrases: list[tuple[str, str | None]] = list(key_phrases(question))
    if question.type == "yes_no":
        phrases += [(p, YES) for p in conf.yes_phrases] + [(p, NO) for p in conf.no_phrases]
    elif question.type == "choice":
        phrases += choice_words(question, conf)
    phrases += [(p, None) for p in (*conf.dnc_phrases, *conf.callback_phrases, *conf.non_answer_phrases)]
    return phrases


def answers(question: Question, conf: DiallerConfig) -> list[str]:
    """The phrases that are answers (the recogniser's hotwords for this question), in order, once each."""
    return list(dict.fromkeys(p for p, value in expected(question, conf) if value is not None))


def by_sound(question: Question, text: str, conf: DiallerConfig) -> str | None:
    """The value ``text`` sounds like for a yes/no or choice question, or None (ask again)."""
    if not conf.sound_match or question.type not in ("yes_no", "choice"):
        return None
    if any(phrase in text for phrase in conf.non_answer_phrases):
        return None
    value = sounds.closest(text, expected(question, conf), conf.sound_max_distance, conf.sound_margin,
                           sounds.SoundCosts(conf.sound_near_cost))
    if value == YES and question.type == "yes_no" and any(word in text for word in conf.sound_yes_blockers):
        return None
    return value


def sounds_near(question: Question, text: str, value: str, conf: DiallerConfig) -> bool:
    """Whether ``text`` (heard without the answers as hotwords) is within ``answer_hotwords_corroborate`` of one
    of ``value``'s phrases: hotwords may pick among answers the unbiased transcript already resembles, not make
    an answer out of "喂" (which the hotwords turned into "对")."""
    heard = tuple(s for s in sounds.syllables(text) if s.isalnum())
    costs = sounds.SoundCosts(conf.sound_near_cost)
    return any(sounds.distance(heard, tuple(s for s in sounds.syllables(p) if s.isalnum()), costs)
               <= conf.answer_hotwords_corroborate for p, v in expected(question, conf) if v == value)
