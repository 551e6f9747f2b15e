"""The daily health report of residents under home observation: temperature, then symptoms.

Temperatures arrive in every spoken and written form (36.5 / 36度5 / 三十六度五), so the slot
is read from the message text with common.zh_numbers, not only from the NLU entity.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from assistant.actions.tickets import filing_code, submit_ticket
from assistant.actions.validators import (
    NOT_AN_ANSWER_INTENTS,
    message_intent,
    message_metadata,
    message_text,
    yes_or_no,
)
from common import settings
from common.zh_numbers import parse_temperature

NO_SYMPTOM_WORDS = ("没有症状", "无症状", "没有不舒服", "都正常", "一切正常", "挺好", "没事", "没啥")
# English residents: "no symptoms", "I feel fine"; "no cough" negates a named symptom unless "a bit" of one remains.
NO_SYMPTOM_WORDS_EN = re.compile(
    r"\b(?:no symptoms?|(?:feel|feeling|i'm|i am) (?:fine|good|well|ok)|all (?:good|normal))\b", re.IGNORECASE)
NEGATION_EN = re.compile(r"\b(?:no|not|without|never)\b|n't\b", re.IGNORECASE)
SOME_EN = re.compile(r"\b(?:a bit|a little|slight|slightly|some|just)\b", re.IGNORECASE)


class ValidateHealthReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_health_report_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> list[str]:
        if tracker.get_slot("has_symptoms") is False:
            return [slot for slot in domain_slots if slot != "symptoms"]
        return domain_slots

    async def extract_temperature(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("temperature") is not None or message_intent(tracker) in NOT_AN_ANSWER_INTENTS:
            return {}
        candidates = [*map(str, tracker.get_latest_entity_values("temperature")), message_text(tracker)]
        for candidate in candidates:
            value = parse_temperature(candidate)
            if value is not None:
                return {"temperature": value}
        if tracker.get_slot("requested_slot") == "temperature" and message_text(tracker):
            dispatcher.utter_message(response="utter_invalid_temperature")
        return {}

    async def extract_has_symptoms(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("has_symptoms") is not None or message_intent(tracker) in NOT_AN_ANSWER_INTENTS:
            return {}
        text = message_text(tracker)
        if list(tracker.get_latest_entity_values("symptom")):
            negated = (any(word in text for word in ("没有", "没", "无", "不")) or NEGATION_EN.search(text)) and not (
                any(word in text for word in ("有点", "有些", "有一点")) or SOME_EN.search(text))
            return {"has_symptoms": not negated}
        if any(word in text for word in NO_SYMPTOM_WORDS) or NO_SYMPTOM_WORDS_EN.search(text):
            return {"has_symptoms": False}
        if tracker.get_slot("requested_slot") == "has_symptoms":
            answer = yes_or_no(text, message_intent(tracker))
            return {} if answer is None else {"has_symptoms": answer}
        return {}

    async def extract_symptoms(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("symptoms") or message_intent(tracker) in NOT_AN_ANSWER_INTENTS:
            return {}
        found = list(dict.fromkeys(map(str, tracker.get_latest_entity_values("symptom"))))
        if found and tracker.get_slot("has_symptoms") is not False:
            return {"symptoms": "、".join(found)}
        if tracker.get_slot("requested_slot") == "symptoms" and message_text(tracker):
            return {"symptoms": message_text(tracker)}
        return {}


class ActionSubmitHealthReport(Action):
    """Confirm the report; a fever or any symptom becomes a follow-up ticket for the community."""

    def name(self) -> str:
        return "action_submit_health_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        conf = settings.section("actions")
        temperature = tracker.get_slot("temperature")
        symptoms = tracker.get_slot("symptoms") if tracker.get_slot("has_symptoms") else None
        fever = temperature is not None and float(temperature) >= float(conf.get("fever_threshold_c", 37.3))
        celsius = f"{float(temperature):.1f}"
        # The ticket is read by community staff: in Chinese whatever the resident's language.
        summary = f"体温 {celsius}℃，" + (f"症状：{symptoms}" if symptoms else "无不适症状")
        events: list[dict[str, Any]] = [SlotSet(s, None) for s in ("temperature", "has_symptoms", "symptoms")]
        if not (fever or symptoms):
            dispatcher.utter_message(response="utter_health_recorded", celsius=celsius)
            return events
        if symptoms:
            dispatcher.utter_message(response="utter_health_followup_symptoms", celsius=celsius, symptoms=symptoms)
        else:
            dispatcher.utter_message(response="utter_health_followup", celsius=celsius)
        metadata = message_metadata(tracker)
        events += await submit_ticket(
            dispatcher, tracker, service_code=filing_code("health"),
            description=f"居家健康监测异常：{summary}", address_string=metadata.get("address") or "居家观察对象住址",
            phone=metadata.get("phone"),
        )
        return events
