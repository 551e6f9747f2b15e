"""Which language the assistant answers in: Mandarin, unless the resident writes English.

Most channels do not know the resident's language, so every message decides from its text, and a
resident who switches language mid-conversation is followed. Only a message that
carries words decides: any Chinese character means Mandarin; mainly Latin letters means English.
Digits, ticket and phone numbers, punctuation, button payloads (``/affirm``, ``5分``) and a bare
"ok"/"yes"/"no" keep the current language, so a Mandarin speaker typing "ok" stays in Mandarin.
A client that knows better (an app's language setting) passes ``metadata.lang``, which wins.

The choice lives in the ``language`` slot. Its custom slot mapping names ``action_detect_language``,
so Rasa's ``action_extract_slots`` runs it after every user message, before the next reply is
chosen; every response in the domain has an English variation conditioned on that slot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.validators import message_metadata, message_text

ZH, EN = "zh", "en"
DEFAULT = ZH
SLOT = "language"
# Han ideographs (with extensions), kana and hangul: none of them is English.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f]")
LATIN = re.compile(r"[A-Za-z]")
# Button payloads: an intent (/affirm) or a rating button (5分) says nothing about the resident's language.
PAYLOAD = re.compile(r"^\s*(?:/\w.*|[1-5]\s*分)\s*$", re.DOTALL)
# Words a Mandarin speaker types too.
NEUTRAL_WORDS = frozenset({"ok", "okay", "yes", "no", "y", "n"})


def language_of_text(text: str) -> str | None:
    """``zh`` or ``en`` when the words of ``text`` show a language; None when they do not."""
    if not text or PAYLOAD.match(text):
        return None
    if CJK.search(text):
        return ZH
    # Tokens with digits are ticket numbers (GB20261123-0001), phones or temperatures, not words.
    words = " ".join(token for token in text.split() if not any(ch.isdigit() for ch in token))
    latin = len(LATIN.findall(words))
    letters = sum(ch.isalpha() for ch in words)
    if latin < 2 or latin * 2 <= letters:  # too short, or mostly another script
        return None
    if all(word in NEUTRAL_WORDS for word in re.findall(r"[a-z]+", words.lower())):
        return None
    return EN


def requested_language(metadata: Mapping[str, Any] | None) -> str | None:
    """The language a client asked for in ``metadata.lang`` (``en``, ``en-US``, ``zh_CN``…), if we speak it."""
    value = (metadata or {}).get("lang")
    if not isinstance(value, str):
        return None
    primary = value.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in (ZH, EN) else None


def choose_language(text: str, metadata: Mapping[str, Any] | None, previous: str | None) -> str:
    """The reply language after this message: the client's explicit choice, else the text's, else unchanged."""
    current = previous if previous in (ZH, EN) else DEFAULT
    return requested_language(metadata) or language_of_text(text) or current


def reply_language(tracker: Tracker) -> str:
    """The language of this conversation, for the few actions that format data (not sentences) themselves."""
    value = tracker.get_slot(SLOT)
    return value if value in (ZH, EN) else DEFAULT


class ActionDetectLanguage(Action):
    """Fills the ``language`` slot; run by ``action_extract_slots`` after every user message."""

    def name(self) -> str:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        previous = tracker.get_slot(SLOT)
        language = choose_language(message_text(tracker), message_metadata(tracker), previous)
        return [] if language == previous else [SlotSet(SLOT, language)]
