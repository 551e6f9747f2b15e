"""A second kind of ticket backend, to show that a command centre's non-Open311 system is one module.

A "case ledger" keeps cases in memory (a stand-in for a vendor's case system that is not GeoReport v2): its
own numbers (``L-000001``), its own statuses (``new``/``done``, mapped to open/closed), and a rule of one
rating per case. ``[dispatch] backend = "tests.dispatch.ledger_backend"`` plugs it in front of the outbox.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from dispatch.backends.base import BackendNotFound, BackendRejected, Contact, ServiceInfo, Submitted

CATEGORIES = (ServiceInfo("pothole", "路面坑洼", "市政"), ServiceInfo("enquiry", "咨询", "咨询"))


class LedgerBackend:
    name = "ledger"
    reference_pattern = re.compile(r"L-?(?P<number>\d{6})", re.IGNORECASE)
    reference_format = "L-{number}"
    pushes_updates = False

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.ratings: dict[str, int] = {}
        self.lock = threading.Lock()

    def services(self) -> list[ServiceInfo]:
        return list(CATEGORIES)

    def submit(self, form: Mapping[str, Any], attributes: Mapping[str, Any], idempotency_key: str,
               timeout_s: float | None = None) -> Submitted:
        if form.get("service_code") not in {c.code for c in CATEGORIES}:
            raise BackendRejected(f"unknown category {form.get('service_code')}", 400)
        with self.lock:
            number = self.by_key.get(idempotency_key) or f"L-{len(self.cases) + 1:06d}"
            self.by_key[idempotency_key] = number
            self.cases.setdefault(number, {"state": "new", "form": dict(form), "notes": "已登记"})
        return Submitted(number, known={"status": "open"})

    def resolve_token(self, token: str) -> str | None:
        return None

    def _case(self, number: str) -> dict[str, Any]:
        if number not in self.cases:
            raise BackendNotFound(f"no case {number}", 404)
        return self.cases[number]

    def status(self, service_request_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        case = self._case(service_request_id)
        form = case["form"]
        name = next(c.name for c in CATEGORIES if c.code == form["service_code"])
        return {"service_request_id": service_request_id, "status": "closed" if case["state"] == "done" else "open",
                "status_notes": case["notes"], "service_code": form["service_code"], "service_name": name,
                "description": form.get("description") or "", "address": form.get("address_string") or "",
                "requested_datetime": "2026-11-23T09:00:00+08:00", "updated_datetime": None,
                "expected_datetime": None}

    def updates(self, service_request_ids: Sequence[str], since: str | None = None) -> list[dict[str, Any]]:
        return [self.status(n) for n in service_request_ids if n in self.cases]

    def cases_for(self, sender_id: str | None, phone: str | None) -> list[dict[str, Any]] | None:
        return [self.status(n) for n, c in self.cases.items() if (sender_id and c["form"].get("sender_id") == sender_id)
                or (phone and c["form"].get("phone") == phone)]

    def contact(self, service_request_id: str) -> Contact | None:
        form = self._case(service_request_id)["form"]
        return Contact(str(form.get("sender_id") or ""), str(form.get("phone") or ""))

    def rate(self, service_request_id: str, score: int, comment: str = "") -> None:
        case = self._case(service_request_id)
        with self.lock:
            if case["state"] != "done":
                raise BackendRejected("case not done", 400, [{"code": 400, "reason": "not_closed"}])
            if service_request_id in self.ratings:
                raise BackendRejected("rated before", 400, [{"code": 400, "reason": "already_rated"}])
            self.ratings[service_request_id] = score

    def finish(self, number: str, notes: str) -> None:
        """What the centre's staff do in their own system."""
        self.cases[number].update(state="done", notes=notes)


def from_settings(conf: Mapping[str, Any]) -> LedgerBackend:
    return LedgerBackend()
