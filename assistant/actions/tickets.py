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
from assistant.actions.validators import find_ticket_id, message_text, parse_rating

log = logging.getLogger(__name__)
STATUS_WORDS = {"open": "处理中", "closed": "已办结"}


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

    metadata = tracker.latest_message.get("metadata") or {}
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
        dispatcher.utter_message(text="抱歉，系统暂时无法登记，请稍后再试，或说“转人工”。")
        return []
    promise = f"，我们将在 {format_time(receipt.expected_datetime)} 前处理" if receipt.expected_datetime else ""
    if receipt.provisional:
        dispatcher.utter_message(
            text=f"已为您登记，临时编号 {receipt.reference}。派单系统正忙，工单会自动补交，"
                 f"您可以随时用这个编号查询进度。"
        )
    else:
        dispatcher.utter_message(
            text=f"已为您登记，工单号 {receipt.reference}（{receipt.service_name}）{promise}。"
                 f"可随时发送“查询工单 {receipt.reference}”了解进度。"
        )
    return [SlotSet("last_ticket_id", receipt.reference)]


def describe(case: dict[str, Any]) -> str:
    status = STATUS_WORDS.get(case.get("status") or "", case.get("status") or "未知")
    parts = [f"工单 {case.get('service_request_id') or case.get('reference')}：{status}"]
    if case.get("service_name"):
        parts.append(f"类别：{case['service_name']}")
    if case.get("status_notes"):
        parts.append(f"进展：{case['status_notes']}")
    if case.get("status") != "closed" and case.get("expected_datetime"):
        parts.append(f"预计办结：{format_time(case['expected_datetime'])}")
    if case.get("provisional"):
        parts.append("（派单系统暂不可用，工单已保存，恢复后自动提交）")
    return "；".join(parts)


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
                    dispatcher.utter_message(text=f"没有找到工单 {reference}，请核对编号。")
                    return []
                dispatcher.utter_message(text=describe(case))
                return [SlotSet("last_ticket_id", reference)]
            metadata = tracker.latest_message.get("metadata") or {}
            cases = outbox().cases_for(sender_id=tracker.sender_id, phone=metadata.get("phone"))
        except Exception:
            log.exception("ticket lookup failed")
            dispatcher.utter_message(text="抱歉，工单系统暂时无法查询，请稍后再试。")
            return []
        if not cases:
            dispatcher.utter_message(text="没有查到您名下的工单。请告诉我工单号（例如 GB20261123-0001）。")
            return []
        dispatcher.utter_message(text="您的工单：\n" + "\n".join(describe(case) for case in cases[:5]))
        return [SlotSet("last_ticket_id", cases[0].get("reference") or cases[0].get("service_request_id"))]


class ActionRateService(Action):
    def name(self) -> str:
        return "action_rate_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = message_text(tracker)
        score = parse_rating(text)
        reference = find_ticket_id(text) or tracker.get_slot("last_ticket_id")
        if score is None:
            dispatcher.utter_message(text="请为处理结果打分：1 到 5 分，5 分最满意。",
                                     buttons=[{"title": f"{n}分", "payload": f"{n}分"} for n in (5, 4, 3, 2, 1)])
            return []
        if not reference:
            dispatcher.utter_message(text="请问您要评价的是哪个工单？请告诉我工单号。")
            return []
        try:
            accepted = outbox().rate(reference, score, text)
        except Exception:
            log.exception("rating failed")
            accepted = False
        if accepted:
            dispatcher.utter_message(text=f"感谢您的评价（{score}分），我们会继续改进服务。")
        else:
            dispatcher.utter_message(
                text=f"工单 {reference} 目前还不能评价（需办结后评价），或暂时无法提交，请稍后再试。")
        return []
