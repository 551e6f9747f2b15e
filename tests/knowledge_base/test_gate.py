"""The answer gate: its file is checked, its fit keeps each signal's sign, and a doubt only ever asks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bench import kb_gate
from common import settings
from knowledge_base import calibration, outcome
from knowledge_base.calibration import ANSWER, Features, Thresholds
from knowledge_base.config import KbConfig
from knowledge_base.gate import FEATURES, VECTOR_PARTS, Gate, GateFileError
from knowledge_base.search import SearchService
from tests.knowledge_base.test_outcome import CANDS, OK, STRONG

T = Thresholds(0.79, 0.01, 0.044, 0.71, 0.04, answer_min_confidence=0.5)
N = len(FEATURES)
DIM = 4                                   # a toy embedder: the gate reads N lexical + 2 * DIM vector values
SIZE = N + len(VECTOR_PARTS) * DIM


def gate_dict(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"features": list(FEATURES), "vector_parts": list(VECTOR_PARTS), "embedder": "toy",
                               "dim": DIM, "mean": [0.0] * SIZE, "scale": [1.0] * SIZE, "coef": [0.0] * SIZE,
                               "intercept": 0.0}
    data.update(changes)
    return data


@pytest.mark.parametrize("changes", [{"features": ["fused"]}, {"vector_parts": ["product"]},
                                     {"coef": [0.0] * (SIZE - 1)}, {"scale": [0.0] * SIZE}, {"dim": 0},
                                     {"dim": "four"}, {"intercept": "high"}, {"mean": None}, {"embedder": None}])
def test_a_gate_file_for_other_features_or_malformed_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(GateFileError):
        Gate.from_dict(gate_dict(**changes))


def test_a_missing_gate_file_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(GateFileError, match="无法读取"):
        Gate.load(tmp_path / "absent.json")


def test_the_shipped_gate_loads_and_keeps_the_sign_of_every_lexical_signal(seeded: SearchService) -> None:
    config = KbConfig.load()
    gate = Gate.load(settings.resolve_path(config.answer_gate_file))
    assert gate.fitted_on["questions"] > 1000 and gate.fitted_on["wrong"] > 0
    gate.check_embedder(seeded.embedder.name, seeded.embedder.dim)   # fitted on the embedder the service runs
    for name, coef in zip(FEATURES, gate.coef[:N], strict=True):
        assert coef * kb_gate.SIGNS[name] >= 0, name
    assert max(gate.coef[N + gate.dim:]) <= 0          # farther apart along a dimension: never likelier
    # More of the question the entry never mentions can only lower the probability.
    x = np.array(gate.mean)
    more = x.copy()
    more[FEATURES.index("uncovered_chars")] += 3
    assert gate.probability(more) < gate.probability(x)


def test_an_entrys_own_question_asked_verbatim_is_answered(seeded: SearchService) -> None:
    """The point no near miss sits near (distance 0): the gate must not doubt an entry's own words."""
    entries = seeded.index.entries
    assert len(entries) > 100
    judged = 0
    for entry in entries:
        result = seeded.search(entry.question, log_unanswered=False)
        if (calibration.decide(result.features, seeded.thresholds) == ANSWER
                and result.explain["candidates"][0]["id"] == entry.id):
            judged += 1
            assert result.outcome == ANSWER, (entry.id, result.explain)
    assert judged > 0.9 * len(entries)   # the check above ran for nearly every entry


def test_a_gate_fitted_on_another_embedder_is_refused() -> None:
    gate = Gate.from_dict(gate_dict())
    gate.check_embedder("toy", DIM)
    with pytest.raises(GateFileError, match="重新拟合"):
        gate.check_embedder("toy", DIM * 2)
    with pytest.raises(GateFileError, match="other"):
        gate.check_embedder("other", DIM)


def test_a_doubt_turns_an_answer_into_a_question_and_says_so() -> None:
    answered = outcome.decide(STRONG, CANDS, [OK, OK, OK], T, 3, 3, confidence=0.9)
    assert answered.outcome == ANSWER and answered.confidence == 0.9
    doubted = outcome.decide(STRONG, CANDS, [OK, OK, OK], T, 3, 3, confidence=0.3)
    assert doubted.outcome == "clarify" and "把握不足" in doubted.reason and "30%" in doubted.reason
    assert [c.entry.id for c in doubted.shown] == ["a", "b", "c"]
    assert doubted.explain(CANDS)["confidence"] == 0.3
    # No gate (disabled, or no verifier): the thresholds and the verifier decide alone.
    assert outcome.decide(STRONG, CANDS, [OK, OK, OK], T, 3, 3, confidence=None).outcome == ANSWER


def test_the_gate_never_rescues_what_the_thresholds_would_not_answer() -> None:
    weak = Features(0.75, 0.05, 0.10)
    assert outcome.decide(weak, CANDS, [OK, OK, OK], T, 3, 3, confidence=0.99).outcome == "clarify"


def test_the_fit_keeps_signs_even_where_the_data_says_otherwise() -> None:
    """Right answers with *lower* keyword scores must not teach the gate to doubt keyword overlap."""
    rows = []
    rng = np.random.default_rng(7)
    for i in range(40):
        right = i % 2 == 0
        x = np.full(SIZE, 0.9)
        x[FEATURES.index("uncovered_chars")] = 0.0 if right else 3.0
        x[FEATURES.index("keyword")] = 0.2 if right else 0.8   # the writers' artefact: near misses reuse words
        x[N:] = rng.normal(0.0, 0.1, SIZE - N)                   # vector values that say nothing
        rows.append(kb_gate.Row("toy", not right, right, ANSWER, ANSWER, x))
    gate = kb_gate.fit(rows, "toy", DIM)
    assert (gate.embedder, gate.dim, len(gate.coef)) == ("toy", DIM, SIZE)
    assert gate.coef[FEATURES.index("keyword")] >= 0
    assert gate.coef[FEATURES.index("uncovered_chars")] < 0
    assert gate.probability(rows[0].x) > 0.5 > gate.probability(rows[1].x)
    with pytest.raises(ValueError, match="dimensions"):
        kb_gate.fit(rows, "toy", DIM + 1)


def test_the_fit_never_lets_distance_raise_the_probability() -> None:
    """Rows where the *right* answers lie farther apart on a dimension (a writers' artefact) get no weight for it."""
    rows = []
    for i in range(40):
        right = i % 2 == 0
        x = np.full(SIZE, 0.5)
        x[N + DIM] = 0.6 if right else 0.05
        rows.append(kb_gate.Row("toy", not right, right, ANSWER, ANSWER, x))
    gate = kb_gate.fit(rows, "toy", DIM)
    assert gate.coef[N + DIM] == 0.0 and max(gate.coef[N + DIM:]) <= 0


def test_the_vector_part_learns_which_way_two_sentences_differ() -> None:
    """Lexically identical pairs, told apart only by the direction of their difference in the embedding."""
    rows = []
    for i in range(60):
        right = i % 2 == 0
        x = np.full(SIZE, 0.5)
        x[N + DIM + 1] = 0.05 if right else 0.6                 # |u - v| on one dimension: where a swap shows
        rows.append(kb_gate.Row("toy", not right, right, ANSWER, ANSWER, x))
    gate = kb_gate.fit(rows, "toy", DIM)
    assert gate.probability(rows[0].x) > 0.5 > gate.probability(rows[1].x)


def test_search_explains_the_gates_confidence_and_a_disabled_gate_is_absent(seeded: SearchService) -> None:
    result = seeded.search("社保卡丢了怎么补办", log_unanswered=False)
    assert result.outcome == ANSWER and 0.5 <= result.explain["confidence"] <= 1.0
    off = SearchService(dataclasses.replace(seeded.config, answer_gate_enabled=False), seeded.store,
                        seeded.embedder)
    assert off.gate is None and off.thresholds.answer_min_confidence == 0.0
    assert off.search("社保卡丢了怎么补办", log_unanswered=False).explain["confidence"] is None


def test_the_fitting_script_writes_what_the_gate_reads(tmp_path: Path) -> None:
    gate = Gate.from_dict(gate_dict(coef=[0.1] * SIZE, fitted_on={"questions": 3}))
    path = tmp_path / "gate.json"
    path.write_text(kb_gate.dump(gate), encoding="utf-8")
    assert Gate.load(path) == gate
    assert json.loads(path.read_text(encoding="utf-8"))["embedder"] == "toy"
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(gate.to_dict()) + 2
