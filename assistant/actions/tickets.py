"""Tickets: submit through the durable outbox, report status, take ratings.

Every ticket goes through ``dispatch.outbox``: it is stored locally before it is sent, so a
backend that is down costs the resident nothing but a provisional reference (TMP-…) that later
resolves to the real number. Every outbox call runs off the event loop (``clients.dispatch_call``).

Case numbers are sequential, so naming one proves nothing: the outbox's access rules
(``dispatch.outbox.access``) decide what an asker sees. The reporter (same sender, or the verified
phone the channel vouches for) sees the whole case and may rate it once; anyone else sees the
public fields unless they add the last four digits of the case's contact phone to the question.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.clients import dispatch_call, outbox
from assistant.actions.language import reply_language
from assistant.actions.validators import (
    find_last_digits,
    find_ticket_id,
    message_metadata,
    message_text,
    parse_rating,
    verified_phone,
)
from common import settings

log = logging.getLogger(__name__)
LISTED_CASES = 5  # cases shown by "查我的工单" (newest first)
# A case summary has optional parts (notes, deadline…), which a response template cannot leave out, so
# describe() assembles it from these words in the conversation's language; every fixed sentence is a
# response in the domain.
CASE_WORDS: dict[str, dict[str, str]] = {
    "zh": {"open": "处理中", "closed": "已办结", "unknown": "未知", "head": "工单 {}：{}", "category": "类别：{}",
           "address": "地点：{}", "description": "问题：{}", "notes": "进展：{}", "expected": "预计办结：{}",
           "sep": "；", "provisional": "（派单系统暂不可用，工单已保存，恢复后自动提交）"},
    "en": {"open": "in progress", "closed": "closed", "unknown": "unknown", "head": "Ticket {}: {}",
           "category": "category: {}", "address": "place: {}", "description": "problem: {}",
           "notes": "progress: {}", "expected": "expected completion: {}", "sep": "; ",
           "provisional": "(the dispatch system is unavailable; the ticket is saved and will be submitted "
                          "automatically)"},
}
RATING_REPLIES = {"rated": "utter_rating_thanks", "not_reporter": "utter_rating_not_reporter",
                  "already_rated": "utter_rating_already_rated"}  # anything else: utter_rating_rejected


def filing_code(purpose: str) -> str:
    """The backend's service code for tickets the assistant files by itself (``consultation``,
    ``emergency``, ``health``): ``[dispatch] <purpose>_service_code``, checked against the catalogue by tests."""
    return str(settings.section("dispatch")[f"{purpose}_service_code"])


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


def asker_of(tracker: Tracker, text: str) -> Any:
    """Who is asking about a case: the channel's identity, plus any last digits given with the question."""
    from dispatch.outbox import Asker

    return Asker(sender_id=tracker.sender_id or "", verified_phone=verified_phone(tracker) or "",
                 phone_last4=find_last_digits(text))


async def submit_ticket(dispatcher: CollectingDispatcher, tracker: Tracker, *, service_code: str, description: str,
                        address_string: str, phone: str | None, urgent: bool = False,
                        coordinates: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """File one ticket and tell the resident its number and promised time; returns slot events.

    The description is cut to the Open311 limit by the outbox (the transcript keeps the full text).
    """
    from dispatch.outbox import TicketDraft

    metadata = message_metadata(tracker)
    lat, long = coordinates or (metadata.get("lat"), metadata.get("long"))
    draft = TicketDraft(
        service_code=service_code, description=description, address_string=address_string,
        lat=lat, long=long, phone=phone or metadata.get("phone"), sender_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "rest", transcript=transcript(tracker), urgent=urgent,
    )
    try:
        receipt = await dispatch_call(lambda: outbox().submit(draft))
    except Exception:  # the outbox store itself failed, or the backend refused the ticket: say so, never pretend
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


def describe(case: dict[str, Any], language: str = "zh", brief: bool = False) -> str:
    """One line per case: number, status, category, and what the asker may see of place, problem,
    progress notes and promised date (a public view carries none of place, problem, notes). ``brief``
    (the list of one's own cases) leaves out place and problem, which the resident knows."""
    words = CASE_WORDS.get(language, CASE_WORDS["zh"])
    status = case.get("status") or ""
    label = words[status] if status in ("open", "closed") else status or words["unknown"]
    parts = [words["head"].format(case.get("service_request_id") or case.get("reference"), label)]
    shown = ("service_name", "status_notes") if brief else ("service_name", "address", "description", "status_notes")
    for key in shown:
        if case.get(key):
            parts.append(words[{"service_name": "category", "status_notes": "notes"}.get(key, key)].format(case[key]))
    if status != "closed" and case.get("expected_datetime"):
        parts.append(words["expected"].format(format_time(case["expected_datetime"])))
    if case.get("provisional"):
        parts.append(words["provisional"])
    return words["sep"].join(parts)


class ActionCheckTicket(Action):
    def name(self) -> str:
        return "action_check_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        from dispatch.outbox import PUBLIC

        text = message_text(tracker)
        reference = find_ticket_id(text) or find_ticket_id(tracker.get_slot("ticket_id") or "")
        asker = asker_of(tracker, text)
        try:
            if reference:
                found = await dispatch_call(lambda: outbox().lookup(reference, asker))
                if found is None:
                    dispatcher.utter_message(response="utter_ticket_not_found", reference=reference)
                    return []
                case = found.case  # what this asker may see; staff notes stay as written (Chinese)
                dispatcher.utter_message(text=describe(case, reply_language(tracker)))
                if found.access == PUBLIC:
                    hint = "utter_ticket_phone_mismatch" if found.digits_rejected else "utter_ticket_details_hint"
                    dispatcher.utter_message(response=hint, reference=case.get("reference") or reference)
                return [SlotSet("last_ticket_id", reference)]
            cases = await dispatch_call(lambda: outbox().cases_for(sender_id=tracker.sender_id,
                                                                   phone=verified_phone(tracker)))
        except Exception:
            log.exception("ticket lookup failed")
            dispatcher.utter_message(response="utter_ticket_lookup_failed")
            return []
        if not cases:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        language = reply_language(tracker)
        dispatcher.utter_message(response="utter_ticket_list",
                                 cases="\n".join(describe(case, language, brief=True) for case in cases[:LISTED_CASES]))
        return [SlotSet("last_ticket_id", cases[0].get("reference") or cases[0].get("service_request_id"))]


class ActionRateService(Action):
    """Only the reporter rates a case (the outbox checks; the backend allows one rating per case)."""

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
        asker = asker_of(tracker, text)
        try:
            outcome = await dispatch_call(lambda: outbox().rate_as(reference, score, text, asker))
        except Exception:
            log.exception("rating failed")
            outcome = "unavailable"
        response = RATING_REPLIES.get(outcome, "utter_rating_rejected")
        dispatcher.utter_message(response=response, reference=reference, score=score)
        return []
