"""The complaint form's extraction and validation, driven with real rasa_sdk trackers."""

from conftest import make_tracker

from assistant.actions.complaint import NO_PHONE, ActionSubmitComplaint, ValidateComplaintForm

form = ValidateComplaintForm()


async def test_first_message_with_content_is_the_description(dispatcher) -> None:
    tracker = make_tracker("我们小区门口的路灯坏了三天了", "file_complaint")
    assert await form.extract_complaint_description(dispatcher, tracker, {}) == {
        "complaint_description": "我们小区门口的路灯坏了三天了"}


async def test_a_bare_opener_is_not_a_description(dispatcher) -> None:
    tracker = make_tracker("我要投诉", "file_complaint")
    assert await form.extract_complaint_description(dispatcher, tracker, {}) == {}


async def test_location_from_entity_or_from_the_answer(dispatcher) -> None:
    entity = make_tracker("在幸福小区3号楼", "file_complaint",
                          entities=[{"entity": "location", "value": "幸福小区3号楼"}])
    assert await form.extract_complaint_location(dispatcher, entity, {}) == {"complaint_location": "幸福小区3号楼"}
    answer = make_tracker("人民路和解放路交叉口", "inform", slots={"requested_slot": "complaint_location"})
    assert await form.extract_complaint_location(dispatcher, answer, {}) == {
        "complaint_location": "人民路和解放路交叉口"}


async def test_a_bare_place_is_the_whole_answer_whatever_the_intent(dispatcher) -> None:
    """The session-4 model called 人民路和解放路路口东北角 report_emergency (0.47) and tagged 9 of its 12 characters."""
    asked = {"requested_slot": "complaint_location"}
    piece = [{"entity": "location", "value": "人民路和解放路路口", "start": 0, "end": 9, "confidence_entity": 0.95}]
    bare = make_tracker("人民路和解放路路口东北角", "report_emergency", slots=asked, entities=piece)
    extracted = await form.extract_complaint_location(dispatcher, bare, {})
    assert extracted == {"complaint_location": "人民路和解放路路口东北角"}
    text = "燃气泄漏了，就在幸福小区3号楼"
    emergency = make_tracker(text, "report_emergency", slots=asked, entities=[
        {"entity": "location", "value": "幸福小区3号楼", "start": 8, "end": 15, "confidence_entity": 0.95}])
    assert await form.extract_complaint_location(dispatcher, emergency, {}) == {"complaint_location": "幸福小区3号楼"}
    off_topic = make_tracker("今天天气怎么样", "out_of_scope", slots=asked)
    assert await form.extract_complaint_location(dispatcher, off_topic, {}) == {}


async def test_a_command_is_not_taken_as_an_answer(dispatcher) -> None:
    tracker = make_tracker("转人工", "request_human", slots={"requested_slot": "complaint_location"})
    assert await form.extract_complaint_location(dispatcher, tracker, {}) == {}


async def test_phone_is_validated_and_may_be_declined(dispatcher) -> None:
    asked = {"requested_slot": "complaint_phone"}
    declined = make_tracker("不留了", "deny", slots=asked)
    assert await form.extract_complaint_phone(dispatcher, declined, {}) == {"complaint_phone": NO_PHONE}
    spoken = make_tracker("幺三八一二三四五六七八", "inform", slots=asked)
    extracted = await form.extract_complaint_phone(dispatcher, spoken, {})
    assert form.validate_complaint_phone(extracted["complaint_phone"], dispatcher, spoken, {}) == {
        "complaint_phone": "13812345678"}
    bad = make_tracker("12345", "inform", slots=asked)
    assert form.validate_complaint_phone("12345", dispatcher, bad, {}) == {"complaint_phone": None}
    assert dispatcher.messages[-1]["response"] == "utter_invalid_phone"


async def test_confirmation_only_when_asked(dispatcher) -> None:
    yes = make_tracker("确认提交", "affirm", slots={"requested_slot": "complaint_confirmed"})
    assert await form.extract_complaint_confirmed(dispatcher, yes, {}) == {"complaint_confirmed": True}
    elsewhere = make_tracker("是的", "affirm", slots={"requested_slot": "complaint_phone"})
    assert await form.extract_complaint_confirmed(dispatcher, elsewhere, {}) == {}


async def test_a_declined_confirmation_files_nothing_and_clears_the_form(dispatcher) -> None:
    tracker = make_tracker("算了", "deny", slots={"complaint_confirmed": False, "complaint_description": "路灯坏了"})
    events = await ActionSubmitComplaint().run(dispatcher, tracker, {})
    assert dispatcher.messages[-1]["response"] == "utter_complaint_cancelled"
    assert {e["name"]: e["value"] for e in events}["complaint_description"] is None


async def test_digits_answer_the_phone_question_whatever_the_intent(dispatcher) -> None:
    tracker = make_tracker("12345", "goodbye", slots={"requested_slot": "complaint_phone"})
    assert await form.extract_complaint_phone(dispatcher, tracker, {}) == {"complaint_phone": "12345"}
    assert form.validate_complaint_phone("12345", dispatcher, tracker, {}) == {"complaint_phone": None}


async def test_the_callers_number_is_the_contact_unless_another_is_given(dispatcher) -> None:
    phoned = make_tracker("小区门口的路灯坏了", "file_complaint", metadata={"phone": "13700137000"})
    assert await form.extract_complaint_phone(dispatcher, phoned, {}) == {"complaint_phone": "13700137000"}
    other = make_tracker("打我手机13912345678", "file_complaint", metadata={"phone": "13700137000"},
                         entities=[{"entity": "phone_number", "value": "13912345678"}])
    assert await form.extract_complaint_phone(dispatcher, other, {}) == {"complaint_phone": "13912345678"}
    web = make_tracker("小区门口的路灯坏了", "file_complaint", metadata={"phone": "sip:anonymous"})
    assert await form.extract_complaint_phone(dispatcher, web, {}) == {}
