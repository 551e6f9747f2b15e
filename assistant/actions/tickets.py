"""Tickets: submit through the durable outbox, report status, take ratings.

Every ticket goes through ``dispatch.outbox``: it is stored locally before it is sent, so a
backend that is down costs the resident nothing but a provisional reference (TMP-…) that later
resolves to the real number.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.clients import outbox
from assistant.actions.language import reply_language
from assistant.actions.validators import find_ticket_id, message_metadata, message_text, parse_rating

log = logging.getLogger(__name__)
# A case summary has optional parts (notes, deadline…), which a response template cannot leave out, so
# describe() assembles it from these words in the conversation's language; every fixed sentence is a
# response in the domain.
CASE_WORDS: dict[str, dict[str, str]] = {
    "zh": {"open": "处理中", "closed": "已办结", "unknown": "未知", "head": "工单 {}：{}", "category": "类别：{}",
           "notes": "进展：{}", "expected": "预计办结：{}", "sep": "；",
           "provisional": "（派单系统暂不可用，工单已保存，恢复后自动提交）"},
    "en": {"open": "in progress", "closed": "closed", "unknown": "unknown", "head": "Ticket {}: {}",
           "category": "category: {}", "notes": "progress: {}", "expected": "expected completion: {}", "sep": "; ",
           "provisional": "(the dispatch system is unavailable; the ticket is saved and will be submitted "
                          "automatically)"},
}


def transcript(tracker: Tracker, limit: int = 30) -> str:
    """Both sides of the conversation, for the dispatcher reading the ticket."""
    lines = []
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            lines.append(f"居民：{event['text']}")
        elif event.get("event") == "bot" and event.get("text"):
            lines.append(f"助手：{event['text']}")
    return "\n".join(lines[-limit:])


def format_time(iso: str | None) -> str:
    if not iso:
        return ""
    return iso[:16].replace("T", " ")


def submit_ticket(dispatcher: CollectingDispatcher, tracker: Tracker, *, service_code: str, description: str,
                  address_string: str, phone: str | None, urgent: bool = False,
                  coordinates: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """File one ticket and tell the resident its number and promised time; returns slot events."""
    from dispatch.outbox import TicketDraft

    metadata = message_metadata(tracker)
    lat, long = coordinates or (metadata.get("lat"), metadata.get("long"))
    draft = TicketDraft(
        service_code=service_code, description=description[:4000], address_string=address_string,
        lat=lat, long=long, phone=phone or metadata.get("phone"), sender_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "rest", transcript=transcript(tracker), urgent=urgent,
    )
    try:
        receipt = outbox().submit(draft)
    except Exception:  # the outbox store itself failed: say so, never pretend
        log.exception("could not store the ticket")
        dispatcher.utter_message(response="utter_ticket_store_failed")
        return []
    if receipt.provisional:
        dispatcher.utter_message(response="utter_ticket_provisional", reference=receipt.reference)
    elif receipt.expected_datetime:
        dispatcher.utter_message(response="utter_ticket_filed_with_deadline", reference=receipt.reference,
                                 service_name=receipt.service_name, deadline=format_time(receipt.expected_datetime))
    else:
        dispatcher.utter_message(response="utter_ticket_filed", reference=receipt.reference,
                                 service_name=receipt.service_name)
    return [SlotSet("last_ticket_id", receipt.reference)]


def describe(case: dict[str, Any], language: str = "zh") -> str:
    """One line per case: number, status, category, progress notes, promised date."""
    words = CASE_WORDS.get(language, CASE_WORDS["zh"])
    status = case.get("status") or ""
    label = words[status] if status in ("open", "closed") else status or words["unknown"]
    parts = [words["head"].format(case.get("service_request_id") or case.get("reference"), label)]
    if case.get("service_name"):
        parts.append(words["category"].format(case["service_name"]))
    if case.get("status_notes"):
        parts.append(words["notes"].format(case["status_notes"]))
    if status != "closed" and case.get("expected_datetime"):
        parts.append(words["expected"].format(format_time(case["expected_datetime"])))
    if case.get("provisional"):
        parts.append(words["provisional"])
    return words["sep"].join(parts)


class ActionCheckTicket(Action):
    def name(self) -> str:
        return "action_check_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = message_text(tracker)
        reference = find_ticket_id(text) or find_ticket_id(tracker.get_slot("ticket_id") or "")
        try:
            if reference:
                case = outbox().status(reference)
                if case is None:
                    dispatcher.utter_message(response="utter_ticket_not_found", reference=reference)
                    return []
                # The case's own data (notes written by staff), already in the conversation's language.
                dispatcher.utter_message(text=describe(case, reply_language(tracker)))
                return [SlotSet("last_ticket_id", reference)]
            metadata = message_metadata(tracker)
            cases = outbox().cases_for(sender_id=tracker.sender_id, phone=metadata.get("phone"))
        except Exception:
            log.exception("ticket lookup failed")
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
            return []
        if not cases:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        language = reply_language(tracker)
        dispatcher.utter_message(response="utter_ticket_list",
                                 cases="\n".join(describe(case, language) for case in cases[:5]))
        return [SlotSet("last_ticket_id", cases[0].get("reference") or cases[0].get("service_request_id"))]


class ActionRateService(Action):
    def name(self) -> str:
        return "action_rate_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = message_text(tracker)
        score = parse_rating(text)
        reference = find_ticket_id(text) or tracker.get_slot("last_ticket_id")
        if score is None:
            dispatcher.utter_message(response="utter_ask_rating")
            return []
        if not reference:
            dispatcher.utter_message(response="utter_ask_rating_ticket")
            return []
        try:
            accepted = outbox().rate(reference, score, text)
        except Exception:
            log.exception("rating failed")
            accepted = False
        if accepted:
            dispatcher.utter_message(response="utter_rating_thanks", score=score)
        else:
            dispatcher.utter_message(response="utter_rating_rejected", reference=reference)
        return []
