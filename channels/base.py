"""The channel interface, after Rasa's ``InputChannel``: ``name()``, ``from_settings()``, ``blueprint()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint


@dataclass
class UserMessage:
    """What a resident said, on which channel, with channel facts (phone, place, caller id).

    ``client`` names the trusted client that vouches for the sender and its identity metadata
    (gateway/identity.py); None for a resident's own session, whose identity metadata the gateway drops.
    """

    sender: str
    text: str
    channel: str
    metadata: dict[str, Any] = field(default_factory=dict)
    client: str | None = None


@dataclass
class BotMessage:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)  # [{"title": ..., "payload": ...}]
    custom: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.buttons:
            body["buttons"] = self.buttons
        if self.custom:
            body["custom"] = self.custom
        return body


OnNewMessage = Callable[[UserMessage], Awaitable[list[BotMessage]]]


class InputChannel(ABC):
    @classmethod
    @abstractmethod
    def name(cls) -> str:
        """Short channel name, recorded with every message (``rest``, ``voice``, ``phone``…)."""

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> InputChannel:
        """Build the channel from the gateway's settings section."""
        return cls()

    @abstractmethod
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The web routes of this channel; they call ``on_new_message`` for each resident message."""
