"""Residents' numbers in the forms people type, normalised to one stored form (E.164, ``+8613800138000``).

Why ``phonenumbers`` (Google's libphonenumber): it knows every Chinese area code and mobile range, the
``+86`` / ``0086`` / ``86`` prefixes, full-width digits and punctuation, so ``0571 8888 8888``,
``(0571)88888888`` and ``+86 571 8888 8888`` are one number, and a digit too few is an error rather than a
wrong call. Only numbers a robocall may dial are accepted: mobiles and landlines of the configured region
(not 400 / 800 service numbers, not short codes, not other countries).
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

CALLABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE,
                            PhoneNumberType.FIXED_LINE_OR_MOBILE})
DIGIT_RUN = re.compile(r"\d{7,}")  # a run this long is a number of its own (two in one cell: refused)
LOCAL_NUMBER_DIGITS = 8  # a landline without its area code has at most this many digits
SEPARATORS = re.compile(r"[\s\-–—.()（）]")


class PhoneError(ValueError):
    """Not a number we may dial; the message says why, in words an operator can act on."""


def normalise(raw: object, region: str) -> str:
    """The stored form of ``raw`` (E.164), or PhoneError."""
    text = str(raw or "").strip()
    if not text:
        raise PhoneError("号码为空")
    if len(DIGIT_RUN.findall(SEPARATORS.sub(" ", text))) > 1 or any(sep in text for sep in ",，;；/、"):
        raise PhoneError(f"一个单元格只能填写一个号码：{text}")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise PhoneError(f"无法识别的号码：{text}") from None
    if phonenumbers.region_code_for_number(number) != region:
        raise PhoneError(f"不是本地区（{region}）的号码：{text}")
    if not phonenumbers.is_valid_number(number):
        digits = phonenumbers.national_significant_number(number)
        mobile_like = digits.startswith("1") and len(digits) > LOCAL_NUMBER_DIGITS
        hint = "手机号应为 11 位" if mobile_like else "固定电话请加区号，如 010-12345678"
        raise PhoneError(f"号码无效：{text}（{hint}）")
    if phonenumbers.number_type(number) not in CALLABLE_TYPES:
        raise PhoneError(f"不是手机或固定电话号码（服务号码、短号不能外呼）：{text}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def dial_string(stored: str) -> str:
    """What the trunk dials: the national form without spaces (``13800138000``, ``01012345678``)."""
    number = phonenumbers.parse(stored, None)
    return re.sub(r"\D", "", phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))


def display(stored: str) -> str:
    """For people: ``138 0013 8000``, ``010 1234 5678``."""
    return phonenumbers.format_number(phonenumbers.parse(stored, None), PhoneNumberFormat.NATIONAL)
