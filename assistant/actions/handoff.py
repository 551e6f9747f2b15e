"""Hand-off to a person: tell the gateway, then pause the bot for this conversation.

Pausing uses Rasa's own ConversationPaused event: while paused, Rasa records what the resident
says but does not answer; staff resume the conversation from the console (gateway → Rasa API).
The gateway learns of the request from the custom ``handoff`` message this action sends.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.validators import message_text


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        reason = message_text(tracker)
        dispatcher.utter_message(response="utter_handoff_waiting")
        dispatcher.utter_message(json_message={"handoff": {"reason": reason,
                                                           "channel": tracker.get_latest_input_channel()}})
        return [ActiveLoop(None), SlotSet("requested_slot", None), ConversationPaused()]
