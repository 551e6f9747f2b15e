"""The complaint form: what happened, where, an optional phone, then the resident confirms.

The resident's first message often already says what happened ("我们小区路灯坏了三天了"), so it
counts as the description instead of asking again; entities (place, phone) are taken whenever
they appear; free text fills only the slot that was just asked for.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.tickets import submit_ticket
from assistant.actions.validators import (
    NOT_AN_ANSWER_INTENTS,
    clean_phone,
    declines_phone,
    mask_phone,
    message_intent,
    message_text,
    place_mentioned,
    verified_phone,
    yes_or_no,
)
from common import settings
from common.zh_numbers import spoken_digits_to_arabic
from dispatch import classify

NO_PHONE = "none"
FORM_SLOTS = ("complaint_description", "complaint_location", "complaint_phone", "complaint_confirmed",
              "complaint_service_code", "complaint_service_name")
GENERIC_OPENERS = re.compile(
    r"^(你好|您好)?[，,。\s]*(我要|我想|想|要)?(投诉|反映|举报|报修|反馈)(一下|个|问题|个问题)?[，,。！!\s]*"
)
# The same for English ("Hi, I'd like to file a complaint"): what is left after it is the description.
GENERIC_OPENERS_EN = re.compile(
    r"^(?:hi|hello)?[\s,.!]*(?:i\s*(?:want|would like|'d like|need|wish)\s+to\s+|can\s+i\s+|please\s+|i\s+have\s+)?"
    r"(?:(?:complain|file|make|lodge|report|submit|raise)\b\s*)?(?:(?:a|an)\b\s*)?"
    r"(?:(?:complaint|problem|issue)\b\s*)?(?:about\b)?[\s,.!:?]*",
    re.IGNORECASE,
)


def _answers_question(tracker: Tracker, slot: str) -> bool:
    """Free text fills ``slot`` only when we just asked for it and it is not a command."""
    text = message_text(tracker)
    return (tracker.get_slot("requested_slot") == slot and bool(text) and not text.startswith("/")
            and message_intent(tracker) not in NOT_AN_ANSWER_INTENTS)


def _entity(tracker: Tracker, name: str) -> str | None:
    values = list(tracker.get_latest_entity_values(name))
    return str(values[0]) if values else None


def known_phone(tracker: Tracker) -> str | None:
    """The number the channel already knows (a caller's number on the phone, a bound account's number):
    residents on the phone should not have to say eleven digits; the read-back before submitting shows it."""
    return verified_phone(tracker)


class ValidateComplaintForm(FormValidationAction):
    def name(self) -> str:
        return "validate_complaint_form"

    async def extract_complaint_description(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                            domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("complaint_description"):
            return {}
        if _answers_question(tracker, "complaint_description"):
            return {"complaint_description": message_text(tracker)}
        if tracker.get_slot("requested_slot") is None and message_intent(tracker) == "file_complaint":
            rest = GENERIC_OPENERS_EN.sub("", GENERIC_OPENERS.sub("", message_text(tracker)))
            if len(rest) >= int(settings.section("actions").get("min_description_chars", 4)):
                return {"complaint_description": message_text(tracker)}
        return {}

    async def extract_complaint_location(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("complaint_location"):
            return {}
        text = message_text(tracker)
        location = place_mentioned(text, tracker.latest_message.get("entities") or [])
        # A bare place (人民路和解放路路口东北角) has no intent of its own (the classifier guesses, even
        # report_emergency), and the tagger may stop short of 东北角: once we asked for the place, a reply that
        # is the place found in it give or take a few characters is the whole answer, whatever the intent.
        extra = int(settings.section("actions").get("bare_place_extra_chars", 4))
        bare_place = (tracker.get_slot("requested_slot") == "complaint_location" and bool(location)
                      and len(text) - len(location or "") <= extra)
        if _answers_question(tracker, "complaint_location") or bare_place:
            return {"complaint_location": text}
        return {"complaint_location": location} if location else {}

    async def extract_complaint_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("complaint_phone"):
            return {}
        number = clean_phone(_entity(tracker, "phone_number") or "") or known_phone(tracker)
        if number:
            return {"complaint_phone": number}
        text, intent = message_text(tracker), message_intent(tracker)
        asked = tracker.get_slot("requested_slot") == "complaint_phone"
        # Digits answer the phone question whatever NLU made of them ("12345" is no intent at all).
        if _answers_question(tracker, "complaint_phone") or (
            asked and (intent == "deny" or re.search(r"\d{3,}", spoken_digits_to_arabic(text)))
        ):
            if declines_phone(text) or intent == "deny":
                return {"complaint_phone": NO_PHONE}
            return {"complaint_phone": text}  # validated below; an invalid number is asked again
        return {}

    async def extract_complaint_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                          domain: dict[str, Any]) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "complaint_confirmed":
            return {}
        answer = yes_or_no(message_text(tracker), message_intent(tracker))
        return {} if answer is None else {"complaint_confirmed": answer}

    def validate_complaint_description(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: dict[str, Any]) -> dict[str, Any]:
        code, name = classify.classify(str(value))
        return {"complaint_description": value, "complaint_service_code": code, "complaint_service_name": name}

    def validate_complaint_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: dict[str, Any]) -> dict[str, Any]:
        if value == NO_PHONE:
            return {"complaint_phone": NO_PHONE}
        number = clean_phone(str(value))
        if number is None:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {"complaint_phone": None}
        return {"complaint_phone": number}


class ActionAskComplaintConfirmed(Action):
    """Read the ticket back before it is filed: category, place, problem, masked phone.

    The catalogue names categories in Chinese only, so English replies show the service code
    ("gas_safety" → "gas safety") instead.
    """

    def name(self) -> str:
        return "action_ask_complaint_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        phone = tracker.get_slot("complaint_phone")
        has_phone = phone not in (None, NO_PHONE)
        dispatcher.utter_message(
            response="utter_confirm_complaint" if has_phone else "utter_confirm_complaint_no_phone",
            category=tracker.get_slot("complaint_service_name") or "其他",
            category_en=(tracker.get_slot("complaint_service_code") or "other").replace("_", " "),
            location=tracker.get_slot("complaint_location"),
            description=tracker.get_slot("complaint_description"),
            phone=mask_phone(phone) if has_phone else "",
        )
        return []


class ActionSubmitComplaint(Action):
    def name(self) -> str:
        return "action_submit_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if not tracker.get_slot("complaint_confirmed"):
            dispatcher.utter_message(response="utter_complaint_cancelled")
            return reset
        phone = tracker.get_slot("complaint_phone")
        events = await submit_ticket(
            dispatcher, tracker,
            service_code=tracker.get_slot("complaint_service_code") or classify.table()[1],
            description=tracker.get_slot("complaint_description") or "",
            address_string=tracker.get_slot("complaint_location") or "",
            phone=None if phone == NO_PHONE else phone,
        )
        return [*events, *reset]
