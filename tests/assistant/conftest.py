"""Helpers for driving actions with real rasa_sdk trackers (Rasa environment)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def make_tracker(text: str, intent: str, entities: list[dict[str, Any]] | None = None,
                 slots: dict[str, Any] | None = None, active_loop: str | None = None) -> Tracker:
    return Tracker(
        sender_id="test-resident", slots=dict(slots or {}),
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9},
                        "entities": entities or [], "metadata": {}},
        events=[{"event": "user", "text": text}], paused=False, followup_action=None,
        active_loop={"name": active_loop} if active_loop else {}, latest_action_name="action_listen",
    )


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()
