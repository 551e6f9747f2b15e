"""Spoken Chinese numbers to digits, for slots that need a number (temperature, ticket, phone).

Speech recognisers and residents write the same value many ways: 36.5, 36度5, 三十六度五,
三十六点五度, 三六点五. The conversion itself is ``cn2an`` (pure Python, in both environments: the
Rasa actions on CPython 3.10 and the speech pipeline on 3.11 use this module). Why cn2an and not our
own parser: positional numerals are where a hand-written parser goes wrong, and ours did on spoken
forms residents use every day: 一百二 (120) came out 102, 两千五 (2500) 2005, 三万五 (35000) 30005,
and 亿 was unknown; cn2an gets them right (tests/common/test_zh_numbers.py).

What stays here, because cn2an does not do it: the phone readings of digits (洞 0, 拐 7, 勾 9, and
○/俩), which spans of running text are numbers at all (cn2an's ``transform`` rewrites words: 一起 →
1起, 一下 → 1下), the shape and plausible range of a body temperature (36度5; 一百度 is not one), and
digit strings keeping their leading zeros (零二一 → 021; cn2an's own table, as its "direct" mode does).
"""

from __future__ import annotations

import re

import cn2an
from cn2an.conf import NUMBER_CN2AN, UNIT_CN2AN

# Readings cn2an does not know, as the character cn2an reads the same way.
SPOKEN_ALIASES = {"洞": "零", "○": "〇", "拐": "七", "勾": "九", "俩": "两"}
DIGITS: dict[str, int] = {**NUMBER_CN2AN, **{alias: NUMBER_CN2AN[same] for alias, same in SPOKEN_ALIASES.items()}}
UNITS: dict[str, int] = dict(UNIT_CN2AN)
_ALIASES = str.maketrans(SPOKEN_ALIASES)
_FULLWIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")
_DIGIT_CHARS = "".join(DIGITS)
_NUMERAL_CHARS = _DIGIT_CHARS + "".join(UNITS)
_NUMBER_RUN = re.compile(rf"[0-9{_NUMERAL_CHARS}]+(?:[点.][0-9{_DIGIT_CHARS}]+)?")


def _digit_string(text: str) -> str | None:
    """Digit by digit, leading zeros kept: 幺三八 → "138", 零五 → "05"; None if not all digits."""
    if not text or any(ch not in DIGITS and not ch.isdigit() for ch in text):
        return None
    return "".join(ch if ch.isdigit() else str(DIGITS[ch]) for ch in text)  # cn2an's digit table


def parse_integer(text: str) -> int | None:
    """三十六 → 36, 一百零五 → 105, 一百二 → 120, 三六 → 36 (digit by digit), 36 → 36; None if not a number."""
    text = text.translate(_FULLWIDTH).translate(_ALIASES)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if any(ch not in DIGITS and ch not in UNITS and not ch.isdigit() for ch in text):
        return None
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError):  # cn2an's answers to a malformed numeral (十十, 万千, 四四十三)
        return None
    return int(value) if float(value).is_integer() else None


def parse_decimal(text: str) -> float | None:
    """三十六点五 → 36.5, 36.5 → 36.5, 三十六 → 36.0, 三十六点零五 → 36.05."""
    whole, _, frac = text.translate(_FULLWIDTH).replace("点", ".").partition(".")
    integer = parse_integer(whole)
    if integer is None:
        return None
    if not frac:
        return float(integer)
    digits = _digit_string(frac)
    return float(f"{integer}.{digits}") if digits is not None else None


_TEMPERATURE = re.compile(
    rf"(?P<int>[0-9{_NUMERAL_CHARS}]+)"
    rf"(?:(?:[点.](?P<frac>[0-9{_DIGIT_CHARS}]+))?\s*(?:度|℃|°C?)?(?P<after>[0-9{_DIGIT_CHARS}])?)"
)
TEMPERATURE_RANGE = (34.0, 43.0)


def parse_temperature(text: str) -> float | None:
    """The body temperature mentioned in ``text``, in °C, or None.

    Accepts 36.5 / 36.5度 / 36度5 / 三十六度五 / 三十六点五 / 三六点五; only values inside the
    plausible human range count, so "我住3号楼" is not read as a temperature.
    """
    text = text.translate(_FULLWIDTH)
    for match in _TEMPERATURE.finditer(text):
        whole = parse_integer(match.group("int"))
        if whole is None:
            continue
        frac = _digit_string(match.group("frac") or match.group("after") or "") or ""
        value = float(f"{whole}.{frac}") if frac else float(whole)
        if TEMPERATURE_RANGE[0] <= value <= TEMPERATURE_RANGE[1]:
            return round(value, 1)
    return None


def spoken_digits_to_arabic(text: str) -> str:
    """Digit-by-digit readings (幺三八…) become Arabic digits, e.g. for phone and ticket numbers.

    Only runs of two or more numeral characters without unit words are converted, so words
    such as 一起 or 十分 are left alone.
    """
    return re.sub(rf"[{_DIGIT_CHARS}]{{2,}}", lambda match: _digit_string(match.group(0)) or match.group(0), text)


def normalise_numbers(text: str) -> str:
    """Spoken quantities with units (三十六点五, 一百二十) become Arabic numerals in running text."""

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        if not any(ch in UNITS or ch == "点" for ch in run) or run.isdigit():
            return run
        value = parse_decimal(run)
        if value is None:
            return run
        return str(int(value)) if value.is_integer() and "点" not in run else str(value)

    return _NUMBER_RUN.sub(convert, text)


def normalise_temperatures(text: str) -> str:
    """Spoken body temperatures become ``36.5度`` in running text (三十六度五, 三十六点五度, 36度5).

    Only spans that say 度/℃/° and fall inside the human range are rewritten, so 三十度 (weather)
    and plain numbers are left to ``normalise_numbers``.
    """

    def convert(match: re.Match[str]) -> str:
        span = match.group(0)
        if not any(mark in span for mark in ("度", "℃", "°")):
            return span
        value = parse_temperature(span)
        return f"{value:g}度" if value is not None else span

    return _TEMPERATURE.sub(convert, text.translate(_FULLWIDTH))
