"""The ``[knowledge_base]`` settings as one typed object, so no module carries its own numbers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from common import settings


def _bool(raw: Any) -> bool:
    """TOML gives a bool; an environment override gives text."""
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return bool(raw)


@dataclass(frozen=True)
class KbConfig:
    db_url: str
    db_schema: str
    embedder: str
    sentence_transformers_model: str
    seed_file: str
    seed_status: str
    keyword_weight: float
    answer_weight: float
    keyword_ngram_min: int
    keyword_ngram_max: int
    candidates: int
    ivf_min_rows: int
    ivf_max_nlist: int
    ivf_nprobe: int
    default_top: int
    max_top: int
    max_query_chars: int
    answer_min_score: float
    answer_min_margin: float
    answer_min_lead: float
    clarify_min_score: float
    clarify_min_lead: float
    clarify_max: int
    offtopic_anchors_file: str
    contrast_groups_file: str
    verifier_enabled: bool
    verifier_clarify_uncovered: int
    answer_gate_enabled: bool
    answer_gate_file: str
    answer_gate_min_confidence: float
    poll_interval_s: float
    unanswered_group_similarity: float
    unanswered_list_limit: int
    max_import_bytes: int

    @classmethod
    def load(cls, **overrides: Any) -> KbConfig:
        """Read the section now (tests change the environment and call ``settings.reload()`` first)."""
        conf = settings.section("knowledge_base")
        conf.update({k: v for k, v in overrides.items() if v is not None})
        values = {}
        for f in fields(cls):
            if f.name not in conf:
                raise KeyError(f"settings.toml [knowledge_base] lacks {f.name}")
            raw = conf[f.name]
            values[f.name] = {"float": float, "int": int, "str": str, "bool": _bool}[str(f.type)](raw)
        config = cls(**values)
        if not (0 <= config.keyword_weight and 0 <= config.answer_weight
                and config.keyword_weight + config.answer_weight < 1):
            raise ValueError("settings.toml [knowledge_base] keyword_weight 与 answer_weight 须不小于 0，"
                             "且两者之和小于 1（余下的是语义向量的权重）")
        return config

    @property
    def resolved_db_url(self) -> str:
        return settings.resolve_db_url(self.db_url)
