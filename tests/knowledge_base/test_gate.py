"""The answer gate: its file is checked, its fit keeps each signal's sign, and a doubt only ever asks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import kb_gate
from common import settings
from knowledge_base import outcome
from knowledge_base.calibration import ANSWER, Features, Thresholds
from knowledge_base.config import KbConfig
from knowledge_base.gate import FEATURES, Gate, GateFileError
from knowledge_base.search import SearchService
from tests.knowledge_base.test_outcome import CANDS, OK, STRONG

T = Thresholds(0.79, 0.01, 0.044, 0.71, 0.04, answer_min_confidence=0.5)
N = len(FEATURES)


def gate_dict(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"features": list(FEATURES), "mean": [0.0] * N, "scale": [1.0] * N,
                               "coef": [0.0] * N, "intercept": 0.0}
    data.update(changes)
    return data


@pytest.mark.parametrize("changes", [{"features": ["fused"]}, {"coef": [0.0] * (N - 1)}, {"scale": [0.0] * N},
                                     {"intercept": "high"}, {"mean": None}])
def test_a_gate_file_for_other_features_or_malformed_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(GateFileError):
        Gate.from_dict(gate_dict(**changes))


def test_a_missing_gate_file_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(GateFileError, match="无法读取"):
        Gate.load(tmp_path / "absent.json")


def test_the_shipped_gate_loads_and_keeps_the_sign_of_every_signal() -> None:
    config = KbConfig.load()
    gate = Gate.load(settings.resolve_path(config.answer_gate_file))
    assert gate.fitted_on["questions"] > 1000 and gate.fitted_on["wrong"] > 0
    for name, coef in zip(FEATURES, gate.coef, strict=True):
        assert coef * kb_gate.SIGNS[name] >= 0, name
    # More of the question the entry never mentions can only lower the probability.
    x = list(gate.mean)
    more = list(x)
    more[FEATURES.index("uncovered_chars")] += 3
    assert gate.probability(more) < gate.probability(x)


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
    for i in range(40):
        right = i % 2 == 0
        x = [0.9] * N
        x[FEATURES.index("uncovered_chars")] = 0.0 if right else 3.0
        x[FEATURES.index("keyword")] = 0.2 if right else 0.8   # the writers' artefact: near misses reuse words
        rows.append(kb_gate.Row("toy", not right, right, ANSWER, ANSWER, x))
    gate = kb_gate.fit(rows)
    assert gate.coef[FEATURES.index("keyword")] >= 0
    assert gate.coef[FEATURES.index("uncovered_chars")] < 0
    assert gate.probability(rows[0].x) > 0.5 > gate.probability(rows[1].x)


def test_search_explains_the_gates_confidence_and_a_disabled_gate_is_absent(seeded: SearchService) -> None:
    result = seeded.search("社保卡丢了怎么办", log_unanswered=False)
    assert result.outcome == ANSWER and 0.5 <= result.explain["confidence"] <= 1.0
    off = SearchService(dataclasses.replace(seeded.config, answer_gate_enabled=False), seeded.store,
                        seeded.embedder)
    assert off.gate is None and off.thresholds.answer_min_confidence == 0.0
    assert off.search("社保卡丢了怎么办", log_unanswered=False).explain["confidence"] is None


def test_the_fitting_script_writes_what_the_gate_reads(tmp_path: Path) -> None:
    gate = Gate.from_dict(gate_dict(coef=[0.1] * N, fitted_on={"questions": 3}))
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(gate.to_dict()), encoding="utf-8")
    assert Gate.load(path) == gate
