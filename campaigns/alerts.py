"""Alert tickets: an abnormal answer on a campaign call becomes a ticket in the dispatch backend for the grid.

Why the outbox the assistant uses (``dispatch.outbox.Outbox.submit``): it stores the ticket first and sends it
at once or later (the drain loop retries), so a backend that is down loses no alert; the idempotency key is
the attempt, so a dialler that retries the filing never files one attempt twice. The store has flagged the
slot already (``record_outcome``); this only tells the people who act on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from campaigns import kinds
from campaigns.model import CampaignSpec
from campaigns.store import Claim

log = logging.getLogger(__name__)
CHANNEL = "campaign"


@dataclass(frozen=True)
class Alert:
    claim: Claim
    spec: CampaignSpec
    reasons: tuple[str, ...]
    target: dict[str, Any]  # the stored target row (address, community, grid, notes)


def draft_fields(alert: Alert, service_code: str) -> dict[str, Any]:
    """The ticket, worded for the grid worker who visits (always Chinese); the campaign kind's own service
    (``CampaignKind.alert_service``) wins over ``service_code``."""
    kind = kinds.get(alert.spec.kind)
    service_code = (kind.alert_service if kind else "") or service_code
    target, claim = alert.target, alert.claim
    where = "，".join(part for part in (target.get("community"), target.get("grid")) if part)
    description = (f"【{alert.spec.name}】{claim.name}（{claim.day} {claim.time}）回答异常："
                   f"{'；'.join(alert.reasons)}。" + (f"所属：{where}。" if where else "") + "请网格员跟进。")
    return {"service_code": service_code, "description": description,
            "address_string": target.get("address") or where or claim.name, "phone": claim.phone,
            "sender_id": f"campaign:{claim.campaign_id}", "channel": CHANNEL,
            "idempotency_key": f"campaign-attempt-{claim.attempt_id}"}


def outbox_filer(service_code: str) -> Callable[[Alert], str]:
    """A filer for the dialler: submits through ``[dispatch]``'s outbox, returns the ticket reference."""
    from dispatch.outbox import Outbox, TicketDraft

    outbox = Outbox.from_settings()

    def file(alert: Alert) -> str:
        receipt = outbox.submit(TicketDraft(**draft_fields(alert, service_code)))
        return str(receipt.reference)

    return file
