"""The outbox's value objects and the small rules every part of it shares (states, references, phones)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dispatch.limits import DESCRIPTION_MAX

REFERENCE_PREFIX = "TMP-"
REFERENCE_HEX = 4  # "TMP-20261123-7F3A": short enough to read out on the phone; collisions are retried
REFERENCE_ATTEMPTS = 8
PENDING, TOKEN, SENT, REJECTED = "pending", "token", "sent", "rejected"
NOTE_PENDING = "工单已登记，正在提交到受理平台；受理后将生成正式工单号。"
NOTE_REJECTED = "受理平台未接受该工单（{reason}），请重新反映或拨打 12345 热线。"
NOTE_BLACKBOX = "工单已提交，受理平台不提供工单号。"
PROVISIONAL = re.compile(r"TMP-(?P<day>\d{8})-(?P<hex>[0-9A-F]{4,})", re.IGNORECASE)
_TMP = re.compile(rf"^{PROVISIONAL.pattern}$", re.IGNORECASE)


@dataclass
class TicketDraft:
    """What the dialogue collected. A location is required: lat+long, address_string or address_id.

    ``idempotency_key`` may be set by the caller (e.g. derived from the conversation) so that an action
    retried by Rasa does not file the ticket twice; by default each draft gets a fresh one.
    """

    service_code: str
    description: str = ""
    address_string: str = ""
    lat: float | None = None
    long: float | None = None
    phone: str = ""
    sender_id: str = ""
    channel: str = ""
    transcript: str = ""
    urgent: bool = False
    address_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""

    def validate(self) -> None:
        """Raise ValueError before anything is stored: a ticket the server must reject is not queued."""
        if not str(self.service_code or "").strip():
            raise ValueError("service_code is required")
        has_point = self.lat is not None and self.long is not None
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        if has_point and not (-90 <= float(self.lat) <= 90 and -180 <= float(self.long) <= 180):  # type: ignore[arg-type]
            raise ValueError("lat/long out of range")
        if not (has_point or str(self.address_string).strip() or str(self.address_id).strip()):
            raise ValueError("a location is required: lat+long, address_string or address_id")

    def form(self) -> dict[str, Any]:
        """The ticket's form fields (GeoReport v2 fields first, then our extensions)."""
        description = self.description or ""
        if len(description) > DESCRIPTION_MAX:  # the full text still travels in the transcript
            description = description[: DESCRIPTION_MAX - 1] + "…"
        return {
            "service_code": self.service_code, "description": description,
            "lat": self.lat, "long": self.long, "address_string": self.address_string,
            "address_id": self.address_id, "phone": normalize_phone(self.phone),
            "sender_id": self.sender_id, "channel": self.channel, "transcript": self.transcript,
            "urgent": True if self.urgent else None,
        }


@dataclass
class Receipt:
    """What the resident is told: the reference (real number, or provisional TMP-… when queued)."""

    reference: str
    provisional: bool
    expected_datetime: str | None = None
    service_name: str = ""
    service_request_id: str | None = None
    service_notice: str | None = None


@dataclass
class DrainResult:
    """One drain pass: how many tickets were sent, are still waiting (backend down), were rejected."""

    claimed: int = 0
    sent: int = 0
    unavailable: int = 0
    rejected: int = 0

    def add(self, other: DrainResult) -> None:
        for name in ("claimed", "sent", "unavailable", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def normalize_phone(phone: str | None) -> str:
    """Digits only, without +86: "138-0013-8000" and "+86 13800138000" are the same resident."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def is_provisional(reference: str) -> bool:
    return bool(_TMP.match(reference or ""))


def iso(epoch: float | None) -> str | None:
    """ISO 8601 with the zone as ±HH:MM, like the server's times (so they sort together)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
