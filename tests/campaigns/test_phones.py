"""Numbers in the forms people type, and the ones a robocall must not dial."""

from __future__ import annotations

import pytest

from campaigns.phones import PhoneError, dial_string, display, normalise


@pytest.mark.parametrize(("typed", "stored"), [
    ("13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
    ("0086 13800138000", "+8613800138000"),
    ("010-12345678", "+861012345678"),
    ("(0571)88888888", "+8657188888888"),
])
def test_typed_forms_are_one_number(typed: str, stored: str) -> None:
    assert normalise(typed, "CN") == stored


@pytest.mark.parametrize(("typed", "reason"), [
    ("", "号码为空"), ("1380013800", "手机号应为 11 位"), ("12345678", "区号"), ("+1 212 555 0100", "不是本地区"),
    ("13800138000/13900139000", "只能填写一个号码"), ("4008123123", "服务号码"), ("电话", "无法识别"),
])
def test_numbers_we_may_not_dial(typed: str, reason: str) -> None:
    with pytest.raises(PhoneError, match=reason):
        normalise(typed, "CN")


def test_dial_and_display_forms() -> None:
    assert dial_string("+861012345678") == "01012345678" and dial_string("+8613800138000") == "13800138000"
    assert display("+8613800138000") == "138 0013 8000"
