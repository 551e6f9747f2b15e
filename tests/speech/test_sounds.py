"""Matching a transcript by sound: syllables, the near-sound edit distance and the cautious choice."""

from __future__ import annotations

import pytest

from speech.sounds import SoundCosts, closest, distance, rank, split, syllables

COSTS = SoundCosts(near=0.3)
YES_NO = [("是的", "yes"), ("是", "yes"), ("不是", "no"), ("没有", "no"), ("不要再打", None)]


def test_syllables_are_toneless_and_keep_other_characters() -> None:
    assert syllables("施灯a1") == ("shi", "deng", "a", "1")
    assert syllables("满意") == ("man", "yi") and syllables("埋一") == ("mai", "yi")


@pytest.mark.parametrize(("syllable", "parts"), [("shi", ("sh", "i")), ("zhang", ("zh", "ang")), ("an", ("", "an")),
                                                 ("er", ("", "er")), ("yi", ("y", "i"))])
def test_split_into_initial_and_final(syllable: str, parts: tuple[str, str]) -> None:
    assert split(syllable) == parts


def test_near_sounds_cost_less_than_other_ones() -> None:
    same, near, far = (distance(syllables(a), syllables("是的"), COSTS) for a in ("是的", "施灯", "不对"))
    assert same == 0.0 < near < 0.2 < far
    assert distance((), syllables("是"), COSTS) == 1.0


def test_a_long_sentence_is_never_close_to_a_one_word_answer() -> None:
    assert distance(syllables("我想问一下社保卡怎么办"), syllables("是"), COSTS) > 0.9


def test_closest_names_the_value_only_when_clearly_nearest() -> None:
    assert closest("施灯", YES_NO, 0.4, 0.15, COSTS) == "yes"
    assert closest("美业", YES_NO, 0.4, 0.15, COSTS) == "no"
    assert closest("不适的", YES_NO, 0.4, 0.15, COSTS) is None  # as near 不是 as 是的: ambiguous
    assert closest("位置", YES_NO, 0.4, 0.15, COSTS) is None    # nothing near enough


def test_a_phrase_without_a_value_competes_but_never_wins() -> None:
    assert rank("不要在打", YES_NO, COSTS).value is None
    assert closest("不要在打", YES_NO, 1.0, 0.0, COSTS) is None
    assert rank("", [], COSTS) is None
