"""The dialler's AMI session: telephony's :class:`~telephony.ami.AmiClient` plus the call events of our attempts.

Why a subclass: the telephony client keeps one manager session alive (reconnect with back-off, ``Ping``
against asterisk-ami's read timeout, ``Logoff`` before closing) and listens only to the voice bot's
``GovbotCall`` event. The dialler also needs ``OriginateResponse``, ``Hangup`` and our dialplan's
``GovbotAmd`` UserEvent; each new library connection gets that listener before it connects (``listen``),
so no Originate can be sent on it before it is heard. Events are handed to the event loop with
``call_soon_threadsafe``, never handled on the library's reader thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telephony.ami import AmiClient

CALL_EVENTS = ["OriginateResponse", "Hangup", "UserEvent"]
AMD_EVENT = "GovbotAmd"
EVENT_CLASSES = "system,call,user"


class DiallerAmi(AmiClient):
    def __init__(self, *args: Any, on_call_event: Callable[[str, dict[str, str]], None], **kwargs: Any) -> None:
        self._on_call_event = on_call_event
        super().__init__(*args, events=EVENT_CLASSES, **kwargs)

    @classmethod
    def for_dialler(cls, telephony: dict[str, Any], reconnect_s: float, reconnect_max_s: float,
                    on_call_event: Callable[[str, dict[str, str]], None]) -> DiallerAmi:
        """The Asterisk of ``[telephony]`` (address, user, the secret manager.conf is rendered with)."""
        from common import settings

        return cls(telephony["host"], int(telephony["ami_port"]), telephony["ami_user"],
                   settings.read_or_create_secret(telephony["ami_secret_file"]), reconnect_s,
                   float(telephony["ami_timeout_s"]), float(telephony["ami_ping_s"]), reconnect_max_s,
                   on_call_event=on_call_event)

    def listen(self, client: Any) -> None:
        client.add_event_listener(self._forward, white_list=CALL_EVENTS)

    def _forward(self, event: Any, source: Any = None) -> None:
        """On the library's reader thread: pass the event's name and fields to the loop."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._on_call_event, event.name, dict(event.keys))
        except RuntimeError:
            pass  # the loop closed while the dialler shuts down


def is_amd_event(name: str, fields: dict[str, str]) -> bool:
    return name == "UserEvent" and fields.get("UserEvent") == AMD_EVENT


__all__ = ["AMD_EVENT", "DiallerAmi", "is_amd_event"]
