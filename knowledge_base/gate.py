"""The answer gate: a small trained model that says how likely the best entry really answers the question.

Why a trained stage after the verifier: the verifier's contrast groups catch the near misses somebody
named (退役军人 ≠ 老年人), and on a set written after them it still let 3.6 % of near misses through —
questions that use the entry's own words about another matter. No signal alone separates those from
paraphrases, but together they do better. Two kinds of input:

- **lexical** (``FEATURES``): how much of the question the entry's own wording covers (not just its
  answer), how much of the entry's question the resident asked about, how close the question is to
  *all* the entry's wordings rather than one, the scores;
- **the pair of vectors**: the question's embedding and that of the entry's closest wording, compared
  dimension by dimension (their product and their distance). One-word swaps (提前退休 for 领养老金,
  存款 for 贷款) leave every lexical signal looking like a paraphrase; *which way* the two sentences
  differ in the embedding space is what tells them apart. No Mandarin cross-encoder ships in a registry
  package, so this is the pair reader we can have: a logistic layer over the embedder we already run,
  costing no extra model call.

A logistic model over both, fitted on labelled near misses and paraphrases (``python -m bench.kb_gate``),
turns an answer it doubts into a clarifying question — it never declines, so a wrong doubt costs the
resident one click, not the answer. No feature names a policy, so curators' edits need no refit; the
vector part is tied to the embedder it was fitted with, and the file says which.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_base.calibration import Features
from knowledge_base.index import Candidate, Hits
from knowledge_base.verifier import Question, Verifier

FEATURES = ("fused", "dense", "keyword", "dense_mean", "margin", "lead", "content_chars", "not_in_wording",
            "not_in_entry", "uncovered_chars", "entry_chars_asked", "entry_bigrams_asked")
VECTOR_PARTS = ("product", "distance")   # u·v and |u − v|, per dimension


def input_size(dim: int) -> int:
    """How many values the gate reads for an embedder of ``dim`` dimensions."""
    return len(FEATURES) + len(VECTOR_PARTS) * dim


class GateFileError(ValueError):
    """A gate file that cannot be used (missing, malformed, or for other features than this code computes)."""


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1) if " " not in text[i:i + 2]}


def lexical_features(verifier: Verifier, question: Question, best: Candidate, features: Features) -> list[float]:
    """The gate's lexical inputs for the best candidate, in the order of ``FEATURES``."""
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


def vector_features(query_vector: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """The pair of unit vectors compared per dimension (``VECTOR_PARTS``): what the two sentences share, and where
    they part."""
    u = np.asarray(query_vector, dtype=np.float64).ravel()
    v = np.asarray(nearest, dtype=np.float64).ravel()
    return np.concatenate([u * v, np.abs(u - v)])


def gate_inputs(verifier: Verifier, question: Question, hits: Hits, features: Features) -> np.ndarray:
    """Everything the gate reads about the best candidate: lexical features, then the vector part."""
    best = hits.candidates[0]
    if best.nearest is None:
        raise ValueError("候选条目缺少最相近说法的向量（Index.search 应当给出）")
    lexical = np.asarray(lexical_features(verifier, question, best, features), dtype=np.float64)
    return np.concatenate([lexical, vector_features(hits.query_vector, best.nearest)])


@dataclass(frozen=True)
class Gate:
    """Standardised logistic regression: ``p = sigmoid(coef · (x - mean) / scale + intercept)``.

    ``x`` is ``FEATURES`` followed by ``2 × dim`` vector values of the embedder named ``embedder``.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    embedder: str
    dim: int
    fitted_on: dict[str, Any]
    _arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_arrays", tuple(np.asarray(v, dtype=np.float64)
                                                  for v in (self.mean, self.scale, self.coef)))

    @classmethod
    def from_dict(cls, data: Any) -> Gate:
        if (not isinstance(data, dict) or tuple(data.get("features", ())) != FEATURES
                or tuple(data.get("vector_parts", ())) != VECTOR_PARTS):
            raise GateFileError(f"答复把关模型的特征与程序不一致（应为 {', '.join(FEATURES)} 及向量 "
                                f"{', '.join(VECTOR_PARTS)}），请重新拟合：python -m bench.kb_gate")
        try:
            mean, scale, coef = (tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coef"))
            intercept, embedder, dim = float(data["intercept"]), data["embedder"], int(data["dim"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GateFileError(f"答复把关模型文件格式错误：{exc}") from None
        if not isinstance(embedder, str) or not embedder:
            raise GateFileError("答复把关模型文件须写明拟合时所用的 embedder")
        if dim < 1 or not len(mean) == len(scale) == len(coef) == input_size(dim) or any(s <= 0 for s in scale):
            raise GateFileError("答复把关模型文件的系数个数或标准差不对")
        return cls(mean, scale, coef, intercept, embedder, dim, dict(data.get("fitted_on") or {}))

    @classmethod
    def load(cls, path: Path) -> Gate:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GateFileError(f"答复把关模型文件无法读取：{path}（{exc}）") from None
        return cls.from_dict(data)

    def check_embedder(self, name: str, dim: int) -> None:
        """The vector part only means something for the embedder it was fitted on: refuse any other at start-up."""
        if (name, dim) != (self.embedder, self.dim):
            raise GateFileError(f"答复把关模型是按 {self.embedder}（{self.dim} 维）的向量拟合的，当前 embedder 为 "
                                f"{name}（{dim} 维）：请运行 make kb-gate 重新拟合，或设 answer_gate_enabled = false")

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "vector_parts": list(VECTOR_PARTS), "embedder": self.embedder,
                "dim": self.dim, "intercept": self.intercept, "fitted_on": self.fitted_on,
                "mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef)}

    def probability(self, x: np.ndarray | list[float]) -> float:
        mean, scale, coef = self._arrays
        z = self.intercept + float(coef @ ((np.asarray(x, dtype=np.float64) - mean) / scale))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def confidence(self, verifier: Verifier, question: Question | str, hits: Hits, features: Features) -> float:
        q = verifier.analyse(question) if isinstance(question, str) else question
        return self.probability(gate_inputs(verifier, q, hits, features))
