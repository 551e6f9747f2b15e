"""Policy questions: answer from the knowledge base, offer choices, or offer a consultation ticket."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.clients import BackendUnavailable, kb_search
from assistant.actions.validators import message_metadata, message_text


async def answer_from_kb(dispatcher: CollectingDispatcher, tracker: Tracker, offer_menu: bool) -> list[dict[str, Any]]:
    """Shared by the policy intent and the low-confidence fallback; returns the events to apply."""
    query = message_text(tracker)
    if query.startswith("/"):  # a button payload with no question text
        dispatcher.utter_message(response="utter_ask_policy_topic")
        return []
    try:
        result = await kb_search(query, sender=tracker.sender_id)
    except BackendUnavailable:
        dispatcher.utter_message(response="utter_kb_unavailable")
        return []
    outcome, hits = result.get("outcome"), result.get("results") or []
    if outcome == "answer" and hits:
        best = hits[0]
        source = "，".join(x for x in (best.get("source"), best.get("category")) if x)
        if source:
            dispatcher.utter_message(response="utter_kb_answer_with_source", answer=best["answer"], source=source)
        else:  # the staff-curated answer itself, in the knowledge base's language
            dispatcher.utter_message(text=best["answer"])
        return [SlotSet("pending_consultation", None)]
    if outcome == "clarify" and hits:
        buttons = [{"title": hit["question"], "payload": hit["question"]} for hit in hits[:3]]
        dispatcher.utter_message(response="utter_kb_clarify", buttons=buttons)
        return []
    if offer_menu:
        dispatcher.utter_message(response="utter_clarify_menu")
        return []
    dispatcher.utter_message(response="utter_offer_consultation")
    return [SlotSet("pending_consultation", "offered"), SlotSet("complaint_description", query)]


class ActionAnswerPolicy(Action):
    def name(self) -> str:
        return "action_answer_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        return await answer_from_kb(dispatcher, tracker, offer_menu=False)


class ActionClarify(Action):
    """Low NLU confidence: a question may still be in the FAQ; otherwise ask, never guess."""

    def name(self) -> str:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        return await answer_from_kb(dispatcher, tracker, offer_menu=True)


class ActionFileConsultation(Action):
    """The resident agreed: the unanswered question becomes a 政策咨询 ticket, filed under the backend's code
    for consultations (``[dispatch] consultation_service_code``)."""

    def name(self) -> str:
        return "action_file_consultation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        from assistant.actions.tickets import filing_code, submit_ticket

        question = tracker.get_slot("complaint_description") or ""
        metadata = message_metadata(tracker)
        events = await submit_ticket(
            dispatcher, tracker, service_code=filing_code("consultation"), description=f"政策咨询：{question}",
            address_string=metadata.get("address") or "线上咨询", phone=metadata.get("phone"),
        )
        return [*events, SlotSet("pending_consultation", None), SlotSet("complaint_description", None)]


class ActionDeclineConsultation(Action):
    def name(self) -> str:
        return "action_decline_consultation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(response="utter_consultation_declined")
        return [SlotSet("pending_consultation", None), SlotSet("complaint_description", None)]

