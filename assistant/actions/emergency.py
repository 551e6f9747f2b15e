"""Emergencies: safety advice and the right emergency number come FIRST, then the place, then an
urgent ticket. Advice never waits on a backend call."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.tickets import submit_ticket
from assistant.actions.validators import NOT_AN_ANSWER_INTENTS, message_intent, message_text, place_mentioned
from common import settings

# (kind, keywords, advice) — checked in order; the first match wins.
ADVICE: list[tuple[str, tuple[str, ...], str]] = [
    ("gas", ("煤气", "燃气", "天然气", "液化气", "气味", "漏气"),
     "请立即关闭燃气阀门，打开门窗通风，不要开关电器、不要打电话或使用明火，马上撤离到室外，"
     "到安全地点后拨打 119 或燃气公司抢修电话。"),
    ("fire", ("火", "烟", "烧", "爆炸"),
     "请立即拨打 119！用湿毛巾捂住口鼻、弯腰沿安全出口撤离，不要乘坐电梯，不要返回取物。"),
    ("medical", ("晕", "倒", "受伤", "流血", "骨折", "摔", "昏迷", "心脏", "喘不上气", "抽搐", "不省人事"),
     "请立即拨打 120！不要随意搬动伤者，保持呼吸道通畅，按压止血，留人在旁陪护并等待救护车。"),
    ("violence", ("打架", "打人", "持刀", "抢劫", "家暴", "砍", "威胁", "偷"),
     "请立即拨打 110！先保护好自身安全，远离危险人员，到人多安全的地方等待民警。"),
    ("flood", ("淹", "进水", "漏水", "积水", "水管爆"),
     "请先关闭总水阀和电闸，远离带电设备，把老人孩子转移到安全地方；有人员危险请拨打 119。"),
]
GENERAL = "如有生命危险，请立即拨打 110（治安）、119（火警）或 120（急救）。"


def advice_for(text: str) -> tuple[str, str]:
    for kind, words, advice in ADVICE:
        if any(word in text for word in words):
            return kind, advice
    return "other", GENERAL


class ActionEmergencyAdvice(Action):
    def name(self) -> str:
        return "action_emergency_advice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = message_text(tracker)
        kind, advice = advice_for(text)
        dispatcher.utter_message(text=advice)
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
        events = submit_ticket(
            dispatcher, tracker, service_code=settings.section("actions").get("emergency_service_code", "emergency"),
            description=f"紧急求助（{tracker.get_slot('emergency_kind') or 'other'}）：{first_report}",
            address_string=tracker.get_slot("emergency_location") or "", phone=None, urgent=True,
        )
        dispatcher.utter_message(text="已按紧急情况通知指挥中心。请保持电话畅通，注意安全。")
        return [*events, SlotSet("emergency_location", None), SlotSet("emergency_kind", None)]
