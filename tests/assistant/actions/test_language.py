"""The reply language: detected from each message, kept on messages without words, overridden by metadata."""

import pytest
from conftest import make_tracker

from assistant.actions.language import (
    ActionDetectLanguage,
    choose_language,
    language_of_text,
    reply_language,
    requested_language,
)


@pytest.mark.parametrize("text", [
    "你好呀", "路灯坏了好几天了", "WiFi坏了", "我的工单GB20261123-0001呢", "hello 你好", "5号楼着火了",
])
def test_any_chinese_character_means_mandarin(text: str) -> None:
    assert language_of_text(text) == "zh"


@pytest.mark.parametrize("text", [
    "Hello", "Hello, can you help me?", "The street light outside my building is broken",
    "check ticket GB20261123-0001", "my temperature is 37.2", "I want to talk to a real person", "nope",
])
def test_mainly_latin_letters_mean_english(text: str) -> None:
    assert language_of_text(text) == "en"


@pytest.mark.parametrize("text", [
    "", "   ", "13812345678", "138 1234 5678", "36.5", "GB20261123-0001", "TMP-20261123-7F3A", "？！", "...",
    "/affirm", "/deny", "5分", "3 分", "ok", "OK!", "yes", "No.", "no no", "y", "👍", "Привет",
])
def test_messages_without_words_keep_the_language(text: str) -> None:
    assert language_of_text(text) is None


@pytest.mark.parametrize("metadata, language", [
    ({"lang": "en"}, "en"), ({"lang": "en-US"}, "en"), ({"lang": "zh_CN"}, "zh"), ({"lang": " ZH-Hans "}, "zh"),
    ({"lang": "fr"}, None), ({"lang": 7}, None), ({}, None), (None, None),
])
def test_a_client_may_name_the_language(metadata, language) -> None:
    assert requested_language(metadata) == language


def test_choice_order_metadata_then_text_then_previous() -> None:
    assert choose_language("你好", {"lang": "en"}, "zh") == "en"
    assert choose_language("Hello", {"lang": "zh-CN"}, "en") == "zh"
    assert choose_language("Hello", {}, "zh") == "en"
    assert choose_language("你好", None, "en") == "zh"
    assert choose_language("13812345678", None, "en") == "en"
    assert choose_language("/affirm", None, "zh") == "zh"
    assert choose_language("13812345678", None, None) == "zh"  # Mandarin is the default


async def test_the_action_sets_the_slot_only_when_the_language_changes(dispatcher) -> None:
    action = ActionDetectLanguage()
    assert action.name() == "action_detect_language"
    english = make_tracker("Hello, can you help me?", "greet", slots={"language": "zh"})
    assert await action.run(dispatcher, english, {}) == [
        {"event": "slot", "timestamp": None, "name": "language", "value": "en"}]
    digits = make_tracker("13812345678", "inform", slots={"language": "en"})
    assert await action.run(dispatcher, digits, {}) == []
    chinese = make_tracker("不对，取消", "deny", slots={"language": "en"})
    assert await action.run(dispatcher, chinese, {}) == [
        {"event": "slot", "timestamp": None, "name": "language", "value": "zh"}]
    told = make_tracker("你好", "greet", slots={"language": "zh"}, metadata={"lang": "en"})
    assert await action.run(dispatcher, told, {}) == [
        {"event": "slot", "timestamp": None, "name": "language", "value": "en"}]
    assert dispatcher.messages == []  # it never speaks


def test_reply_language_defaults_to_mandarin() -> None:
    assert reply_language(make_tracker("x", "greet", slots={"language": "en"})) == "en"
    assert reply_language(make_tracker("x", "greet")) == "zh"
    assert reply_language(make_tracker("x", "greet", slots={"language": "fr"})) == "zh"
