"""A question the knowledge base cannot answer becomes a 政策咨询 ticket, end to end through the real stack:
the offer, the resident's yes, and a real ticket in the dispatch backend under the configured service code."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from common import settings

pytestmark = pytest.mark.e2e
UNANSWERED = "无人机飞行需要报备吗"  # no FAQ entry covers drones (the seed's search answers "none")
OFFER = "需要我为您登记一个政策咨询"


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def test_an_unanswered_question_becomes_a_policy_ticket(stack) -> None:
    sender = f"consult-{uuid.uuid4().hex[:6]}"
    offer = stack.chat(sender, UNANSWERED)
    assert OFFER in texts(offer), offer
    accept = next(b["payload"] for m in offer for b in m.get("buttons") or [] if b["title"] == "需要")
    filed = texts(stack.chat(sender, accept))
    match = re.search(r"GB\d{8}-\d{4}", filed)
    assert match, filed  # a real number: the backend took the ticket (not "暂时无法登记", not provisional)
    ticket = httpx.get(f"{stack.dispatch}/api/dispatch/tickets/{match.group(0)}", headers=stack.staff(), timeout=10)
    assert ticket.status_code == 200, ticket.text
    case = ticket.json()
    assert case["service_code"] == settings.section("dispatch")["consultation_service_code"] == "policy"
    assert case["service_name"] == "政策咨询" and UNANSWERED in case["description"]
    assert case["sender_id"] == stack.sender_id(sender)
