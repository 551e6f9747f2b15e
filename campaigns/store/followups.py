"""The follow-up list (人工补漏): residents the robot could not reach, or whose answers were abnormal.

Why it is a view of the slots and not a table of its own: the slot already carries why it needs a person
(``follow_up``: unreachable after every attempt, not called, wrong person, refused, opted out) and what was
abnormal (``abnormal``); staff marking one done writes on the same row, so the list and the campaign's
progress can never disagree. Leases that ran out are settled and slots whose time is over closed before the
list is read, so it is complete even when no dialler is running.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, update

from campaigns.store.base import NotFound, row_dict
from campaigns.store.outcomes import OutcomesMixin
from campaigns.store.schema import slots, targets

ABNORMAL, UNREACHED = "abnormal", "unreached"
FOLLOW_UP_COLUMNS = (slots.c.id.label("slot_id"), slots.c.day, slots.c.time, slots.c.state, slots.c.attempts_used,
                     slots.c.last_outcome, slots.c.follow_up, slots.c.abnormal, slots.c.follow_up_done_at,
                     slots.c.follow_up_done_by, slots.c.follow_up_note, targets.c.name, targets.c.phone,
                     targets.c.address, targets.c.community, targets.c.grid, targets.c.notes)


class FollowupsMixin(OutcomesMixin):
    def followups(self, campaign: int | str, now: datetime, day: date | None = None,
                  include_done: bool = False) -> list[dict[str, Any]]:
        """The campaign's follow-ups (oldest first), each with ``reason`` and ``category`` (abnormal/unreached)."""
        with self._tx(write=True) as conn:
            self._housekeeping(conn, now)
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            query = (select(*FOLLOW_UP_COLUMNS).join(targets, targets.c.id == slots.c.target_id)
                     .where(slots.c.campaign_id == row["id"],
                            or_(slots.c.follow_up.is_not(None), slots.c.abnormal.is_not(None)))
                     .order_by(slots.c.day, slots.c.time, slots.c.id))
            if day is not None:
                query = query.where(slots.c.day == day)
            if not include_done:
                query = query.where(slots.c.follow_up_done_at.is_(None))
            found = []
            for item in (row_dict(result) for result in conn.execute(query)):
                reasons = [*(item["abnormal"] or []), *([item["follow_up"]] if item["follow_up"] else [])]
                found.append({**item, "category": ABNORMAL if item["abnormal"] else UNREACHED,
                              "reason": "；".join(reasons)})
            return found

    def mark_followup_done(self, slot_id: int, by: str, now: datetime, note: str = "") -> None:
        """Staff visited or phoned the resident (``by`` names them); the follow-up leaves the open list."""
        if not by.strip():
            raise ValueError("by: 请填写处理人")
        with self._tx(write=True) as conn:
            done = conn.execute(update(slots).where(
                slots.c.id == slot_id, or_(slots.c.follow_up.is_not(None), slots.c.abnormal.is_not(None)))
                .values(follow_up_done_at=now, follow_up_done_by=by.strip(), follow_up_note=note, updated_at=now))
            if done.rowcount != 1:
                raise NotFound(f"没有待补漏记录 {slot_id}")
