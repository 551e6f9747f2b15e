"""Actions speak through domain responses, so a resident writing English gets English, Mandarin otherwise.

``render`` resolves a dispatcher message the way Rasa does (conftest), for the language slot's value.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from conftest import make_tracker, render

from assistant.actions import knowledge, tickets
from assistant.actions.complaint import ActionAskComplaintConfirmed, ValidateComplaintForm
from assistant.actions.emergency import ActionEmergencyAdvice
from assistant.actions.health import ActionSubmitHealthReport, ValidateHealthReportForm

CJK = re.compile(r"[\u3400-\u9fff]")
COMPLAINT = {"complaint_service_code": "road", "complaint_service_name": "道路设施/路灯/井盖",
             "complaint_location": "幸福小区北门", "complaint_description": "路灯坏了",
             "complaint_phone": "13812345678"}


async def test_the_complaint_read_back_in_both_languages(dispatcher) -> None:
    await ActionAskComplaintConfirmed().run(dispatcher, make_tracker("13812345678", "inform", slots=COMPLAINT), {})
    zh = render(dispatcher.messages[-1], "zh")
    assert zh["text"] == ("我为您整理如下：\n类别：道路设施/路灯/井盖\n地点：幸福小区北门\n问题：路灯坏了\n"
                          "联系电话：138****5678\n确认提交吗？")
    assert zh["buttons"] == [{"title": "确认提交", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]
    en = render(dispatcher.messages[-1], "en")
    assert en["text"] == ("Here is what I have:\nCategory: road\nPlace: 幸福小区北门\nProblem: 路灯坏了\n"
                          "Phone: 138****5678\nShall I submit it?")
    assert en["buttons"] == [{"title": "Submit", "payload": "/affirm"}, {"title": "Cancel", "payload": "/deny"}]


async def test_a_declined_phone_is_read_back_in_english(dispatcher) -> None:
    slots = {**COMPLAINT, "complaint_phone": "none", "complaint_service_code": "gas_safety",
             "complaint_location": "Building 3", "complaint_description": "smell of gas in the stairwell"}
    await ActionAskComplaintConfirmed().run(dispatcher, make_tracker("no phone", "deny", slots=slots), {})
    text = render(dispatcher.messages[-1], "en")["text"]
    assert "Category: gas safety" in text and "Phone: not given" in text and not CJK.search(text)
    assert "联系电话：不留" in render(dispatcher.messages[-1], "zh")["text"]


async def test_an_english_opener_is_not_a_description(dispatcher) -> None:
    form = ValidateComplaintForm()
    opener = make_tracker("Hi, I'd like to file a complaint", "file_complaint")
    assert await form.extract_complaint_description(dispatcher, opener, {}) == {}
    content = make_tracker("The street light outside building 3 is broken", "file_complaint")
    assert await form.extract_complaint_description(dispatcher, content, {}) == {
        "complaint_description": "The street light outside building 3 is broken"}


async def test_ticket_receipts_in_both_languages(dispatcher, monkeypatch) -> None:
    receipt = SimpleNamespace(reference="GB20261123-0001", provisional=False,
                              expected_datetime="2026-11-25T18:00:00+08:00", service_name="道路设施/路灯/井盖")
    monkeypatch.setattr(tickets, "outbox", lambda: SimpleNamespace(submit=lambda draft: receipt))
    events = await tickets.submit_ticket(dispatcher, make_tracker("确认", "affirm"), service_code="road",
                                   description="路灯坏了", address_string="幸福小区北门", phone=None)
    assert events == [{"event": "slot", "timestamp": None, "name": "last_ticket_id", "value": "GB20261123-0001"}]
    assert render(dispatcher.messages[-1], "zh")["text"] == (
        "已为您登记，工单号 GB20261123-0001（道路设施/路灯/井盖），我们将在 2026-11-25 18:00 前处理。"
        "可随时发送“查询工单 GB20261123-0001”了解进度。")
    assert render(dispatcher.messages[-1], "en")["text"] == (
        "Registered: your ticket number is GB20261123-0001, and we will handle it by 2026-11-25 18:00. "
        "Send \"check ticket GB20261123-0001\" at any time to see its progress.")


async def test_ticket_status_in_english(dispatcher, monkeypatch) -> None:
    case = {"reference": "GB20261123-0001", "service_request_id": "GB20261123-0001", "status": "open",
            "expected_datetime": "2026-11-25T18:00:00+08:00"}
    from dispatch.outbox import OWNER, Lookup

    monkeypatch.setattr(tickets, "outbox", lambda: SimpleNamespace(lookup=lambda reference, asker: Lookup(case, OWNER)))
    tracker = make_tracker("check ticket GB20261123-0001", "check_ticket", slots={"language": "en"})
    await tickets.ActionCheckTicket().run(dispatcher, tracker, {})
    assert dispatcher.messages[-1]["text"] == (
        "Ticket GB20261123-0001: in progress; expected completion: 2026-11-25 18:00")
    assert tickets.describe(case) == "工单 GB20261123-0001：处理中；预计办结：2026-11-25 18:00"


async def test_rating_buttons_keep_their_payloads(dispatcher) -> None:
    await tickets.ActionRateService().run(dispatcher, make_tracker("I want to rate", "rate_service"), {})
    zh, en = render(dispatcher.messages[-1], "zh"), render(dispatcher.messages[-1], "en")
    assert [b["payload"] for b in en["buttons"]] == [b["payload"] for b in zh["buttons"]] == [
        "5分", "4分", "3分", "2分", "1分"]
    assert en["buttons"][0]["title"] == "5 stars" and zh["buttons"][0]["title"] == "5分"


async def test_health_report_in_english(dispatcher) -> None:
    form = ValidateHealthReportForm()
    negated = make_tracker("No cough or fever", "deny", entities=[{"entity": "symptom", "value": "cough"},
                                                                   {"entity": "symptom", "value": "fever"}])
    assert await form.extract_has_symptoms(dispatcher, negated, {}) == {"has_symptoms": False}
    some = make_tracker("No fever, just a bit of a cough", "report_health",
                        entities=[{"entity": "symptom", "value": "cough"}])
    assert await form.extract_has_symptoms(dispatcher, some, {}) == {"has_symptoms": True}
    fine = make_tracker("I feel fine", "report_health", slots={"requested_slot": "has_symptoms"})
    assert await form.extract_has_symptoms(dispatcher, fine, {}) == {"has_symptoms": False}
    tracker = make_tracker("I feel fine", "deny", slots={"temperature": 36.5, "has_symptoms": False})
    await ActionSubmitHealthReport().run(dispatcher, tracker, {})
    assert render(dispatcher.messages[-1], "en")["text"].startswith(
        "Today's health report is recorded: temperature 36.5°C, no symptoms.")


async def test_emergency_advice_in_english(dispatcher) -> None:
    tracker = make_tracker("Help! There is a fire in my building", "report_emergency")
    await ActionEmergencyAdvice().run(dispatcher, tracker, {})
    text = render(dispatcher.messages[0], "en")["text"]
    assert text.startswith("Call 119 now!") and not CJK.search(text)


async def test_knowledge_base_offer_in_english(dispatcher, monkeypatch) -> None:
    async def no_answer(query: str, sender: str | None = None) -> dict:
        return {"outcome": "none", "results": []}

    monkeypatch.setattr(knowledge, "kb_search", no_answer)
    tracker = make_tracker("Can I get a parking permit?", "ask_policy")
    events = await knowledge.ActionAnswerPolicy().run(dispatcher, tracker, {})
    assert {"event": "slot", "timestamp": None, "name": "pending_consultation", "value": "offered"} in events
    en = render(dispatcher.messages[-1], "en")
    assert en["text"].startswith("Sorry, the knowledge base has no answer")
    assert [b["payload"] for b in en["buttons"]] == ["/affirm", "/deny", "/request_human"]


def test_no_action_utters_fixed_text() -> None:
    """Fixed sentences live in the domain; the only text= messages carry data (a KB answer, a case summary)."""
    actions = Path(__file__).resolve().parents[3] / "assistant" / "actions"
    calls = [line.strip() for path in actions.glob("*.py") for line in path.read_text(encoding="utf-8").splitlines()
             if "utter_message(text=" in line]
    assert sorted(calls) == ['dispatcher.utter_message(text=best["answer"])',
                             "dispatcher.utter_message(text=describe(case, reply_language(tracker)))"], calls
