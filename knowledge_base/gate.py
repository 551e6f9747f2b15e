"""The answer gate: a small trained model that says how likely the best entry really answers the question.

Why a trained stage after the verifier: the verifier's contrast groups catch the near misses somebody
named (退役军人 ≠ 老年人), and on a set written after them it still let 3.6 % of near misses through —
questions that use the entry's own words about another matter. No signal alone separates those from
paraphrases, but together they do better: how much of the question the entry's own wording covers
(not just its answer), how much of the entry's question the resident asked about, how close the question
is to *all* the entry's wordings rather than one, the scores. A logistic model over these, fitted on
labelled near misses and paraphrases (``python -m bench.kb_gate``), turns an answer it doubts into a
clarifying question — it never declines, so a wrong doubt costs the resident one click, not the answer.

The features say nothing about any particular policy, so curators' edits of the FAQ need no refit; the
coefficients live in a small JSON file next to the contrast groups.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge_base.calibration import Features
from knowledge_base.index import Candidate
from knowledge_base.verifier import Question, Verifier

FEATURES = ("fused", "dense", "keyword", "dense_mean", "margin", "lead", "content_chars", "not_in_wording",
            "not_in_entry", "uncovered_chars", "entry_chars_asked", "entry_bigrams_asked")


class GateFileError(ValueError):
    """A gate file that cannot be used (missing, malformed, or for other features than this code computes)."""


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1) if " " not in text[i:i + 2]}


def pair_features(verifier: Verifier, question: Question, best: Candidate, features: Features) -> list[float]:
    """The gate's inputs for the best candidate, in the order of ``FEATURES``."""
    entry = best.entry
    own, full = verifier.wording_of(entry)
    asked = verifier.content(question.raw)
    chars = [ch for ch in asked if ch != " "]
    n = max(len(chars), 1)
    said = question.text
    entry_q = verifier.content(entry.question)
    entry_chars = [ch for ch in entry_q if ch != " "]
    entry_pairs = _bigrams(entry_q)
    uncovered = sum(len(s) for s in verifier.uncovered(question, entry))
    return [best.fused, best.dense, best.keyword, best.dense_mean, features.margin, features.lead, float(len(chars)),
            sum(ch not in own for ch in chars) / n, sum(ch not in full for ch in chars) / n, float(uncovered),
            sum(ch in said for ch in entry_chars) / max(len(entry_chars), 1),
            len(entry_pairs & _bigrams(said)) / max(len(entry_pairs), 1)]


@dataclass(frozen=True)
class Gate:
    """Standardised logistic regression: ``p = sigmoid(coef · (x - mean) / scale + intercept)``."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    fitted_on: dict[str, Any]

    @classmethod
    def from_dict(cls, data: Any) -> Gate:
        if not isinstance(data, dict) or tuple(data.get("features", ())) != FEATURES:
            raise GateFileError(f"答复把关模型的特征与程序不一致（应为 {', '.join(FEATURES)}），"
                                "请重新拟合：python -m bench.kb_gate")
        try:
            mean, scale, coef = (tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coef"))
            intercept = float(data["intercept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GateFileError(f"答复把关模型文件格式错误：{exc}") from None
        if not len(mean) == len(scale) == len(coef) == len(FEATURES) or any(s <= 0 for s in scale):
            raise GateFileError("答复把关模型文件的系数个数或标准差不对")
        return cls(mean, scale, coef, intercept, dict(data.get("fitted_on") or {}))

    @classmethod
    def load(cls, path: Path) -> Gate:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GateFileError(f"答复把关模型文件无法读取：{path}（{exc}）") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "fitted_on": self.fitted_on}

    def probability(self, x: list[float]) -> float:
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale,
                                                                         strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def confidence(self, verifier: Verifier, question: Question | str, best: Candidate, features: Features) -> float:
        q = verifier.analyse(question) if isinstance(question, str) else question
        return self.probability(pair_features(verifier, q, best, features))

