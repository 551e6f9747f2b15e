"""Emergencies: safety advice and the right emergency number come FIRST, then the place, then an
urgent ticket. Advice never waits on a backend call."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.tickets import filing_code, submit_ticket
from assistant.actions.validators import NOT_AN_ANSWER_INTENTS, message_intent, message_text, place_mentioned

# (kind, keywords) — checked in order; the first match wins. The advice for each kind is the response
# utter_emergency_advice_<kind> in the domain (Mandarin and English); "other" is the general advice.
# English keywords are matched against the lower-cased message.
ADVICE: list[tuple[str, tuple[str, ...]]] = [
    ("gas", ("煤气", "燃气", "天然气", "液化气", "气味", "漏气", "gas")),
    ("fire", ("火", "烟", "烧", "爆炸", "fire", "smoke", "burning", "explosion")),
    ("medical", ("晕", "倒", "受伤", "流血", "骨折", "摔", "昏迷", "心脏", "喘不上气", "抽搐", "不省人事",
                 "faint", "collapsed", "injured", "bleeding", "fell", "unconscious", "heart", "can't breathe",
                 "seizure", "ambulance")),
    ("violence", ("打架", "打人", "持刀", "抢劫", "家暴", "砍", "威胁", "偷",
                  "fight", "knife", "robbery", "attack", "domestic violence", "threat", "stealing", "police")),
    ("flood", ("淹", "进水", "漏水", "积水", "水管爆", "flood", "burst pipe", "water leak", "leaking")),
]


def advice_for(text: str) -> str:
    """The kind of emergency, which names its advice response (``utter_emergency_advice_<kind>``)."""
    lowered = text.lower()
    for kind, words in ADVICE:
        if any(word in lowered for word in words):
            return kind
    return "other"


class ActionEmergencyAdvice(Action):
    def name(self) -> str:
        return "action_emergency_advice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = message_text(tracker)
        kind = advice_for(text)
        dispatcher.utter_message(response=f"utter_emergency_advice_{kind}")
        # An emergency interrupts whatever form was running (complaint, health report).
        events = [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("emergency_kind", kind)]
        location = place_mentioned(text, tracker.latest_message.get("entities") or [])
        if location:
            events.append(SlotSet("emergency_location", location))
        return events


class ValidateEmergencyForm(FormValidationAction):
    def name(self) -> str:
        return "validate_emergency_form"

    async def extract_emergency_location(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("emergency_location"):
            return {}
        text = message_text(tracker)
        location = place_mentioned(text, tracker.latest_message.get("entities") or [])
        if location:
            return {"emergency_location": location}
        intent = message_intent(tracker)
        if (tracker.get_slot("requested_slot") == "emergency_location" and text
                and intent not in NOT_AN_ANSWER_INTENTS):
            return {"emergency_location": text}
        return {}


class ActionSubmitEmergency(Action):
    def name(self) -> str:
        return "action_submit_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        first_report = next((e.get("text") for e in reversed(tracker.events)
                             if e.get("event") == "user"
                             and (e.get("parse_data") or {}).get("intent", {}).get("name") == "report_emergency"),
                            None) or ""
        events = await submit_ticket(
            dispatcher, tracker, service_code=filing_code("emergency"),
            description=f"紧急求助（{tracker.get_slot('emergency_kind') or 'other'}）：{first_report}",
            address_string=tracker.get_slot("emergency_location") or "", phone=None, urgent=True,
        )
        dispatcher.utter_message(response="utter_emergency_notified")
        return [*events, SlotSet("emergency_location", None), SlotSet("emergency_kind", None)]
