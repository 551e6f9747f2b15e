"""Thresholds then verifier: a declined best candidate is never the answer nor one of the offered choices."""

from __future__ import annotations

from knowledge_base import outcome
from knowledge_base.calibration import Features, Thresholds
from knowledge_base.entry import Entry
from knowledge_base.index import Candidate
from knowledge_base.verifier import Verdict

T = Thresholds(answer_min_score=0.79, answer_min_margin=0.01, answer_min_lead=0.044, clarify_min_score=0.71,
               clarify_min_lead=0.04)


def cand(entry_id: str, fused: float, dense: float | None = None) -> Candidate:
    entry = Entry(id=entry_id, question=f"{entry_id}?", answer="a", category="c", status="published")
    return Candidate(entry, dense if dense is not None else fused, 0.5, fused)


CANDS = [cand("a", 0.90), cand("b", 0.85), cand("c", 0.80)]
STRONG = Features(0.90, 0.05, 0.10)
OK = Verdict("pass")
DOUBT = Verdict("clarify", "问题中的「担保人」在条目中没有出现")
NO = Verdict("decline", "问题提到「甲」，条目是「乙」")


def test_a_strong_verified_best_is_answered_and_says_why() -> None:
    d = outcome.decide(STRONG, CANDS, [OK, OK, OK], T, 3, 3)
    assert d.outcome == "answer" and d.shown[0].entry.id == "a"
    assert "得分 0.900" in d.reason


def test_a_declined_best_with_no_alternative_is_no_answer() -> None:
    d = outcome.decide(STRONG, CANDS, [NO, NO, NO], T, 3, 3)
    assert d.outcome == "none" and "问题提到「甲」，条目是「乙」" in d.reason


def test_a_declined_best_leaves_the_next_entries_as_choices_never_an_answer() -> None:
    d = outcome.decide(STRONG, CANDS, [NO, OK, OK], T, 3, 3)
    assert d.outcome == "clarify"
    assert [c.entry.id for c in d.shown] == ["b", "c"]
    assert outcome.reranked(CANDS, [NO, OK, OK])[0].entry.id == "b"


def test_a_doubtful_best_is_asked_about_and_declined_ones_are_not_offered() -> None:
    d = outcome.decide(STRONG, CANDS, [DOUBT, NO, OK], T, 3, 3)
    assert d.outcome == "clarify" and [c.entry.id for c in d.shown] == ["a", "c"]
    assert d.reason == "需要居民确认：问题中的「担保人」在条目中没有出现"


def test_thresholds_still_decide_first() -> None:
    weak = Features(0.60, 0.05, 0.10)
    assert outcome.decide(weak, CANDS, [OK, OK, OK], T, 3, 3).outcome == "none"
    close = Features(0.90, 0.001, 0.10)
    assert outcome.decide(close, CANDS, [OK, OK, OK], T, 3, 3).outcome == "clarify"


def test_explain_carries_the_signals_and_each_verdict() -> None:
    d = outcome.decide(STRONG, CANDS, [NO, OK, DOUBT], T, 3, 3)
    x = d.explain(CANDS)
    assert (x["score"], x["margin"], x["lead"]) == (0.9, 0.05, 0.1)
    assert [c["action"] for c in x["candidates"]] == ["decline", "pass", "clarify"]
    assert x["candidates"][0]["reason"] == "问题提到「甲」，条目是「乙」"


def test_after_a_declined_best_only_fully_verified_entries_are_offered() -> None:
    """A doubtful runner-up (献血 for a veterans' card) is not offered once the best was a different matter."""
    close = [cand("a", 0.90), cand("b", 0.88), cand("c", 0.87)]
    d = outcome.decide(STRONG, close, [NO, DOUBT, OK], T, 3, 3)
    assert d.outcome == "clarify" and [c.entry.id for c in d.shown] == ["c"]
    assert outcome.decide(STRONG, close, [NO, DOUBT, NO], T, 3, 3).outcome == "none"
