"""The verifier on its own: contrast groups, reasons, "also answers" as own wording, coverage, bad files.

No model here: entries are built by hand, so each rule is seen deciding alone. The shipped
contrast file is loaded too, so a broken edit of it fails the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common import settings
from knowledge_base.contrast import ContrastFileError
from knowledge_base.entry import Entry
from knowledge_base.verifier import Verifier

GROUPS = {
    "groups": [
        {"name": "人群", "members": [
            {"name": "老年人", "terms": ["老年人", "老人", "敬老"]},
            {"name": "退役军人", "terms": ["退役军人", "军人"]},
        ]},
        {"name": "办理事项", "on_missing": "ignore", "ignore": ["丢了工作"], "members": [
            {"name": "新办", "terms": ["首次", "第一次", "注册"]},
            {"name": "补办", "on_missing": "decline", "terms": ["补办", "丢了", "遗失"]},
            {"name": "注销", "on_missing": "decline", "terms": ["注销"]},
            {"name": "停发", "on_missing": "decline", "terms": ["封存"]},
            {"name": "恢复", "on_missing": "decline", "terms": ["解封"]},
        ]},
        {"name": "动物", "on_unasked": "clarify", "members": [
            {"name": "狗", "terms": ["狗", "犬"]}, {"name": "猫", "terms": ["猫"]}]},
    ],
    "coverage": {"function_words": ["什么", "怎么", "条件"], "function_chars": "的了吗在哪里办要有",
                 "synonyms": [["老板", "单位"]]},
}


def entry(question: str, alternates: list[str] | None = None, answer: str = "请到窗口办理。",
          keywords: list[str] | None = None, also: list[str] | None = None) -> Entry:
    return Entry(id="e-1", question=question, answer=answer, category="测试", alternates=alternates or [],
                 keywords=keywords or [], also_answers=also or [], status="published", version=1)


@pytest.fixture
def verifier() -> Verifier:
    return Verifier.from_data(GROUPS)


ELDERLY_CARD = entry("老年人优待证怎么办？", ["敬老卡在哪办"], "年满 60 周岁可申办优待证。", ["优待证"])


def test_a_different_population_is_declined_with_a_reason(verifier: Verifier) -> None:
    verdict = verifier.check("退役军人优待证在哪里申领", ELDERLY_CARD)
    assert verdict.action == "decline"
    assert verdict.reason == "问题提到「退役军人」，条目是「老年人」"


def test_the_same_population_in_other_words_passes(verifier: Verifier) -> None:
    verdict = verifier.check("老人优待证去哪办", ELDERLY_CARD)
    assert verdict.action == "pass" and verdict.shared == ("老年人",)


def test_longest_term_wins_inside_a_group(verifier: Verifier) -> None:
    """"退役军人" is one mention of 退役军人, not also a stray "军人" — and nothing else in the group."""
    assert verifier.analyse("退役军人优待证").members[0] == {1: "退役军人"}


def test_also_answers_count_as_the_entrys_own_wording(verifier: Verifier) -> None:
    """A curator who adopted the wording vouches for it: the contrast no longer declines."""
    adopted = entry("老年人优待证怎么办？", ["敬老卡在哪办"], "年满 60 周岁可申办优待证。", ["优待证"],
                    also=["退役军人优待证在哪办"])
    verdict = verifier.check("退役军人优待证在哪里申领", adopted)
    assert verdict.action == "pass" and "退役军人" in verdict.shared


def test_a_secondary_procedure_the_entry_never_mentions_is_declined(verifier: Verifier) -> None:
    passport = entry("怎么办理护照？", ["第一次办护照去哪里"], "到出入境窗口申请。")
    verdict = verifier.check("护照丢了怎么补办", passport)
    assert verdict.action == "decline"
    assert verdict.reason == "问题提到「丢了」，条目是「第一次」"
    no_procedure = entry("护照怎么办理？", [], "到出入境窗口申请。")
    assert verifier.check("护照丢了怎么补办", no_procedure).reason == "问题提到「丢了」，条目没有涉及"


def test_sharing_one_procedure_does_not_excuse_another(verifier: Verifier) -> None:
    sealed = entry("离职后公积金怎么处理？", [], "账户封存后可转移或提取。", ["封存"])
    verdict = verifier.check("公积金账户封存了怎么解封", sealed)
    assert verdict.action == "decline" and verdict.reason == "问题提到「解封」，条目没有涉及"
    assert "停发" in verdict.shared


def test_ignore_phrases_hide_the_terms_inside_them(verifier: Verifier) -> None:
    unemployment = entry("失业了怎么申领失业保险金？", [], "办理失业登记后申领失业金。")
    assert verifier.check("丢了工作领失业金要什么条件", unemployment).action == "pass"
    assert verifier.check("失业证丢了怎么办", unemployment).action == "decline"


def test_deregistration_is_not_registration(verifier: Verifier) -> None:
    shop = entry("个体工商户营业执照怎么办？", ["个体户注册流程"], "到市场监管部门申请。")
    verdict = verifier.check("个体工商户注销以后营业执照怎么处理", shop)
    assert verdict.action == "decline" and verdict.reason == "问题提到「注销」，条目是「注册」"


def test_an_entry_specific_to_a_member_doubts_a_question_without_one(verifier: Verifier) -> None:
    dog = entry("养狗需要办证吗？", [], "犬只须登记。")
    verdict = verifier.check("需要办证吗", dog)
    assert verdict.action == "clarify" and verdict.reason == "条目专指「狗」，问题没有提到"


def test_coverage_doubts_content_the_entry_never_mentions() -> None:
    verifier = Verifier.from_data(GROUPS, clarify_uncovered=2)
    loan = entry("公积金贷款需要什么条件？", ["谁能办公积金贷款"], "连续缴存满 6 个月可申请贷款。")
    verdict = verifier.check("公积金贷款的担保人有什么要求", loan)
    assert verdict.action == "clarify"
    assert verdict.reason == "问题中的「担保人」「求」在条目中没有出现"
    assert verifier.check("公积金贷款要什么条件", loan).action == "pass"        # function words only
    assert verifier.check("公积金贷款连续缴存几个月", loan).action == "pass"      # the answer covers it
    unpaid = entry("单位不给交公积金怎么办？", [], "可向公积金中心投诉。")
    assert verifier.check("老板不给交公积金怎么办", unpaid).action == "pass"      # a synonym covers it
    assert Verifier.from_data(GROUPS, clarify_uncovered=0).check("公积金贷款的担保人有什么要求", loan).action == "pass"


def test_an_ascii_word_counts_as_one_unit() -> None:
    verifier = Verifier.from_data(GROUPS, clarify_uncovered=2)
    vaccine = entry("新生儿疫苗在哪里打？", ["宝宝打预防针去哪里"], "到社区卫生服务中心接种。")
    assert verifier.uncovered("九价HPV疫苗在哪里打", vaccine) == ["hpv", "九价"]


def test_a_homophone_slip_of_the_entrys_own_wording_is_covered() -> None:
    """Residents type by sound: 医宝卡 for 医保卡 is the entry's matter; 担保 next to it is still a new one."""
    verifier = Verifier.from_data(GROUPS, clarify_uncovered=2)
    card = entry("医保卡丢了怎么补办？", [], "携带身份证到窗口补办。")
    assert verifier.uncovered("医宝卡丢了怎么补办", card) == []
    assert verifier.uncovered("医宝卡丢了要担保人吗", card) == ["担", "人"]       # 保 is the entry's own character
    assert verifier.check("医宝卡丢了怎么补办", card).action == "pass"
    assert verifier.check("医宝卡丢了要担保人吗", card).action == "clarify"


@pytest.mark.parametrize(("data", "named"), [
    ({"groups": [{"name": "人群", "members": [{"name": "甲", "terms": ["老人"]},
                                              {"name": "乙", "terms": ["老人"]}]}]}, "老人"),
    ({"groups": [{"name": "人群", "on_conflict": "maybe", "members": [{"name": "甲", "terms": ["x"]}]}]},
     "on_conflict"),
    ({"groups": [{"name": "人群", "members": [{"name": "甲", "terms": []}]}]}, "人群"),
    ({"groups": [{"name": "人群", "members": [{"name": "甲", "terms": ["a"], "on_missing": "drop"}]}]}, "甲"),
    ({"groups": [{"name": "人群", "ignore": ["老人"], "members": [{"name": "甲", "terms": ["老人"]}]}]}, "ignore"),
    ({"groups": [], "coverage": {"synonyms": ["老板"]}}, "synonyms"),
    ({"groups": "人群"}, "groups"),
])
def test_a_bad_contrast_file_is_refused_naming_what_is_wrong(data: dict, named: str) -> None:
    with pytest.raises(ContrastFileError) as info:
        Verifier.from_data(data)
    assert named in str(info.value)


def test_the_shipped_contrast_file_loads_and_knows_the_issue_examples() -> None:
    path = settings.resolve_path("knowledge_base/contrast_groups.yaml")
    verifier = Verifier.load(Path(path), clarify_uncovered=2)
    assert len(verifier.groups) >= 10
    passport = entry("怎么办理护照？", ["第一次办护照去哪里", "出国旅游要办什么证件"], "到出入境窗口申请普通护照。",
                     ["护照", "出入境"])
    assert verifier.check("外国人来华工作许可证延期要提前多久申请", passport).action == "decline"
    card = entry("生育津贴怎么申领？", ["女职工生孩子能领多少钱"], "由用人单位或本人向医保部门申领。")
    assert verifier.check("男职工能领生育津贴吗", card).action == "decline"             # 性别: 男 ≠ 女
    assert verifier.check("男职工能领生育津贴吗", entry("生育津贴怎么申领？")).action == "clarify"
    loan = entry("公积金贷款最多能贷多少？", [], "最高可贷 80 万元，期限最长 30 年。")
    assert verifier.check("公积金贷款最长能贷多少年", loan).action == "clarify"         # 期限, said only in the answer
    stall = entry("占道经营去哪里举报？", [], "拨打 12345 或城管热线举报。")
    assert verifier.check("摊子被城管收走了怎么要回来", stall).action == "decline"      # 取回
