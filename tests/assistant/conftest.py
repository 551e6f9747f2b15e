"""Helpers for driving actions with real rasa_sdk trackers (Rasa environment)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

DOMAIN = Path(__file__).resolve().parents[2] / "assistant" / "domain.yml"


def make_tracker(text: str, intent: str, entities: list[dict[str, Any]] | None = None,
                 slots: dict[str, Any] | None = None, active_loop: str | None = None,
                 metadata: dict[str, Any] | None = None) -> Tracker:
    return Tracker(
        sender_id="test-resident", slots=dict(slots or {}),
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9},
                        "entities": entities or [], "metadata": metadata or {}},
        events=[{"event": "user", "text": text}], paused=False, followup_action=None,
        active_loop={"name": active_loop} if active_loop else {}, latest_action_name="action_listen",
    )


@lru_cache(maxsize=1)
def _nlg() -> Any:
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain

    return TemplatedNaturalLanguageGenerator(Domain.load(str(DOMAIN)).responses)


def render(message: dict[str, Any], language: str = "zh") -> dict[str, Any]:
    """What Rasa sends for a dispatcher message, as RemoteAction does: the domain response in the
    conversation's language, filled with the message's arguments, plus any buttons the action added."""
    if not message.get("response"):
        return {"text": message.get("text"), "buttons": message.get("buttons") or []}
    arguments = {k: v for k, v in message.items() if k not in ("response", "template", "buttons")}
    draft = _nlg().generate_from_slots(message["response"], {"language": language}, "rest", **arguments)
    assert draft is not None, f"no response {message['response']} in the domain"
    return {"text": draft.get("text"), "buttons": [*(draft.get("buttons") or []), *(message.get("buttons") or [])]}


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()
