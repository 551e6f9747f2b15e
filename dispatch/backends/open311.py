"""The GeoReport v2 backend: our embedded server, or any command centre's Open311 server.

Wraps :class:`dispatch.open311_client.Open311Client` into :class:`~dispatch.backends.base.TicketBackend`.
What is Open311-specific lives here and nowhere else: required attributes are filled from the service
definitions (fetched once per process), the ticket-number syntax comes from settings (the embedded
server's ``{ticket_prefix}YYYYMMDD-NNNN`` unless ``client_reference_pattern`` names another), and the
extensions only our server speaks (contact filters, reporter fields, ratings) are used when it is ours or
the settings say the other server has them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dispatch.attributes import fill_required
from dispatch.backends.base import (
    BackendNotFound,
    BackendRejected,
    Contact,
    ServiceInfo,
    Submitted,
    known_fields,
)
from dispatch.open311_client import Open311Client

DEFAULT_BATCH = 50  # service_request_ids per GET requests call


def reference_syntax(conf: Mapping[str, Any]) -> tuple[re.Pattern[str], str]:
    """(pattern, format) of ticket numbers: ``client_reference_pattern``/``_format`` for another server,
    else the embedded server's numbers (a missing dash is tolerated: "GB202611230001" is read as typed)."""
    custom = str(conf.get("client_reference_pattern") or "")
    if custom:
        return re.compile(custom, re.IGNORECASE), str(conf.get("client_reference_format") or "")
    prefix = str(conf.get("ticket_prefix") or "GB").upper()
    # The day's counter has four digits (five past 9,999 tickets a day); more digits are not one number.
    pattern = re.compile(re.escape(prefix) + r"(?P<day>\d{8})-?(?P<number>\d{4,5})(?!\d)", re.IGNORECASE)
    return pattern, prefix.replace("{", "{{").replace("}", "}}") + "{day}-{number}"


def _auto(value: Any, embedded: bool) -> bool:
    """A true/false/auto setting; ``auto`` means "only with our own embedded server"."""
    return embedded if value in ("auto", None, "") else value in (True, "true", "always", 1)


class Open311Backend:
    """A GeoReport v2 server through the standard-library client (see the module docstring)."""

    name = "open311"

    def __init__(self, client: Open311Client, conf: Mapping[str, Any], *, embedded: bool | None = None) -> None:
        self.client = client
        self.embedded = not conf.get("client_base_url") if embedded is None else embedded
        self.reference_pattern, self.reference_format = reference_syntax(conf)
        self.contact_filter = _auto(conf.get("client_contact_filter", "auto"), self.embedded)
        self.pushes_updates = self.embedded  # our server POSTs status webhooks; others are polled
        self.batch = int(conf.get("status_poll_batch", DEFAULT_BATCH))
        self._definitions: dict[str, dict[str, Any] | None] = {}
        self._services: list[ServiceInfo] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any]) -> Open311Backend:
        return cls(Open311Client.from_settings(dict(conf)), conf)

    def services(self) -> list[ServiceInfo]:
        if self._services is None:
            answer = self.client.services()
            self._services = [ServiceInfo(str(s.get("service_code")), str(s.get("service_name") or ""),
                                          str(s.get("group") or "")) for s in answer if s.get("service_code")]
        return list(self._services)

    def submit(self, form: Mapping[str, Any], attributes: Mapping[str, Any], idempotency_key: str,
               timeout_s: float | None = None) -> Submitted:
        code = str(form.get("service_code") or "")
        filled = fill_required(self._definition(code, timeout_s), str(form.get("description") or ""), attributes)
        answer = self.client.create_request(form, filled, idempotency_key=idempotency_key, timeout_s=timeout_s)
        srid, token = answer.get("service_request_id"), answer.get("token")
        return Submitted(str(srid) if srid else None, str(token) if token else None, known_fields(answer))

    def _definition(self, service_code: str, timeout_s: float | None) -> dict[str, Any] | None:
        """The service's attribute definitions, fetched once per process (None for an unknown service:
        the server then refuses the ticket itself, with its own error)."""
        with self._lock:
            if service_code in self._definitions:
                return self._definitions[service_code]
        try:
            definition: dict[str, Any] | None = self.client.service_definition(service_code, timeout_s=timeout_s)
        except BackendRejected:  # 404 included
            definition = None
        with self._lock:
            self._definitions[service_code] = definition
        return definition

    def resolve_token(self, token: str) -> str | None:
        srid = self.client.token(token).get("service_request_id")
        return str(srid) if srid else None

    def status(self, service_request_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        return self.client.get_request(service_request_id, timeout_s=timeout_s)

    def updates(self, service_request_ids: Sequence[str], since: str | None = None) -> list[dict[str, Any]]:
        ids, found = list(service_request_ids), []
        for start in range(0, len(ids), self.batch):
            found += self.client.get_requests(service_request_id=",".join(ids[start:start + self.batch]))
        return found

    def cases_for(self, sender_id: str | None, phone: str | None) -> list[dict[str, Any]] | None:
        if not self.contact_filter:
            return None
        found: dict[str, dict[str, Any]] = {}
        for key, value in (("sender_id", sender_id), ("phone", phone)):
            if value:
                for item in self.client.get_requests(**{key: value}):
                    found.setdefault(str(item.get("service_request_id")), item)
        return list(found.values())

    def contact(self, service_request_id: str) -> Contact | None:
        try:
            item = self.client.get_request(service_request_id, private=True)
        except BackendNotFound:
            return None
        if "phone" not in item and "sender_id" not in item:
            return None  # a server without our reporter extension
        return Contact(sender_id=str(item.get("sender_id") or ""), phone=str(item.get("phone") or ""))

    def rate(self, service_request_id: str, score: int, comment: str = "") -> None:
        self.client.rate(service_request_id, score, comment)


def from_settings(conf: Mapping[str, Any]) -> Open311Backend:
    """The module-level factory :func:`dispatch.backends.from_settings` calls."""
    return Open311Backend.from_settings(conf)
