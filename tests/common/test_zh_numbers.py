import pytest

from common.zh_numbers import normalise_numbers, parse_integer, parse_temperature, spoken_digits_to_arabic


@pytest.mark.parametrize("text, value", [
    ("36.5", 36.5), ("36度5", 36.5), ("三十六度五", 36.5), ("三十六点五度", 36.5), ("三六点五", 36.5),
    ("体温三十八度", 38.0), ("三十七度二", 37.2), ("37℃", 37.0), ("３６．８", 36.8), ("今天量了36.9度", 36.9),
])
def test_temperatures_in_every_spoken_form(text: str, value: float) -> None:
    assert parse_temperature(text) == value


@pytest.mark.parametrize("text", ["我住3号楼", "一百度", "", "没有发烧"])
def test_non_temperatures_are_rejected(text: str) -> None:
    assert parse_temperature(text) is None


def test_integers() -> None:
    assert parse_integer("一百零五") == 105
    assert parse_integer("两万三千") == 23000
    assert parse_integer("十二") == 12
    assert parse_integer("幺三八") == 138
    assert parse_integer("abc") is None


@pytest.mark.parametrize("text, value", [
    ("一百二", 120), ("两千五", 2500), ("三万五", 35000), ("一亿", 100_000_000), ("一亿零一", 100_000_001),
    ("3万5", 35000), ("洞幺拐", 17),
])
def test_spoken_shortcuts_and_large_numbers(text: str, value: int) -> None:
    """What residents say every day (一百二 = 120, not 102): the hand-written parser got these wrong."""
    assert parse_integer(text) == value


@pytest.mark.parametrize("text", ["十十", "万千", "四四十三", "点五", "三点五"])
def test_malformed_numerals_are_not_numbers(text: str) -> None:
    assert parse_integer(text) is None


def test_spoken_digits_and_running_text() -> None:
    assert spoken_digits_to_arabic("幺三八一二三四五六七八") == "13812345678"
    assert spoken_digits_to_arabic("一起去") == "一起去"
    assert spoken_digits_to_arabic("区号零二一，分机洞幺拐") == "区号021，分机017"  # leading zeros stay
    assert normalise_numbers("体温三十六点五度，住在十二号楼") == "体温36.5度，住在12号楼"
