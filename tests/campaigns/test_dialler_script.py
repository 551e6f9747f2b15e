"""The campaign call's dialogue against a scripted resident: keys, speech, re-ask, opt-out, call-back, hang-up."""

from __future__ import annotations

import pytest

from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_script import CallEnded, Heard, ScriptRun, interpret
from campaigns.model import AnswerError, CampaignSpec
from tests.campaigns.conftest import make_config, make_spec

CONF = DiallerConfig.load()


@pytest.fixture
def spec() -> CampaignSpec:
    return make_spec(make_config())


class Resident:
    """Answers each question in turn from ``answers``; ``None`` stays silent; running out hangs up."""

    def __init__(self, answers: list[Heard | None]) -> None:
        self.answers, self.said, self.asked = list(answers), [], []

    async def say(self, text: str) -> None:
        self.said.append(text)

    async def hear(self, question) -> Heard:
        self.asked.append(question.id)
        if not self.answers:
            raise CallEnded()
        return self.answers.pop(0) or Heard()


async def test_keys_answer_every_question_and_the_closing_is_said(spec: CampaignSpec) -> None:
    resident = Resident([Heard(keys="36*5"), Heard(keys="2"), Heard(keys="2"), Heard(keys="1")])
    result = await ScriptRun(spec, CONF).run(resident)
    assert result.outcome == "answered"
    assert {k: v["value"] for k, v in result.answers.items()} == {
        "temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}
    assert result.answers["temperature"]["keys"] == "36*5"
    assert resident.said[0] == spec.opening and resident.said[-1] == spec.closing


async def test_spoken_answers_in_chinese_numerals_and_words(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="三十六度五"), Heard(text="没有咳嗽"), Heard(text="有一点乏力"),
                         Heard(text="需要买药")])
    result = await ScriptRun(spec, CONF).run(resident)
    values = {k: v["value"] for k, v in result.answers.items()}
    assert values == {"temperature": 36.5, "cough": "no", "other_symptoms": "yes", "needs": "medicine"}
    assert result.answers["temperature"]["text"] == "三十六度五"


async def test_an_unclear_answer_is_asked_again_once(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="嗯嗯啊啊"), Heard(keys="37*8"), Heard(keys="1"), Heard(keys="2"),
                         Heard(keys="1")])
    result = await ScriptRun(spec, CONF).run(resident)
    assert resident.asked[:2] == ["temperature", "temperature"] and CONF.reask_prefix in resident.said
    assert result.outcome == "answered" and result.answers["temperature"]["value"] == 37.8


async def test_twice_unclear_ends_the_call_with_the_answers_so_far(spec: CampaignSpec) -> None:
    resident = Resident([Heard(keys="1"), None, None])  # 1 is no temperature; then silence twice
    result = await ScriptRun(spec, CONF).run(resident)
    assert result.outcome == "hung_up_early" and result.answers == {}
    assert resident.said[-1] == CONF.goodbye_unclear and resident.asked == ["temperature"] * 2


async def test_the_opt_out_key_or_saying_so_is_dnc(spec: CampaignSpec) -> None:
    by_key = await ScriptRun(spec, CONF).run(Resident([Heard(keys=spec.opt_out_key)]))
    assert by_key.outcome == "dnc"
    resident = Resident([Heard(keys="36*6"), Heard(text="以后不要再打了")])
    by_voice = await ScriptRun(spec, CONF).run(resident)
    assert by_voice.outcome == "dnc" and resident.said[-1] == CONF.goodbye_dnc
    assert by_voice.answers["temperature"]["value"] == 36.6  # what was answered before is kept


async def test_call_me_later_is_a_callback(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="我现在不方便，稍后再打吧")])
    result = await ScriptRun(spec, CONF).run(resident)
    assert result.outcome == "callback" and resident.said[-1] == CONF.goodbye_callback


async def test_a_hang_up_keeps_the_answers_given_and_leaves_the_outcome_open(spec: CampaignSpec) -> None:
    run = ScriptRun(spec, CONF)
    with pytest.raises(CallEnded):
        await run.run(Resident([Heard(keys="36*5"), Heard(keys="2")]))
    assert run.result.outcome is None and set(run.result.answers) == {"temperature", "cough"}


async def test_a_call_back_asks_only_what_earlier_attempts_left(spec: CampaignSpec) -> None:
    previous = {"temperature": {"value": 36.4}, "cough": {"value": "no"}}
    resident = Resident([Heard(keys="2"), Heard(keys="1")])
    result = await ScriptRun(spec, CONF, previous).run(resident)
    assert resident.asked == ["other_symptoms", "needs"] and result.outcome == "answered"


def test_speech_is_constrained_to_the_question(spec: CampaignSpec) -> None:
    temperature, cough, _other, needs = spec.script
    assert interpret(temperature, Heard(text="三十七度三"), "9", CONF) == 37.3
    assert interpret(needs, Heard(text="按三"), "9", CONF) == "doctor"
    assert interpret(cough, Heard(text="不是"), "9", CONF) == "no"
    for question, heard in [(temperature, Heard(text="我住三号楼")), (cough, Heard(text="天气不错呀")),
                            (needs, Heard(keys="7")), (temperature, Heard(keys="99*9"))]:
        with pytest.raises(AnswerError):
            interpret(question, heard, "9", CONF)
