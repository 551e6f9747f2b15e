"""The signature of status webhooks, shared by every sender (the embedded server, the outbox's poller)
and the receiver (the gateway's ``/hooks/dispatch``): one definition, so they cannot drift apart.

Standard library only (both environments).
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Dispatch-Signature"


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes with the shared webhook secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(given: str, body: bytes, secret: str) -> bool:
    """Constant-time check of a received signature header."""
    return bool(given) and hmac.compare_digest(given.strip(), signature(body, secret))
