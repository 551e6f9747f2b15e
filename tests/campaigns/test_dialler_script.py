"""The campaign call's dialogue against a scripted resident: keys, speech, re-ask, opt-out, call-back, hang-up."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_script import CallEnded, Heard, ScriptRun, SlotTime, interpret
from campaigns.kinds import get
from campaigns.model import AnswerError, CampaignSpec
from campaigns.validation import SpecError, parse_spec
from common.typed_settings import SettingsError
from tests.campaigns.conftest import NOW, example, make_config, make_spec, running_campaign

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


# -- the identity check ("请问是张三吗？是请按1，不是请按2") -------------------------------------------------

async def test_the_identity_check_comes_after_the_opening_and_yes_goes_on(spec: CampaignSpec) -> None:
    resident = Resident([Heard(keys="1"), Heard(keys="36*5"), Heard(keys="2"), Heard(keys="2"), Heard(keys="1")])
    result = await ScriptRun(spec, CONF, name="张三").run(resident)
    assert resident.said[:2] == [spec.opening, CONF.identity_question.format(name="张三")]
    assert "张三" in resident.said[1] and resident.asked[0] == "identity"
    assert result.outcome == "answered" and result.identity == "yes" and "identity" not in result.answers
    assert result.answers["temperature"]["value"] == 36.5


async def test_not_the_person_ends_the_call_as_wrong_person_without_the_script(spec: CampaignSpec) -> None:
    for heard in (Heard(keys="2"), Heard(text="不是，你打错了")):
        resident = Resident([heard])
        result = await ScriptRun(spec, CONF, name="张三").run(resident)
        assert result.outcome == "wrong_person" and result.identity == "no" and result.answers == {}
        assert resident.asked == ["identity"] and resident.said[-1] == CONF.goodbye_wrong_person


async def test_the_identity_check_by_speech_unclear_then_yes(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="喂喂"), Heard(text="是的，我是"), Heard(keys="36*6"), Heard(keys="2"),
                         Heard(keys="2"), Heard(keys="1")])
    result = await ScriptRun(spec, CONF, name="李四").run(resident)
    assert resident.asked[:3] == ["identity", "identity", "temperature"] and CONF.reask_prefix in resident.said
    assert result.outcome == "answered" and result.identity == "yes"


async def test_the_identity_check_honours_opt_out_and_silence(spec: CampaignSpec) -> None:
    opted_out = await ScriptRun(spec, CONF, name="张三").run(Resident([Heard(keys=spec.opt_out_key)]))
    assert opted_out.outcome == "dnc" and opted_out.identity is None
    resident = Resident([None, None])
    silent = await ScriptRun(spec, CONF, name="张三").run(resident)
    assert silent.outcome == "hung_up_early" and resident.asked == ["identity"] * 2  # retried later, asked again


async def test_a_retry_asks_the_identity_again_then_only_what_is_left(spec: CampaignSpec) -> None:
    previous = {"temperature": {"value": 36.4}, "cough": {"value": "no"}}
    resident = Resident([Heard(keys="1"), Heard(keys="2"), Heard(keys="1")])
    result = await ScriptRun(spec, CONF, previous, name="张三").run(resident)
    assert resident.asked == ["identity", "other_symptoms", "needs"] and result.outcome == "answered"


def test_an_identity_question_without_the_name_placeholder_is_refused() -> None:
    with pytest.raises(SettingsError, match="identity_question"):
        DiallerConfig.load(identity_question="请问是本人吗")


async def test_the_store_knows_a_wrong_person_and_never_calls_that_slot_again(store, config) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 10)
    result = await ScriptRun(store.spec(claim.campaign_id), CONF, name=claim.name).run(Resident([Heard(keys="2")]))
    assert store.mark_dialing(claim.attempt_id, "d1", NOW)
    slot = store.record_outcome(claim.attempt_id, result.outcome, result.answers, NOW, dialler_id="d1")
    assert slot["state"] == "wrong_person" and store.progress(claim.campaign_id)["wrong_person"] == 1
    assert store.claim_due(NOW + timedelta(hours=1), "d1", 10) == []  # final: staff check the number


# -- "call me at 3 pm": the resident's time kept and said back ------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT_END = datetime(2026, 3, 2, 16, 0, tzinfo=SHANGHAI)  # the example's 09:00 slot runs until its 16:00 one


def slot_time(callbacks_left: bool = True) -> SlotTime:
    return SlotTime(lambda: NOW, SLOT_END, callbacks_left)


async def test_a_wanted_time_is_kept_and_said_back(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="现在不方便，下午三点再打吧")])
    result = await ScriptRun(spec, CONF, slot=slot_time()).run(resident)
    assert result.outcome == "callback" and result.callback_at == datetime(2026, 3, 2, 15, 0, tzinfo=SHANGHAI)
    assert resident.said[-1] == "好的，我们下午三点再给您打电话。再见。"
    assert resident.said[-1] == CONF.goodbye_callback_at.format(time="下午三点")


async def test_the_time_is_read_from_the_words_before_normalisation(spec: CampaignSpec) -> None:
    heard = Heard(text="12.3十分再打", said="十二点三十分再打")  # speech.normalize's digits, then the words
    result = await ScriptRun(spec, CONF, slot=slot_time()).run(Resident([heard]))
    assert result.callback_at == datetime(2026, 3, 2, 12, 30, tzinfo=SHANGHAI)


async def test_a_time_outside_the_slot_or_window_is_for_staff(spec: CampaignSpec) -> None:
    for words in ("下午五点再打", "晚上九点再打", "明天上午十点再打"):  # after the slot; after the window; tomorrow
        resident = Resident([Heard(text=words)])
        result = await ScriptRun(spec, CONF, slot=slot_time()).run(resident)
        assert result.outcome == "callback" and result.callback_at is not None
        assert resident.said[-1] == CONF.goodbye_callback_staff, words


async def test_no_time_said_or_no_call_back_left_keeps_the_plain_goodbye(spec: CampaignSpec) -> None:
    resident = Resident([Heard(text="等会再打")])
    result = await ScriptRun(spec, CONF, slot=slot_time()).run(resident)
    assert result.callback_at is None and resident.said[-1] == CONF.goodbye_callback
    resident = Resident([Heard(text="下午三点再打")])
    used_up = await ScriptRun(spec, CONF, slot=slot_time(callbacks_left=False)).run(resident)
    assert used_up.callback_at is not None and resident.said[-1] == CONF.goodbye_callback  # retried like no answer
    without_slot = await ScriptRun(spec, CONF).run(Resident([Heard(text="下午三点再打")]))
    assert without_slot.outcome == "callback" and without_slot.callback_at is None


def test_a_callback_goodbye_without_the_time_placeholder_is_refused() -> None:
    with pytest.raises(SettingsError, match="goodbye_callback_at"):
        DiallerConfig.load(goodbye_callback_at="好的，我们再给您打电话。")
    with pytest.raises(SettingsError, match="callback_periods"):
        DiallerConfig.load(callback_periods={"中午": "noon"})


# -- short answers heard by sound, the optional comment (issues 12 and 11) ------------------------------------


def callback_spec() -> CampaignSpec:
    """The satisfaction call-back kind's own script (满意度, 问题已解决, the optional comment)."""
    data = example(kind="satisfaction_callback")
    for key in ("script", "abnormal", "opening", "closing", "machine_message"):
        data.pop(key, None)
    return parse_spec(data, make_config())


@pytest.mark.parametrize("last", [Heard(keys="#"), None])
async def test_the_optional_comment_is_skipped_by_hash_or_silence_and_the_call_completes(last) -> None:
    spec = callback_spec()
    resident = Resident([Heard(keys="1"), Heard(keys="1"), last])
    result = await ScriptRun(spec, CONF).run(resident)
    assert result.outcome == "answered"
    assert result.answers["comment"]["value"] == ""
    assert resident.asked == ["satisfaction", "resolved", "comment"]  # not asked twice
    assert resident.said[-1] == spec.closing


async def test_a_spoken_comment_is_kept_and_other_keys_are_still_refused() -> None:
    spec = callback_spec()
    result = await ScriptRun(spec, CONF).run(Resident([Heard(keys="1"), Heard(keys="1"), Heard(text="办得很快")]))
    assert result.answers["comment"]["value"] == "办得很快"
    comment = spec.question("comment")
    with pytest.raises(AnswerError):
        interpret(comment, Heard(keys="5"), "9", CONF)
    assert interpret(comment, Heard(keys="9"), "9", CONF).name == "dnc"


async def test_a_free_question_that_is_not_optional_is_asked_again_after_a_hash() -> None:
    spec = callback_spec()
    required = replace(spec, script=tuple(replace(q, optional=False) for q in spec.script))
    result = await ScriptRun(required, CONF).run(Resident([Heard(keys="1"), Heard(keys="1"), Heard(keys="#"),
                                                           None]))
    assert result.outcome == "hung_up_early" and "comment" not in result.answers


def test_optional_is_only_for_free_questions() -> None:
    data = example(script=[dict(q) for q in get("health_check").script])
    data["script"][1]["optional"] = True  # a yes/no question
    with pytest.raises(SpecError) as refused:
        parse_spec(data, make_config())
    assert refused.value.field == "script[1].optional"


def identity() -> ScriptRun:
    return ScriptRun(callback_spec(), CONF, name="张三")


@pytest.mark.parametrize(("heard", "value"), [("施灯", "yes"), ("水灯", "yes"), ("不许", "no"), ("美容", "no")])
def test_misheard_yes_and_no_are_read_by_their_sound(heard: str, value: str) -> None:
    question = identity().identity_question()
    words_only = DiallerConfig.load(sound_match=False)
    with pytest.raises(AnswerError):
        interpret(question, Heard(text=heard), "9", words_only)
    assert interpret(question, Heard(text=heard), "9", CONF) == value


@pytest.mark.parametrize(("heard", "value"), [("埋液", "satisfied"), ("铺埋液", "unsatisfied"),
                                              ("不满意", "unsatisfied"), ("基本满意", "basic"), ("一般", "basic"),
                                              ("很满意", "satisfied")])
def test_choices_by_the_longest_phrase_said_or_by_sound(heard: str, value: str) -> None:
    assert interpret(callback_spec().question("satisfaction"), Heard(text=heard), "9", CONF) == value


@pytest.mark.parametrize("heard", ["你是谁", "你好", "喂", "不适的", "我不想说", "位置", "不要在打了", "别在打了吗"])
def test_non_answers_and_misheard_opt_outs_are_never_a_yes(heard: str) -> None:
    try:
        value = interpret(identity().identity_question(), Heard(text=heard), "9", CONF)
    except AnswerError:
        return
    assert value != "yes"


async def test_a_misheard_identity_yes_goes_on_with_the_script() -> None:
    run = identity()
    result = await run.run(Resident([Heard(text="施灯"), Heard(keys="1"), Heard(keys="1"), Heard(keys="#")]))
    assert result.identity == "yes" and result.outcome == "answered"


async def test_the_call_is_told_each_question_before_it_is_said() -> None:
    class Expecting(Resident):
        def __init__(self, answers) -> None:
            super().__init__(answers)
            self.expected: list[tuple[str, int]] = []

        def expect(self, question) -> None:
            self.expected.append((question.id, len(self.said)))

    resident = Expecting([Heard(keys="1"), Heard(keys="1"), Heard(keys="1"), Heard(keys="#")])
    await identity().run(resident)
    assert [qid for qid, _ in resident.expected] == ["identity", "satisfaction", "resolved", "comment"]
    for qid, said_before in resident.expected:
        assert qid == "identity" or resident.said[said_before] == callback_spec().question(qid).text
