"""What a Mandarin transcript *sounds* like, and which of a few expected phrases it is closest to.

Why by sound: over an 8 kHz phone line Whisper-base hears a lone "是的" as "施灯", "没有" as "美容", "满意" as
"埋一" — wrong characters, nearly the right syllables. When a question expects a handful of answers, the
syllables say which one was meant, where the characters do not. Tones are dropped (residents' slips and the
recogniser's keep the syllable, not always the tone), and initials or finals that are easily confused on the
phone or in regional speech (sh/s, n/l, an/ang, en/eng, in/ing …) cost less than other substitutions.

The match is deliberately cautious: :func:`closest` names a value only when its best phrase is within a bound
*and* clearly closer than every phrase of any other value (which includes the phrases that must never be taken
for an answer: opt-outs, refusals). Anything else is ``None`` and the caller asks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

# Longest first, so "zh" is split off before "z".
INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z",
            "c", "s", "y", "w")
# Pairs heard alike: flat/retroflex and n/l (southern Mandarin), front/back nasals, and the finals Whisper
# confused on the bench clips (e/en: 很→和; ai/an: 满→埋; i/ing/in).
NEAR_INITIALS = frozenset(frozenset(p) for p in (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"),
                                                  ("r", "l"), ("sh", "x"), ("ch", "q"), ("zh", "j")))
NEAR_FINALS = frozenset(frozenset(p) for p in (("an", "ang"), ("en", "eng"), ("in", "ing"), ("ian", "iang"),
                                                ("uan", "uang"), ("e", "en"), ("e", "eng"), ("an", "ai"),
                                                ("i", "in"), ("i", "ing"), ("ou", "ong"), ("o", "e"),
                                                ("uo", "o"), ("ei", "ui"), ("u", "ong")))


def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, one per character of ``text`` (a non-Chinese character is itself).

    Tones are dropped because residents' slips (医宝卡, 公鸡金) keep the syllable, not always the tone.
    """
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: list(chars)))


@lru_cache(maxsize=4096)
def split(syllable: str) -> tuple[str, str]:
    """Initial and final of a toneless syllable ("shi" → ("sh", "i"); "an" → ("", "an"))."""
    for initial in INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


@dataclass(frozen=True)
class SoundCosts:
    """What a substitution costs (an insertion or deletion costs 1): equal parts 0, near parts ``near``."""

    near: float = 0.3

    def part(self, a: str, b: str, near_pairs: frozenset[frozenset[str]]) -> float:
        if a == b:
            return 0.0
        return self.near if frozenset((a, b)) in near_pairs else 1.0

    def substitute(self, a: str, b: str) -> float:
        """Half for the initial, half for the final: 施/是 (sh-i) 0, 灯/的 (d-eng, d-e) half of ``near``."""
        if a == b:
            return 0.0
        (ia, fa), (ib, fb) = split(a), split(b)
        return (self.part(ia, ib, NEAR_INITIALS) + self.part(fa, fb, NEAR_FINALS)) / 2


def distance(heard: tuple[str, ...], expected: tuple[str, ...], costs: SoundCosts) -> float:
    """Syllable edit distance divided by the longer length (0 same sound … 1 nothing alike).

    Divided by the longer one so that a long sentence never comes close to a one-word answer."""
    if not heard or not expected:
        return 1.0
    row = [float(j) for j in range(len(expected) + 1)]
    for i, h in enumerate(heard, 1):
        prev, row[0] = row[0], float(i)
        for j, e in enumerate(expected, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + costs.substitute(h, e))
    return row[-1] / max(len(heard), len(expected))


@dataclass(frozen=True)
class Match:
    value: str | None  # None: the closest phrase belongs to no answer (an opt-out, a refusal) or nothing is close
    phrase: str
    distance: float
    runner_up: float  # the closest phrase of any other value (1.0: none)


def rank(heard: str, phrases: Iterable[tuple[str, str | None]], costs: SoundCosts) -> Match | None:
    """The closest of ``phrases`` (phrase, value) to ``heard`` and the closest of another value; None: no phrase."""
    sound = tuple(s for s in syllables(heard) if s.isalnum())
    best: dict[str | None, tuple[float, str]] = {}
    for phrase, value in phrases:
        d = distance(sound, tuple(s for s in syllables(phrase) if s.isalnum()), costs)
        if value not in best or d < best[value][0]:
            best[value] = (d, phrase)
    if not best:
        return None
    ordered = sorted(best.items(), key=lambda item: item[1][0])
    (value, (d, phrase)), others = ordered[0], ordered[1:]
    return Match(value, phrase, d, others[0][1][0] if others else 1.0)


def closest(heard: str, phrases: Iterable[tuple[str, str | None]], max_distance: float, margin: float,
            costs: SoundCosts) -> str | None:
    """The value whose phrase ``heard`` sounds like, if within ``max_distance`` and ``margin`` nearer than any
    other value's phrase; else None (ask again). A phrase with value None competes but is never the answer."""
    match = rank(heard, phrases, costs)
    if match is None or match.value is None:
        return None
    if match.distance > max_distance or match.runner_up - match.distance < margin:
        return None
    return match.value
