"""Spoken Chinese numbers to digits, for slots that need a number (temperature, ticket, phone).

Speech recognisers and residents write the same value many ways: 36.5, 36度5, 三十六度五,
三十六点五度, 三六点五. Standard-library only, because the Rasa actions (CPython 3.10) and the
speech pipeline (3.11) both use it.
"""

from __future__ import annotations

import re

DIGITS = {"零": 0, "〇": 0, "○": 0, "洞": 0, "一": 1, "幺": 1, "壹": 1, "二": 2, "两": 2, "俩": 2, "贰": 2,
          "三": 3, "叁": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7,
          "拐": 7, "八": 8, "捌": 8, "九": 9, "勾": 9, "玖": 9}
UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10_000}
_FULLWIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")
_NUMERAL_CHARS = "".join(DIGITS) + "".join(UNITS)
_NUMBER_RUN = re.compile(rf"[0-9{_NUMERAL_CHARS}]+(?:[点.][0-9{''.join(DIGITS)}]+)?")


def parse_integer(text: str) -> int | None:
    """三十六 → 36, 一百零五 → 105, 三六 → 36 (digit by digit), 36 → 36; None if not a number."""
    text = text.translate(_FULLWIDTH)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if any(ch not in DIGITS and ch not in UNITS and not ch.isdigit() for ch in text):
        return None
    if not any(ch in UNITS for ch in text):  # read digit by digit: 三六 → 36, 幺三八 → 138
        return int("".join(str(DIGITS[ch]) if ch in DIGITS else ch for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in DIGITS or ch.isdigit():
            digit = DIGITS[ch] if ch in DIGITS else int(ch)
        elif ch == "万":
            section = (section + (digit or 0)) * 10_000
            total, section, digit = total + section, 0, None
        else:
            section += (1 if digit is None else digit) * UNITS[ch]
            digit = None
    return total + section + (digit or 0)


def parse_decimal(text: str) -> float | None:
    """三十六点五 → 36.5, 36.5 → 36.5, 三十六 → 36.0."""
    text = text.translate(_FULLWIDTH).replace("点", ".")
    whole, _, frac = text.partition(".")
    integer = parse_integer(whole)
    if integer is None:
        return None
    if not frac:
        return float(integer)
    frac_digits = "".join(str(DIGITS[ch]) if ch in DIGITS else ch for ch in frac)
    return float(f"{integer}.{frac_digits}") if frac_digits.isdigit() else None


_TEMPERATURE = re.compile(
    rf"(?P<int>[0-9{_NUMERAL_CHARS}]+)"
    rf"(?:(?:[点.](?P<frac>[0-9{''.join(DIGITS)}]+))?\s*(?:度|℃|°C?)?(?P<after>[0-9{''.join(DIGITS)}])?)"
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
        frac = match.group("frac") or match.group("after") or ""
        frac_digits = "".join(str(DIGITS[ch]) if ch in DIGITS else ch for ch in frac)
        value = float(f"{whole}.{frac_digits}") if frac_digits else float(whole)
        if TEMPERATURE_RANGE[0] <= value <= TEMPERATURE_RANGE[1]:
            return round(value, 1)
    return None


def spoken_digits_to_arabic(text: str) -> str:
    """Digit-by-digit readings (幺三八…) become Arabic digits, e.g. for phone and ticket numbers.

    Only runs of two or more numeral characters without unit words are converted, so words
    such as 一起 or 十分 are left alone.
    """

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        return "".join(str(DIGITS[ch]) for ch in run)

    return re.sub(rf"[{''.join(DIGITS)}]{{2,}}", convert, text)


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
