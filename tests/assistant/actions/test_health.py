from conftest import make_tracker, render

from assistant.actions.health import ActionSubmitHealthReport, ValidateHealthReportForm

form = ValidateHealthReportForm()


async def test_temperature_from_spoken_forms(dispatcher) -> None:
    for text, value in [("三十六度五", 36.5), ("体温36度8", 36.8), ("三十七点二度", 37.2)]:
        tracker = make_tracker(text, "report_health", slots={"requested_slot": "temperature"})
        assert await form.extract_temperature(dispatcher, tracker, {}) == {"temperature": value}


async def test_unreadable_temperature_asks_again(dispatcher) -> None:
    tracker = make_tracker("不知道", "deny", slots={"requested_slot": "temperature"})
    assert await form.extract_temperature(dispatcher, tracker, {}) == {}
    assert dispatcher.messages[-1]["response"] == "utter_invalid_temperature"


async def test_symptoms_and_their_negation(dispatcher) -> None:
    cough = make_tracker("有点咳嗽", "report_health", entities=[{"entity": "symptom", "value": "咳嗽"}])
    assert await form.extract_has_symptoms(dispatcher, cough, {}) == {"has_symptoms": True}
    assert await form.extract_symptoms(dispatcher, cough, {}) == {"symptoms": "咳嗽"}
    no_cough = make_tracker("不咳嗽也不发烧", "report_health", entities=[{"entity": "symptom", "value": "咳嗽"}])
    assert await form.extract_has_symptoms(dispatcher, no_cough, {}) == {"has_symptoms": False}
    none = make_tracker("没有", "deny", slots={"requested_slot": "has_symptoms"})
    assert await form.extract_has_symptoms(dispatcher, none, {}) == {"has_symptoms": False}


async def test_symptoms_slot_is_skipped_without_symptoms(dispatcher) -> None:
    tracker = make_tracker("没有", "deny", slots={"has_symptoms": False})
    slots = await form.required_slots(["temperature", "has_symptoms", "symptoms"], dispatcher, tracker, {})
    assert slots == ["temperature", "has_symptoms"]


async def test_a_normal_report_is_acknowledged_without_a_ticket(dispatcher) -> None:
    tracker = make_tracker("没有", "deny", slots={"temperature": 36.5, "has_symptoms": False})
    events = await ActionSubmitHealthReport().run(dispatcher, tracker, {})
    text = render(dispatcher.messages[-1])["text"]
    assert "36.5" in text and "无不适症状" in text
    assert not any(e.get("name") == "last_ticket_id" for e in events)
