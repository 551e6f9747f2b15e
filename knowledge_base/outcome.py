"""From ranked candidates to what the resident gets: the calibrated thresholds, then the verifier's check.

Order matters: thresholds say whether the *best-scoring* entry is close enough; the verifier says
whether it is about the *same matter*. A candidate the verifier declines is never the answer and
never offered as a choice — a clarifying button that leads to the wrong policy is a wrong answer
one click later. Each outcome carries one sentence saying why, for the curators' console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from knowledge_base import calibration
from knowledge_base.calibration import ANSWER, CLARIFY, NONE, Features, Thresholds
from knowledge_base.gate import Gate
from knowledge_base.index import Candidate, Hits
from knowledge_base.verifier import DECLINE, PASS, Question, Verdict, Verifier

UNCHECKED = Verdict(PASS, "未核对")


@dataclass
class Decision:
    outcome: str
    reason: str
    shown: list[Candidate]
    features: Features | None
    verdicts: list[Verdict]          # for the reviewed candidates, best first
    by_thresholds: str               # what the thresholds alone decided
    confidence: float | None = None  # the answer gate's probability that the best entry answers the question

    def explain(self, candidates: list[Candidate]) -> dict[str, Any]:
        f = self.features
        return {
            "reason": self.reason, "by_thresholds": self.by_thresholds,
            "score": round(f.score, 4) if f else None, "margin": round(f.margin, 4) if f else None,
            "lead": round(f.lead, 4) if f else None,
            "confidence": round(self.confidence, 4) if self.confidence is not None else None,
            "candidates": [{"id": c.entry.id, "score": round(c.fused, 4), **v.to_dict()}
                           for c, v in zip(candidates, self.verdicts, strict=False)],
        }


def review(verifier: Verifier | None, query: Question | str, candidates: list[Candidate], k: int) -> list[Verdict]:
    """The verifier's verdict on each of the first ``k`` candidates (the query is analysed once: pass the
    :class:`Question` when the answer gate reads it too)."""
    if verifier is None:
        return [UNCHECKED] * min(k, len(candidates))
    question = verifier.analyse(query) if isinstance(query, str) else query
    return [verifier.check(question, c.entry) for c in candidates[:k]]


def confidence(gate: Gate | None, verifier: Verifier | None, query: Question | str, hits: Hits,
               features: Features | None) -> float | None:
    """The answer gate's probability for the best candidate (None without a gate, a verifier or a candidate)."""
    if gate is None or verifier is None or not hits.candidates or features is None:
        return None
    return gate.confidence(verifier, query, hits, features)


def reranked(candidates: list[Candidate], verdicts: list[Verdict]) -> list[Candidate]:
    """The ranking after the check: declined candidates move behind every other one (order otherwise kept)."""
    declined = {i for i, v in enumerate(verdicts) if v.action == DECLINE}
    return ([c for i, c in enumerate(candidates) if i not in declined]
            + [c for i, c in enumerate(candidates) if i in declined])


def decide(features: Features | None, candidates: list[Candidate], verdicts: list[Verdict], t: Thresholds,
           top: int, clarify_max: int, confidence: float | None = None) -> Decision:
    """Thresholds first; then a declined best candidate means no answer, a doubtful one means asking.

    ``confidence`` (the answer gate's, for the best candidate) only ever turns an answer into a question.
    """
    base = calibration.decide(features, t)
    why = calibration.explain(features, t)
    limit = min(top, clarify_max)

    def made(outcome: str, reason: str, shown: list[Candidate] | None = None) -> Decision:
        if shown is None:
            shown = calibration.shown(outcome, candidates, top, clarify_max)
        return Decision(outcome, reason, shown, features, verdicts, why, confidence)

    if base == NONE or not verdicts:
        return made(NONE, why)
    best = verdicts[0]
    if best.action == DECLINE:
        declined = f"最接近的条目 {candidates[0].entry.id} 不是同一件事：{best.reason}"
        rest_features, rest, rest_verdicts = _without_declined(features, candidates, verdicts)
        if not rest:
            return made(NONE, declined, candidates[:top])
        # The ranking put a different matter first; the next entries about the same matter are judged by
        # the same thresholds as if the declined ones had not been there — but at most offered as choices:
        # in trials, answering outright turned near misses (a third matter ranked second) into wrong answers.
        again = decide(rest_features, rest, rest_verdicts, t, top, clarify_max)
        if again.outcome == NONE:
            return made(NONE, declined, candidates[:top])
        return made(CLARIFY, f"{declined}；请居民确认下一个条目：{again.reason}", rest[:limit])
    offered = [c for c, v in zip(candidates, verdicts, strict=False) if v.action != DECLINE][:limit]
    if best.action != PASS:
        return made(CLARIFY, f"需要居民确认：{best.reason}", offered)
    if base == ANSWER and confidence is not None and confidence < t.answer_min_confidence:
        return made(CLARIFY, f"把握不足：答复把关模型估计条目 {candidates[0].entry.id} 答对的可能为 "
                             f"{confidence:.0%}（需 ≥ {t.answer_min_confidence:.0%}），请居民确认", offered)
    if base == ANSWER:
        shared = f"；核对一致：{'、'.join(best.shared)}" if best.shared else ""
        return made(ANSWER, why + shared)
    return made(CLARIFY, why, offered)


def _without_declined(features: Features | None, candidates: list[Candidate], verdicts: list[Verdict],
                      ) -> tuple[Features | None, list[Candidate], list[Verdict]]:
    """The reviewed candidates the verifier fully passed, and the three signals recomputed for them.

    Doubtful ones are left out too: after the best was a different matter, offering a candidate that is
    itself in doubt (献血 for a veterans' card) only makes the resident wade through wrong choices.
    """
    kept = [(c, v) for c, v in zip(candidates, verdicts, strict=False) if v.action == PASS]
    if not kept or features is None:
        return None, [], []
    offtopic = candidates[0].dense - features.lead
    best = kept[0][0]
    runner_up = kept[1][0].fused if len(kept) > 1 else 0.0
    return (Features(best.fused, best.fused - runner_up, best.dense - offtopic),
            [c for c, _ in kept], [v for _, v in kept])
