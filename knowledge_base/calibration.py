"""Scores → one of three outcomes a resident can trust: answer, clarify (offer choices) or none.

Raw cosine does not separate in-domain from off-topic questions (in our trials the lowest
in-domain score was below the highest off-topic one), so the decision uses three signals that do:
the fused score of the best entry (the keyword leg adds evidence off-topic text lacks), its margin
over the runner-up (two near-equal entries mean "ask which"), and its lead over the closest
off-topic anchor phrase (a query nearer to chit-chat than to any FAQ is off-topic). The thresholds
live in settings and are fitted on the calibration split by ``python -m bench.kb --calibrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge_base.config import KbConfig
from knowledge_base.index import Candidate, Hits

ANSWER, CLARIFY, NONE = "answer", "clarify", "none"


@dataclass(frozen=True)
class Thresholds:
    answer_min_score: float
    answer_min_margin: float
    answer_min_lead: float
    clarify_min_score: float
    clarify_min_lead: float
    answer_min_confidence: float = 0.0   # the answer gate's probability an answer needs (knowledge_base/gate.py)

    @classmethod
    def from_config(cls, config: KbConfig) -> Thresholds:
        return cls(config.answer_min_score, config.answer_min_margin, config.answer_min_lead,
                   config.clarify_min_score, config.clarify_min_lead,
                   config.answer_gate_min_confidence if config.answer_gate_enabled else 0.0)


@dataclass(frozen=True)
class Features:
    score: float      # fused score of the best entry
    margin: float     # best minus runner-up (fused)
    lead: float       # best entry's dense cosine minus the closest off-topic anchor's

    @classmethod
    def of(cls, hits: Hits) -> Features | None:
        if not hits.candidates:
            return None
        best = hits.candidates[0]
        runner_up = hits.candidates[1].fused if len(hits.candidates) > 1 else 0.0
        return cls(best.fused, best.fused - runner_up, best.dense - hits.offtopic)


def decide(features: Features | None, t: Thresholds) -> str:
    """Answer only when every signal is strong; offer choices when the FAQ is plausibly right; else none.

    A query whose lead over chit-chat is small is not answered outright even with a high score:
    it is offered as choices, which a resident can decline, instead of a confident wrong answer.
    """
    if features is None or features.lead < t.clarify_min_lead or features.score < t.clarify_min_score:
        return NONE
    if (features.score >= t.answer_min_score and features.margin >= t.answer_min_margin
            and features.lead >= t.answer_min_lead):
        return ANSWER
    return CLARIFY


def explain(features: Features | None, t: Thresholds) -> str:
    """The thresholds' side of the outcome in words curators read in the console."""
    if features is None:
        return "知识库中没有可用的条目"
    f = features
    if f.lead < t.clarify_min_lead:
        return f"更像闲聊或与政务无关（领先闲聊 {f.lead:.3f}，需 ≥ {t.clarify_min_lead}）"
    if f.score < t.clarify_min_score:
        return f"与最接近的条目相似度不够（得分 {f.score:.3f}，需 ≥ {t.clarify_min_score}）"
    if f.margin < t.answer_min_margin:
        return f"前两个条目很接近（相差 {f.margin:.3f}，需 ≥ {t.answer_min_margin}）"
    if f.score < t.answer_min_score:
        return f"得分 {f.score:.3f} 不足以直接回答（需 ≥ {t.answer_min_score}）"
    if f.lead < t.answer_min_lead:
        return f"与闲聊区分不够明显（领先闲聊 {f.lead:.3f}，需 ≥ {t.answer_min_lead}）"
    return f"得分 {f.score:.3f}，领先第二名 {f.margin:.3f}，领先闲聊 {f.lead:.3f}"


def shown(outcome: str, candidates: list[Candidate], top: int, clarify_max: int) -> list[Candidate]:
    """What the caller gets: the ranked list, cut to the choices offered when clarifying."""
    return candidates[: min(top, clarify_max)] if outcome == CLARIFY else candidates[:top]
