"""What a ticket looks like from outside: the GeoReport v2 service request, plus our extensions.

Public status is the spec's ``open``/``closed``; the internal step (签收, 派遣 ...) goes into
``status_notes`` and the ``detailed_status`` extension. Contact fields and the transcript never
leave through public Open311 (the dispatcher API shows them; an api_key holder asking for one case gets
who reported it, ``reporter_view``, so the assistant can tell the reporter from a stranger), and phone
and ID-card numbers a resident typed into the description are masked there (GET requests is public).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from common.logging import mask_pii

DETAILED_STATUS_NAMES = {
    "submitted": "待签收",
    "signed": "已签收",
    "assigned": "已派遣",
    "reopened": "重新办理",
    "closed": "已办结",
}


def local(dt: datetime | None, tz: tzinfo) -> str | None:
    return dt.astimezone(tz).isoformat(timespec="seconds") if dt else None


def public_status(ticket: dict[str, Any]) -> str:
    return "closed" if ticket["status"] == "closed" else "open"


def service_notice(ticket: dict[str, Any], tz: tzinfo) -> str:
    due = ticket["close_due"].astimezone(tz)
    notice = f"已受理，工单号 {ticket['service_request_id']}，承诺 {due:%Y-%m-%d %H:%M} 前办结"
    if ticket.get("parent_id"):
        notice += "（同一问题已有工单在办，已合并处理，结果会同样告知您）"
    return notice


def request_view(ticket: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """One ``<request>`` of GET requests (field order as in the spec)."""
    return {
        "service_request_id": ticket["service_request_id"],
        "status": public_status(ticket),
        "status_notes": ticket["status_notes"],
        "service_name": ticket["service_name"],
        "service_code": ticket["service_code"],
        "description": mask_pii(ticket["description"]),
        "agency_responsible": ticket["department"],
        "service_notice": service_notice(ticket, tz),
        "requested_datetime": local(ticket["requested_at"], tz),
        "updated_datetime": local(ticket["updated_at"], tz),
        "expected_datetime": local(ticket["close_due"], tz),
        "address": ticket["address_string"],
        "address_id": ticket["address_id"],
        "zipcode": None,
        "lat": ticket["lat"],
        "long": ticket["long"],
        "media_url": ticket["media_url"],
        # extensions
        "detailed_status": ticket["status"],
        "detailed_status_name": DETAILED_STATUS_NAMES.get(ticket["status"], ticket["status"]),
        "urgent": bool(ticket["urgent"]),
        "reporters": ticket["reporters"],
    }


def reporter_view(ticket: dict[str, Any]) -> dict[str, Any]:
    """Extension fields for api_key holders only: who reported the case (never in the public view)."""
    return {"phone": ticket["phone"], "sender_id": ticket["sender_id"], "channel": ticket["channel"]}


def created_view(ticket: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """The answer to POST requests: the id right away (this server is realtime), and the token too."""
    return {
        "service_request_id": ticket["service_request_id"],
        "token": ticket["token"],
        "service_notice": service_notice(ticket, tz),
        "account_id": ticket["account_id"],
        "expected_datetime": local(ticket["close_due"], tz),
        "status": public_status(ticket),
        "status_notes": ticket["status_notes"],
    }


def staff_view(ticket: dict[str, Any], tz: tzinfo, now: datetime) -> dict[str, Any]:
    """The dispatcher's view: everything, including contact, transcript and SLA deadlines."""
    view = request_view(ticket, tz)
    view.update({
        "description": ticket["description"],
        "department": ticket["department"],
        "co_departments": ticket["co_departments"],
        "grid": ticket["grid"],
        "result": ticket["result"],
        "attributes": ticket["attributes"],
        "contact": {k: ticket[k] for k in ("first_name", "last_name", "phone", "email", "device_id", "account_id")},
        "channel": ticket["channel"],
        "sender_id": ticket["sender_id"],
        "transcript": ticket["transcript"],
        "is_duplicate": ticket["parent_id"] is not None,
        "overdue_level": ticket["overdue_level"],
        "signed_datetime": local(ticket["signed_at"], tz),
        "assigned_datetime": local(ticket["assigned_at"], tz),
        "closed_datetime": local(ticket["closed_at"], tz),
        "sign_due": local(ticket["sign_due"], tz),
        "dispatch_due": local(ticket["dispatch_due"], tz),
        "close_due": local(ticket["close_due"], tz),
        "overdue": overdue_stages(ticket, now),
    })
    return view


def overdue_stages(ticket: dict[str, Any], now: datetime) -> list[str]:
    if ticket["status"] == "closed":
        return []
    stages = []
    if ticket["status"] == "submitted" and ticket["sign_due"] < now:
        stages.append("sign")
    if ticket["assigned_at"] is None and ticket["dispatch_due"] < now:
        stages.append("dispatch")
    if ticket["close_due"] < now:
        stages.append("close")
    return stages
