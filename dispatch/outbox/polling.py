"""Status polling, for backends that do not push changes: ask for the open tickets' states and report
each change to the gateway like the embedded server's webhook does (same body, same signature)."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from dispatch.backends.base import BackendError
from dispatch.outbox.access import AccessMixin
from dispatch.outbox.model import SENT, iso
from dispatch.signing import HEADER, signature

log = logging.getLogger("dispatch.outbox")


class PollingMixin(AccessMixin):
    def poll_statuses(self, notify: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Ask the backend for the status of open tickets; report each change through ``notify`` (default:
        POST to the gateway's /hooks/dispatch, like the embedded server's webhook). Returns the changes
        reported. A change is only recorded once reported, so a failed notification is retried next time."""
        notify = notify or self.notify
        rows = self._rows("state = :s AND service_request_id IS NOT NULL AND (status IS NULL OR status <> 'closed')"
                          " ORDER BY created_at", s=SENT)
        by_id = {r["service_request_id"]: r for r in rows}
        if not by_id:
            return 0
        started = iso(self.clock())
        try:
            items = self.backend.updates(list(by_id), since=self.__dict__.get("_last_poll"))
        except BackendError as exc:
            log.warning("status poll failed: %s", exc)
            return 0
        changes, undelivered = 0, False
        for item in items:
            row = by_id.get(str(item.get("service_request_id")))
            if row is None:
                continue
            changed = (item.get("status"), item.get("updated_datetime")) != (row["status"], row["updated_datetime"])
            if not changed:
                continue
            if row["status"] is not None or item.get("status") == "closed":
                try:
                    notify(self._event(row, item))
                except OSError as exc:
                    log.warning("status change of %s not delivered: %s", row["service_request_id"], exc)
                    undelivered = True
                    continue
                changes += 1
            self._remember(row["reference"], item)
        if not undelivered:
            self.__dict__["_last_poll"] = started
        return changes

    @staticmethod
    def _event(row: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
        """The embedded server's webhook body (dispatch/server/store/events.py) for a polled change: the
        case fields plus who to tell (see gateway/notifications.py)."""
        return {
            "event": "status_changed", "service_request_id": str(item.get("service_request_id")),
            "status": item.get("status"), "status_notes": item.get("status_notes") or "",
            "service_code": item.get("service_code") or row["service_code"],
            "service_name": item.get("service_name") or row["service_name"],
            "updated_datetime": item.get("updated_datetime"), "reference": row["reference"],
            "sender_id": row["sender_id"], "channel": row["channel"] or "",
        }

    def notify(self, body: dict[str, Any]) -> None:
        """POST one status change to the gateway, signed with the shared webhook secret (HMAC-SHA256)."""
        from common import settings

        url = self.conf.get("notify_url") or settings.base_url("gateway") + "/hooks/dispatch"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        secret = settings.read_or_create_secret(self.conf["webhook_secret_file"])
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", HEADER: signature(data, secret)})
        with urllib.request.urlopen(request, timeout=self._setting("client_timeout_s")) as response:
            response.read()
