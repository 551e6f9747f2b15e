"""Policy questions: answer from the knowledge base, offer choices, or offer a consultation ticket."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.clients import BackendUnavailable, kb_search
from assistant.actions.validators import message_text

MENU_BUTTONS = [
    {"title": "咨询政策", "payload": "/ask_policy"},
    {"title": "反映问题", "payload": "/file_complaint"},
    {"title": "查询工单", "payload": "/check_ticket"},
    {"title": "转人工", "payload": "/request_human"},
]
OFFER_CONSULTATION = "抱歉，知识库里暂时没有这个问题的答案。需要我为您登记一个政策咨询，由工作人员回复您吗？"
KB_DOWN = "抱歉，政策知识库暂时无法访问。您可以稍后再问，或说“转人工”由工作人员为您解答。"


def answer_from_kb(dispatcher: CollectingDispatcher, tracker: Tracker, offer_menu: bool) -> list[dict[str, Any]]:
    """Shared by the policy intent and the low-confidence fallback; returns the events to apply."""
    query = message_text(tracker)
    if query.startswith("/"):  # a button payload with no question text
        dispatcher.utter_message(text="请问您想咨询哪方面的政策？比如社保、医保、公积金、户籍、住房等。")
        return []
    try:
        result = kb_search(query, sender=tracker.sender_id)
    except BackendUnavailable:
        dispatcher.utter_message(text=KB_DOWN)
        return []
    outcome, hits = result.get("outcome"), result.get("results") or []
    if outcome == "answer" and hits:
        best = hits[0]
        source = "，".join(x for x in (best.get("source"), best.get("category")) if x)
        dispatcher.utter_message(text=best["answer"] + (f"\n（来源：{source}）" if source else ""))
        return [SlotSet("pending_consultation", None)]
    if outcome == "clarify" and hits:
        buttons = [{"title": hit["question"], "payload": hit["question"]} for hit in hits[:3]]
        dispatcher.utter_message(text="您想问的是下面哪一个问题？", buttons=buttons)
        return []
    if offer_menu:
        dispatcher.utter_message(text="抱歉，我没太听懂。您可以换个说法，或者选择您要办的事：", buttons=MENU_BUTTONS)
        return []
    dispatcher.utter_message(
        text=OFFER_CONSULTATION,
        buttons=[{"title": "需要", "payload": "/affirm"}, {"title": "不用了", "payload": "/deny"},
                 {"title": "转人工", "payload": "/request_human"}],
    )
    return [SlotSet("pending_consultation", "offered"), SlotSet("complaint_description", query)]


class ActionAnswerPolicy(Action):
    def name(self) -> str:
        return "action_answer_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        return answer_from_kb(dispatcher, tracker, offer_menu=False)


class ActionClarify(Action):
    """Low NLU confidence: a question may still be in the FAQ; otherwise ask, never guess."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        return answer_from_kb(dispatcher, tracker, offer_menu=True)


class ActionFileConsultation(Action):
    """The resident agreed: the unanswered question becomes a 政策咨询 ticket."""

    def name(self) -> str:
        return "action_file_consultation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        from assistant.actions.tickets import submit_ticket

        question = tracker.get_slot("complaint_description") or ""
        metadata = tracker.latest_message.get("metadata") or {}
        events = submit_ticket(
            dispatcher, tracker, service_code="consultation", description=f"政策咨询：{question}",
            address_string=metadata.get("address") or "线上咨询", phone=metadata.get("phone"),
        )
        return [*events, SlotSet("pending_consultation", None), SlotSet("complaint_description", None)]


class ActionDeclineConsultation(Action):
    def name(self) -> str:
        return "action_decline_consultation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(text="好的。还有其他问题可以随时问我。")
        return [SlotSet("pending_consultation", None), SlotSet("complaint_description", None)]

