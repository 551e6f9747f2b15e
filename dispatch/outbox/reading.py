"""Reading cases: one case by number, a resident's cases, who filed a case (for notifications).

A case is answered from the backend when it can be reached and from the outbox's last known state when
not, so a resident asking about a ticket during an outage still hears something true. The dicts returned
are *full* cases (description, address, staff notes); :mod:`dispatch.outbox.access` decides what of them
an asker may see.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from dispatch.backends.base import BackendNotFound, BackendRejected, BackendUnavailable
from dispatch.classify import service_name as local_service_name
from dispatch.outbox.model import (
    NOTE_BLACKBOX,
    NOTE_PENDING,
    NOTE_REJECTED,
    PENDING,
    REJECTED,
    SENT,
    TOKEN,
    is_provisional,
    iso,
    normalize_phone,
)
from dispatch.outbox.submit import SubmitMixin

log = logging.getLogger("dispatch.outbox")


class ReadingMixin(SubmitMixin):
    def resolve(self, reference: str) -> str | None:
        """The real service_request_id behind a reference (itself when not provisional; None while queued)."""
        if not is_provisional(reference):
            return reference
        row = self._row("reference = :r", r=reference.upper())
        return row["service_request_id"] if row else None

    def local_row(self, reference: str) -> dict[str, Any] | None:
        """This outbox's row of a case (by TMP reference or real number), None when it was filed elsewhere."""
        reference = (reference or "").strip()
        if is_provisional(reference):
            return self._row("reference = :r", r=reference.upper())
        return self._row("service_request_id = :s ORDER BY created_at", s=reference) if reference else None

    def status(self, reference: str) -> dict[str, Any] | None:
        """The case: ``{"reference", "service_request_id", "status", "status_notes", "service_name",
        "expected_datetime", "updated_datetime", "requested_datetime", "provisional", "description",
        "address"}``, or None when no such case exists.

        ``status`` is the backend's ``open``/``closed``, or ours: ``pending`` (queued here, provisional) and
        ``rejected``. A TMP reference whose ticket has been sent reports the real number as ``reference``.
        When the backend is unreachable the last known state is returned; with nothing known locally,
        :class:`~dispatch.backends.base.BackendUnavailable` is raised.
        """
        reference = (reference or "").strip()
        if not reference:
            return None
        row = self.local_row(reference)
        if row is None and is_provisional(reference):
            return None
        if row is not None and (row["state"] != SENT or not row["service_request_id"]):
            return self._local_status(row)
        srid = row["service_request_id"] if row is not None else reference
        try:
            remote = self.backend.status(srid)
        except BackendNotFound:
            return None
        except (BackendUnavailable, BackendRejected):
            if row is None:
                raise
            return self._local_status(row)  # the last known state beats no answer
        if row is not None:
            self._remember(row["reference"], remote)
        return self._remote_status(remote, row)

    def cases_for(self, sender_id: str | None = None, phone: str | None = None) -> list[dict[str, Any]]:
        """This resident's cases, newest first, as :meth:`status` dicts: the tickets sent from here (by
        channel identity or phone) plus, on backends that can search by reporter, those filed elsewhere."""
        phone = normalize_phone(phone)
        if not sender_id and not phone:
            return []
        clauses, params = [], {}
        if sender_id:
            clauses.append("sender_id = :sender")
            params["sender"] = sender_id
        if phone:
            clauses.append("phone = :phone")
            params["phone"] = phone
        rows = self._rows(f"{' OR '.join(clauses)} ORDER BY created_at DESC", **params)
        by_id = {r["service_request_id"]: r for r in rows if r["state"] == SENT and r["service_request_id"]}
        remote: dict[str, dict[str, Any]] = {}
        try:
            for item in self.backend.updates(list(by_id)) if by_id else []:
                remote[str(item.get("service_request_id"))] = item
            for item in self.backend.cases_for(sender_id, phone) or []:
                remote.setdefault(str(item.get("service_request_id")), item)
        except BackendUnavailable as exc:
            log.warning("case list from local cache only: %s", exc)
        except BackendRejected as exc:
            log.warning("case list lookup refused: %s", exc)
        cases = [self._local_status(r) for r in rows if r["service_request_id"] not in remote]
        cases += [self._remote_status(item, by_id.get(srid)) for srid, item in remote.items()]
        cases.sort(key=lambda c: c.get("requested_datetime") or "", reverse=True)
        return cases

    def senders_for(self, service_request_id: str) -> list[dict[str, str]]:
        """Who filed this ticket from here ({"sender_id", "channel"}): the gateway tells them of changes."""
        rows = self._rows("service_request_id = :s", s=service_request_id)
        return [{"sender_id": r["sender_id"], "channel": r["channel"] or ""} for r in rows if r["sender_id"]]

    def _local_status(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if row["state"] in (PENDING, TOKEN):
            status, notes = PENDING, NOTE_PENDING
        elif row["state"] == REJECTED:
            status, notes = REJECTED, NOTE_REJECTED.format(reason=row["last_error"] or "")
        elif not row["service_request_id"]:
            status, notes = "submitted", NOTE_BLACKBOX
        else:
            status, notes = row["status"] or "open", row["status_notes"] or ""
        fields = json.loads(row["payload"]).get("fields") or {}
        return {
            "reference": row["service_request_id"] or row["reference"],
            "service_request_id": row["service_request_id"], "status": status, "status_notes": notes,
            "service_name": row["service_name"] or local_service_name(row["service_code"]),
            "expected_datetime": row["expected_datetime"], "updated_datetime": row["updated_datetime"],
            "provisional": not row["service_request_id"],
            "requested_datetime": row["requested_datetime"] or iso(row["created_at"]),
            "description": fields.get("description") or "", "address": fields.get("address_string") or "",
        }

    @staticmethod
    def _remote_status(item: Mapping[str, Any], row: Mapping[str, Any] | None) -> dict[str, Any]:
        srid = str(item.get("service_request_id") or "")
        return {
            "reference": srid, "service_request_id": srid, "status": item.get("status") or "open",
            "status_notes": item.get("status_notes") or "",
            "service_name": item.get("service_name") or (row["service_name"] if row else "") or "",
            "expected_datetime": item.get("expected_datetime"), "updated_datetime": item.get("updated_datetime"),
            "provisional": False, "requested_datetime": item.get("requested_datetime"),
            "description": item.get("description") or "", "address": item.get("address") or "",
        }
