"""The do-not-call list, per campaign kind: a resident who opted out of health checks is not rung by any
health-check campaign again, but may still get the satisfaction call-back of a case they filed.

Why per kind and not per campaign: campaigns are re-created (a new observation period, a new month's
call-backs); an opt-out must outlive them. Adding a number also closes that number's open slots which no
dialler holds, each with a follow-up reason, so staff reach the resident another way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from campaigns import kinds
from campaigns.phones import normalise
from campaigns.states import CLAIMABLE_SLOT_STATES, follow_up_reason
from campaigns.store.base import StoreBase, row_dict
from campaigns.store.schema import campaigns, dnc, slots, targets


class DncMixin(StoreBase):
    def add_dnc(self, kind: str, phone: str, now: datetime, reason: str = "", added_by: str = "") -> bool:
        """Put ``phone`` on ``kind``'s list; False when it was there already. PhoneError for a bad number."""
        with self._tx(write=True) as conn:
            return self._add_dnc(conn, _kind(kind), normalise(phone, self.config.phone_region), now, reason, added_by)

    def remove_dnc(self, kind: str, phone: str) -> bool:
        """Take ``phone`` off ``kind``'s list; False when it was not on it."""
        with self._tx(write=True) as conn:
            gone = conn.execute(delete(dnc).where(dnc.c.kind == _kind(kind),
                                                  dnc.c.phone == normalise(phone, self.config.phone_region)))
            return gone.rowcount > 0

    def list_dnc(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = select(dnc).order_by(dnc.c.kind, dnc.c.added_at, dnc.c.id)
        if kind is not None:
            query = query.where(dnc.c.kind == _kind(kind))
        with self._tx() as conn:
            return [row_dict(row) for row in conn.execute(query)]

    def _add_dnc(self, conn: Connection, kind: str, phone: str, now: datetime, reason: str, added_by: str) -> bool:
        if conn.execute(select(dnc.c.id).where(dnc.c.kind == kind, dnc.c.phone == phone)).first() is not None:
            return False
        conn.execute(self._insert_ignoring(dnc).values(kind=kind, phone=phone, reason=reason, added_by=added_by,
                                                       added_at=now))
        open_slots = (select(slots.c.id).join(targets, targets.c.id == slots.c.target_id)
                      .join(campaigns, campaigns.c.id == slots.c.campaign_id)
                      .where(campaigns.c.kind == kind, targets.c.phone == phone,
                             slots.c.state.in_(CLAIMABLE_SLOT_STATES)))
        ids = list(conn.execute(open_slots).scalars())
        if ids:
            conn.execute(update(slots).where(slots.c.id.in_(ids)).values(
                state="dnc", follow_up=follow_up_reason("dnc", None, 0), updated_at=now))
        return True


def _kind(name: str) -> str:
    if kinds.get(name) is None:
        raise ValueError(f"kind: 活动类型须为 {' / '.join(kinds.kinds())} 之一")
    return name
