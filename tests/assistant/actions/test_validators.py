import pytest

from assistant.actions.validators import (
    clean_phone,
    declines_phone,
    find_ticket_id,
    mask_phone,
    parse_rating,
    yes_or_no,
)


@pytest.mark.parametrize("text, number", [
    ("13812345678", "13812345678"), ("138 1234 5678", "13812345678"), ("138-1234-5678", "13812345678"),
    ("+86 13812345678", "13812345678"), ("我的电话是幺三八一二三四五六七八", "13812345678"),
    ("010-12345678", "01012345678"), ("0571 87654321", "057187654321"),
])
def test_phone_numbers_in_many_forms(text: str, number: str) -> None:
    assert clean_phone(text) == number


@pytest.mark.parametrize("text", ["12345", "1381234567", "23812345678", "幸福小区", ""])
def test_invalid_phone_numbers(text: str) -> None:
    assert clean_phone(text) is None


def test_declining_and_masking() -> None:
    assert declines_phone("不留了") and not declines_phone("13812345678")
    assert mask_phone("13812345678") == "138****5678"


def test_ticket_ids() -> None:
    assert find_ticket_id("帮我查一下gb20261123-0001") == "GB20261123-0001"
    assert find_ticket_id("临时编号 TMP-20261123-7F3A") == "TMP-20261123-7F3A"
    assert find_ticket_id("我的工单呢") is None


@pytest.mark.parametrize("text, score", [
    ("五分", 5), ("给5星", 5), ("好评", 5), ("差评", 1), ("不满意", 2), ("满意", 4), ("一般般吧", 3), ("3", 3),
    ("5 stars", 5), ("I'd give it 4 out of 5", 4), ("1 star", 1), ("Very satisfied", 5), ("not satisfied", 2),
    ("terrible", 1),
])
def test_ratings(text: str, score: int) -> None:
    assert parse_rating(text) == score


def test_unrated_text() -> None:
    assert parse_rating("谢谢") is None
    assert parse_rating("十分") is None


def test_yes_no() -> None:
    assert yes_or_no("随便", "affirm") is True
    assert yes_or_no("是的没错", None) is True
    assert yes_or_no("不对", None) is False
    assert yes_or_no("没有", None) is False
    assert yes_or_no("嗯嗯", None) is True
    assert yes_or_no("幸福小区", None) is None


def test_spoken_ticket_ids() -> None:
    assert find_ticket_id("G B 二零二六一一二三 杠 零零零一") == "GB20261123-0001"
    assert find_ticket_id("gb 2026 1123 0001") == "GB20261123-0001"


def test_location_pieces_are_joined_into_one_place() -> None:
    from assistant.actions.validators import merge_locations

    text = "幸福路与长安街交叉口的路灯一直闪"
    pieces = [{"entity": "location", "value": "幸福路", "start": 0, "end": 3},
              {"entity": "location", "value": "长安街交叉口", "start": 4, "end": 10}]
    assert merge_locations(text, pieces) == "幸福路与长安街交叉口"
    far = [{"entity": "location", "value": "南门", "start": 0, "end": 2},
           {"entity": "location", "value": "边上", "start": 9, "end": 11}]
    assert merge_locations("南门那边的路灯杆歪了边上", far) == "南门"
    assert merge_locations("没有地点", []) is None


def test_an_unsure_lone_piece_is_not_a_place() -> None:
    from assistant.actions.validators import merge_locations

    text = "路灯坏了好几天了，走路很危险"
    unsure = [{"entity": "location", "value": "走路", "start": 9, "end": 11, "confidence_entity": 0.59}]
    assert merge_locations(text, unsure, min_confidence=0.7) is None
    text = "幸福路与长安街交叉口的路灯一直闪"
    pieces = [{"entity": "location", "value": "幸福路", "start": 0, "end": 3, "confidence_entity": 1.0},
              {"entity": "location", "value": "长安街交叉口", "start": 4, "end": 10, "confidence_entity": 0.52}]
    assert merge_locations(text, pieces, min_confidence=0.7) == "幸福路与长安街交叉口"


@pytest.mark.parametrize("text, answer", [
    ("Yes", True), ("yes, submit it", True), ("OK", True), ("Sure!", True), ("go ahead", True),
    ("No", False), ("no thanks", False), ("Nope", False), ("Cancel it", False), ("I don't", False),
    ("I do not", False), ("Don’t", False),
    ("now then", None), ("yesterday", None), ("Building 3", None), ("幸福小区", None),
])
def test_english_yes_and_no_words(text: str, answer: bool | None) -> None:
    assert yes_or_no(text, None) is answer


def test_declining_the_phone_in_english() -> None:
    assert declines_phone("no phone") and declines_phone("I'd rather not") and declines_phone("Skip")
    assert not declines_phone("my number is 13812345678")


@pytest.mark.parametrize("text, digits", [
    ("查询工单 GB20261202-0003 尾号5678", "5678"), ("GB20261202-0003 手机后四位 5678", "5678"),
    ("工单GB20261202-0003，后4位是5678", "5678"), ("查一下 GB20261202-0003 尾号五六七八", "5678"),
    ("check ticket GB20261202-0003 last four digits 5678", "5678"), ("GB20261202-0003 ending in 5678", "5678"),
    ("查询工单 GB20261202-0003", ""), ("尾号567", ""), ("尾号56789", ""),
])
def test_last_four_digits_given_with_a_case_number(text: str, digits: str) -> None:
    from assistant.actions.validators import find_last_digits

    assert find_last_digits(text) == digits


def test_ticket_numbers_follow_the_backends_syntax() -> None:
    from common import settings

    with settings.overrides({"GOVBOT__DISPATCH__TICKET_PREFIX": "SZ"}):
        assert find_ticket_id("查询sz20261123-0001") == "SZ20261123-0001"
        assert find_ticket_id("查询GB20261123-0001") is None
    with settings.overrides({"GOVBOT__DISPATCH__CLIENT_REFERENCE_PATTERN": r"12345-(?P<y>\d{4})-(?P<n>\d{6})",
                             "GOVBOT__DISPATCH__CLIENT_REFERENCE_FORMAT": "12345-{y}-{n}"}):
        assert find_ticket_id("工单 12345 - 2026 - 000042 怎么样了") == "12345-2026-000042"
        assert find_ticket_id("临时编号 TMP-20261123-7F3A") == "TMP-20261123-7F3A"  # the outbox's own stay valid
