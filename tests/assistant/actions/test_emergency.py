import pytest
from conftest import make_tracker, render

from assistant.actions.emergency import ActionEmergencyAdvice, advice_for
from assistant.actions.handoff import ActionHandoff


@pytest.mark.parametrize("text, kind, number", [
    ("家里煤气泄漏了好大味道", "gas", "119"), ("楼下着火了冒烟", "fire", "119"),
    ("我爸摔倒了头在流血", "medical", "120"), ("有人在小区里打架还拿着刀", "violence", "110"),
    ("I smell gas in the kitchen", "gas", "119"), ("My father collapsed", "medical", "120"),
    ("Someone is attacking people with a knife", "violence", "110"), ("Something strange happened", "other", "110"),
])
def test_advice_names_the_right_number(text: str, kind: str, number: str) -> None:
    assert advice_for(text) == kind
    assert number in render({"response": f"utter_emergency_advice_{kind}"})["text"]


async def test_advice_comes_first_and_keeps_a_known_place(dispatcher) -> None:
    tracker = make_tracker("幸福小区3号楼着火了", "report_emergency",
                           entities=[{"entity": "location", "value": "幸福小区3号楼"}])
    events = await ActionEmergencyAdvice().run(dispatcher, tracker, {})
    assert "119" in render(dispatcher.messages[0])["text"]
    assert {"event": "slot", "name": "emergency_location", "value": "幸福小区3号楼", "timestamp": None} in events


async def test_handoff_pauses_and_tells_the_gateway(dispatcher) -> None:
    tracker = make_tracker("我要找人工", "request_human")
    events = await ActionHandoff().run(dispatcher, tracker, {})
    assert any(e["event"] == "pause" for e in events)
    assert any((m.get("custom") or {}).get("handoff") for m in dispatcher.messages)
