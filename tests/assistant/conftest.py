"""Helpers for driving actions with real rasa_sdk trackers (Rasa environment)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

DOMAIN = Path(__file__).resolve().parents[2] / "assistant" / "domain.yml"


def make_tracker(text: str, intent: str, entities: list[dict[str, Any]] | None = None,
                 slots: dict[str, Any] | None = None, active_loop: str | None = None,
                 metadata: dict[str, Any] | None = None, sender_id: str = "test-resident") -> Tracker:
    return Tracker(
        sender_id=sender_id, slots=dict(slots or {}),
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


@contextmanager
def backends(data_dir: Path, **dispatch: Any) -> Iterator[None]:
    """Point the actions at real backends for one test: ``[dispatch]`` keys as overrides (an outbox in
    ``data_dir``, the secrets of ``data_dir``), ``kb_url`` for the knowledge base's search API."""
    from assistant.actions import clients
    from common import settings

    kb_url = dispatch.pop("kb_url", None)
    env = {"GOVBOT__PATHS__DATA_DIR": str(data_dir),
           "GOVBOT__DISPATCH__OUTBOX_DB_URL": f"sqlite:///{data_dir}/outbox.sqlite3",
           **{f"GOVBOT__DISPATCH__{key.upper()}": str(value) for key, value in dispatch.items()}}
    if kb_url:
        env["GOVBOT__KNOWLEDGE_BASE__API_URL"] = kb_url
    clients.outbox.cache_clear()
    try:
        with settings.overrides(env):
            yield
    finally:
        clients.outbox.cache_clear()
