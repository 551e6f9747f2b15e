"""Text normalisation shared by the keyword leg, the query checks and the unanswered log."""

from __future__ import annotations

import unicodedata

from pypinyin import Style, lazy_pinyin


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, only letters and digits kept: what a question *says*.

    Punctuation, spaces and emoji carry no meaning for matching and would only add noise n-grams.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def has_words(text: str) -> bool:
    """False for input made only of emoji, punctuation or spaces (nothing to search for)."""
    return bool(normalize(text))


def syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin, one per character of normalised ``text`` (a non-Chinese character is itself).

    Tones are dropped because residents' slips (医宝卡, 公鸡金) keep the syllable, not always the tone.
    """
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: list(chars)))
