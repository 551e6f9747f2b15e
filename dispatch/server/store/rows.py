"""Value objects of the dispatch store and the conversions between Python and stored rows.

Times are stored as naive UTC (SQLite has no zone type); rows come back with UTC attached and JSON
columns decoded, so the rest of the server only ever sees aware datetimes and Python values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

OPEN_STATUSES = ("submitted", "signed", "assigned", "reopened")
STAGE_NAMES = {"sign": "签收", "dispatch": "派遣", "close": "办结"}
SYSTEM = "系统"


class TransitionError(Exception):
    """A dispatcher action that the case's state does not allow (the API answers 409)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class NewRequest:
    """A validated POST requests: what the resident reported, and where from."""

    service_code: str
    description: str = ""
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    grid: str | None = None
    media_url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    channel: str | None = None
    sender_id: str | None = None
    transcript: str | None = None
    urgent: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Filters:
    """GET requests filters (the spec's, plus ``phone``/``sender_id`` for a resident's own cases)."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # public: open / closed
    start: datetime | None = None
    end: datetime | None = None
    phone: str | None = None
    sender_id: str | None = None
    channel: str | None = None
    limit: int = 1000


def db_time(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt


TIME_COLUMNS = ("requested_at", "updated_at", "signed_at", "assigned_at", "closed_at",
                 "sign_due", "dispatch_due", "close_due", "at", "due_at", "detected_at", "resolved_at")


def row_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in TIME_COLUMNS:
        if key in data:
            data[key] = aware(data[key])
    for key in ("attributes", "co_departments"):
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    return data

