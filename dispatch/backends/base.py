"""The ticket backend behind the outbox: the one interface a command centre's system has to offer.

Why an interface: the assistant files, follows and rates tickets, but the system that owns them differs
per district (our embedded Open311 server, another GeoReport v2 server, a vendor's case system). As in
mySociety's open311-adapter, each kind of system is one module under ``dispatch/backends/`` implementing
:class:`TicketBackend`; ``[dispatch] backend`` names it and :func:`dispatch.backends.from_settings` loads it.
The outbox (durable, idempotent submission) sits in front and never speaks a wire protocol itself.

Cases cross this interface as plain dicts shaped like a GeoReport v2 request (``service_request_id``,
``status`` = open/closed, ``status_notes``, ``service_code``, ``service_name``, ``description``, ``address``,
``requested_datetime``, ``updated_datetime``, ``expected_datetime``): the lingua franca of the field, and what
a non-Open311 module maps its own records to.

Standard library only: the Rasa action server (3.10) and our services (3.11) both import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class BackendError(Exception):
    """Base of a backend's errors; ``status`` is the HTTP status when there was one.

    ``errors`` are the backend's own ``[{"code", "description", "reason"?}]``; ``reason`` is a stable
    machine-readable word where the backend gives one (``already_rated``, ``not_closed``).
    """

    def __init__(self, message: str, status: int | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []

    @property
    def description(self) -> str:
        """The backend's own error descriptions joined, or the message."""
        texts = [str(e.get("description") or e.get("code") or "") for e in self.errors if isinstance(e, dict)]
        return "；".join(t for t in texts if t) or str(self)

    @property
    def reason(self) -> str:
        """The first machine-readable reason the backend gave, or ""."""
        return next((str(e["reason"]) for e in self.errors if isinstance(e, dict) and e.get("reason")), "")


class BackendUnavailable(BackendError):
    """No usable answer (unreachable, timeout, 5xx, rate limited): the request may be fine, try again later."""


class BackendRejected(BackendError):
    """The backend refused the request itself (missing field, unknown service, bad key): retrying will not help."""


class BackendNotFound(BackendRejected):
    """No such service, case or token."""


@dataclass(frozen=True)
class ServiceInfo:
    """One category residents can report (a GeoReport v2 service)."""

    code: str
    name: str
    group: str = ""


@dataclass(frozen=True)
class Submitted:
    """The backend's answer to a new ticket: its number, or only a token when numbers are assigned later.

    ``known`` holds case fields the answer already carried (status, expected_datetime …), so the outbox
    can answer status questions while the backend is unreachable.
    """

    service_request_id: str | None
    token: str | None = None
    known: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """Who reported a case, as the backend recorded it (for "is the asker the reporter?" checks)."""

    sender_id: str = ""
    phone: str = ""


@runtime_checkable
class TicketBackend(Protocol):
    """What the outbox and the actions need from a command centre's system.

    ``reference_pattern`` finds this backend's ticket numbers in what a resident typed or said (after the
    actions turned spoken digits into digits, removed spaces and upper-cased it); ``reference_format``
    turns a match into the canonical number (``str.format`` over the match's named groups; empty: the
    match itself). Service codes and names come from :meth:`services`, never from code.
    """

    name: str
    reference_pattern: re.Pattern[str]
    reference_format: str
    pushes_updates: bool  # the backend tells the gateway of changes itself (else the outbox polls it)

    def services(self) -> list[ServiceInfo]:
        """The backend's categories (cached by the implementation; may raise BackendUnavailable)."""
        ...

    def submit(self, form: Mapping[str, Any], attributes: Mapping[str, Any], idempotency_key: str,
               timeout_s: float | None = None) -> Submitted:
        """Create a case. The same ``idempotency_key`` twice must answer the original case, not a second one.

        ``form`` has the GeoReport v2 fields (service_code, description, address_string or lat/long,
        phone) and ours (sender_id, channel, transcript, urgent). Raises BackendUnavailable (retry later)
        or BackendRejected (never retried).
        """
        ...

    def resolve_token(self, token: str) -> str | None:
        """The number behind a token from :meth:`submit`, None while not assigned yet."""
        ...

    def status(self, service_request_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        """One case (the dict shape of the module docstring); BackendNotFound when there is none."""
        ...

    def updates(self, service_request_ids: Sequence[str], since: str | None = None) -> list[dict[str, Any]]:
        """The current state of these cases, for change detection by the outbox's poller. ``since`` (ISO 8601,
        the previous poll) lets a backend with a change feed answer only what changed; others ignore it."""
        ...

    def cases_for(self, sender_id: str | None, phone: str | None) -> list[dict[str, Any]] | None:
        """Cases filed by this resident anywhere (by channel identity or phone); None when the backend
        cannot search by reporter (the outbox then lists only the tickets it sent itself)."""
        ...

    def contact(self, service_request_id: str) -> Contact | None:
        """The case's reporter as recorded by the backend; None when it does not say (not an error)."""
        ...

    def rate(self, service_request_id: str, score: int, comment: str = "") -> None:
        """Record the reporter's 1–5 rating of a closed case; BackendRejected (reason ``already_rated``,
        ``not_closed``) when the backend refuses it."""
        ...


def find_reference(text: str, backend: TicketBackend) -> str | None:
    """The backend's ticket number in ``text`` (already compacted), in its canonical form, or None."""
    match = backend.reference_pattern.search(text)
    if match is None:
        return None
    if not backend.reference_format:
        return match.group(0)
    return backend.reference_format.format(**match.groupdict())


CACHED_FIELDS = ("status", "status_notes", "expected_datetime", "updated_datetime", "requested_datetime",
                 "service_name")


def known_fields(item: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a case the outbox caches, to answer status questions while the backend is unreachable."""
    return {k: str(item[k]) for k in CACHED_FIELDS if item.get(k) is not None}
