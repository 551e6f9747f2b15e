"""Transcript normalisation: Traditional → Simplified, recogniser spacing, spoken numbers."""

from __future__ import annotations

import pytest

from speech.normalize import normalize


@pytest.mark.parametrize(("spoken", "expected"), [
    ("請問這裡怎麼辦理居住證", "请问这里怎么办理居住证"),
    ("我 的 体温 是 三十六 度 五", "我的体温是36.5度"),
    ("体温三十六点五度", "体温36.5度"),
    ("36度5", "36.5度"),
    ("我的电话是幺三八一二三四五六七八", "我的电话是13812345678"),
    ("罚款一百二十元", "罚款120元"),
    ("三十六点五", "36.5"),
    ("二零二四年", "2024年"),
    ("十分感谢", "十分感谢"),
    ("万一下雨怎么办", "万一下雨怎么办"),
    ("七八个人", "七八个人"),
    ("今天三十度", "今天30度"),
    ("路灯坏了,已经好几天了", "路灯坏了，已经好几天了"),
    ("my phone, 你 好", "my phone, 你好"),
    ("", ""),
])
def test_normalize(spoken: str, expected: str) -> None:
    assert normalize(spoken) == expected
