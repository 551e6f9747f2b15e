"""Resident sessions: a signed, expiring token that binds a browser or app to one gateway-made sender id.

Why signed tokens and not a session table: any gateway process holding the key (several behind one
load balancer on the scale path) verifies a session without a shared store, and nothing a client
writes in a message body can name someone else's conversation. itsdangerous signs and dates the
token (HMAC-SHA1 over the payload and a timestamp); the key is a generated secret under the data dir.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from common import settings

SALT = "govbot.resident-session"
# Gateway-made sender ids live in this namespace; no trusted client may be named after it.
RESIDENT_NAMESPACE = "resident"


class SessionInvalid(Exception):
    """The token is forged, altered, signed with another key, or expired (``expired`` says which)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _signer_with_clock(clock: Callable[[], float]) -> type[TimestampSigner]:
    """itsdangerous reads ``time.time()``; tests sign tokens in the past through this clock instead."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockSigner


class ResidentSessions:
    def __init__(self, key: str, lifetime_s: float, clock: Callable[[], float] = time.time) -> None:
        self.lifetime_s = float(lifetime_s)
        self._serializer = URLSafeTimedSerializer(key, salt=SALT, signer=_signer_with_clock(clock))

    @classmethod
    def from_settings(cls) -> ResidentSessions:
        key = settings.read_or_create_secret(settings.section("security")["session_key_file"])
        return cls(key, float(settings.section("gateway")["session_lifetime_s"]))

    @staticmethod
    def new_sender() -> str:
        """A sender id nobody can guess or choose: the conversation's name in Rasa, the outbox, hand-offs."""
        return f"{RESIDENT_NAMESPACE}:{secrets.token_hex(16)}"

    def issue(self, sender: str) -> str:
        return self._serializer.dumps({"sender": sender})

    def verify(self, token: str) -> str:
        """The sender the token was issued for; raises SessionInvalid."""
        try:
            payload: Any = self._serializer.loads(token, max_age=self.lifetime_s)
        except SignatureExpired:
            raise SessionInvalid(expired=True) from None
        except BadSignature:
            raise SessionInvalid(expired=False) from None
        sender = payload.get("sender") if isinstance(payload, dict) else None
        if not isinstance(sender, str) or not sender.startswith(f"{RESIDENT_NAMESPACE}:"):
            raise SessionInvalid(expired=False)
        return sender
