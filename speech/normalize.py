"""Transcripts made ready for the assistant: Simplified characters, no word spaces, Arabic numbers.

Why: the NLU model was trained on Simplified text with Arabic numbers as residents type them, while
Whisper sometimes answers in Traditional characters, Vosk's Mandarin model separates words with
spaces, and both spell numbers out (三十六度五, 幺三八…). The number rules live in
``common.zh_numbers`` so the Rasa actions parse slots the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

from common import zh_numbers

# Digit-by-digit runs shorter than this stay words (七八个人 = "seven or eight people"); phone,
# ID-card and ticket numbers are always longer.
MIN_DIGIT_RUN = 4
# Words made of numeral characters that are not quantities.
NUMERAL_WORDS = ("万一", "一一", "十一月", "一下", "一点点")
_HAN = r"\u3400-\u9fff"
_HAN_SPACE = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")
_ASCII_PUNCT = re.compile(rf"(?<=[{_HAN}])([,?!;:])")
_FULLWIDTH_PUNCT = str.maketrans(",?!;:", "，？！；：")
_DIGIT_CHARS = "".join(zh_numbers.DIGITS)
_DIGIT_RUN = re.compile(rf"[{_DIGIT_CHARS}]{{{MIN_DIGIT_RUN},}}")
_QUANTITY = re.compile(rf"[{_DIGIT_CHARS}{''.join(zh_numbers.UNITS)}]{{2,}}(?:点[{_DIGIT_CHARS}]+)?")


@lru_cache(maxsize=1)
def _converter():  # opencc_purepy.OpenCC, built once (it loads its dictionaries)
    from opencc_purepy import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → Simplified (請問這裡 → 请问这里); Simplified text passes unchanged."""
    return _converter().convert(text) if text else text


def join_han(text: str) -> str:
    """Drop the spaces a recogniser puts between Chinese words (Latin words keep theirs), and use
    Chinese punctuation after Chinese text (Whisper writes ASCII commas)."""
    text = _HAN_SPACE.sub("", text)
    return _ASCII_PUNCT.sub(lambda m: m.group(1).translate(_FULLWIDTH_PUNCT), text)


def numbers_to_digits(text: str) -> str:
    """三十六度五 → 36.5度, 幺三八一二三四五六七八 → 13812345678, 一百二十 → 120; idioms left alone."""
    text = zh_numbers.normalise_temperatures(text)
    text = _DIGIT_RUN.sub(lambda m: "".join(str(zh_numbers.DIGITS[ch]) for ch in m.group(0)), text)

    def quantity(match: re.Match[str]) -> str:
        run = match.group(0)
        if not any(ch in zh_numbers.DIGITS for ch in run) or any(word in run for word in NUMERAL_WORDS):
            return run
        if "点" not in run and not any(ch in zh_numbers.UNITS for ch in run):
            return run  # short digit-by-digit run: a word such as 七八 (seven or eight), not a number
        value = zh_numbers.parse_decimal(run)
        if value is None:
            return run
        return f"{value:g}" if "点" in run else str(int(value))

    return _QUANTITY.sub(quantity, text)


def as_said(text: str) -> str:
    """The transcript as the resident said it, in Simplified characters (numbers still in words: a resident's
    own words read back to them, 三点半 not 3.5)."""
    return join_han(to_simplified(text.strip()))


def normalize(text: str) -> str:
    """The transcript as the assistant should see it."""
    return numbers_to_digits(as_said(text))
