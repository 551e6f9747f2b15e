"""Campaigns and their targets: create, list, start / pause / resume / stop, add imported targets.

Why the targets are added here and not by the importer: the importer (:mod:`campaigns.targets`) only reads
and validates a file; the store checks again, inside the transaction, that no number is already a target of
the campaign, so two imports of overlapping lists cannot both add a resident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from campaigns import kinds
from campaigns.model import CampaignSpec
from campaigns.states import DRAFT, OPEN_SLOT_STATES, STOPPED, campaign_after
from campaigns.store.base import StoreBase, dumps, row_dict
from campaigns.store.schema import campaigns, slots, targets
from campaigns.targets import Target


class DuplicateName(ValueError):
    """A campaign of that name exists already (names are what operators type on the CLI)."""


class CampaignsMixin(StoreBase):
    def create_campaign(self, spec: CampaignSpec, now: datetime) -> dict[str, Any]:
        """Store a validated spec as a draft campaign (start it with ``set_state(…, "start")``)."""
        with self._tx(write=True) as conn:
            if conn.execute(select(campaigns.c.id).where(campaigns.c.name == spec.name)).first() is not None:
                raise DuplicateName(f"已有同名活动：{spec.name}")
            new_id = conn.execute(campaigns.insert().values(
                name=spec.name, kind=spec.kind, state=DRAFT, spec=dumps(spec.to_dict()), created_at=now,
                updated_at=now)).inserted_primary_key[0]
            return self._campaign(conn, int(new_id))

    def get_campaign(self, campaign: int | str) -> dict[str, Any]:
        with self._tx() as conn:
            return self._campaign(conn, campaign)

    def list_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign with its target count, newest first."""
        counts = (select(targets.c.campaign_id, func.count().label("targets"))
                  .group_by(targets.c.campaign_id).subquery())
        query = (select(campaigns, func.coalesce(counts.c.targets, 0).label("targets"))
                 .outerjoin(counts, counts.c.campaign_id == campaigns.c.id).order_by(campaigns.c.id.desc()))
        with self._tx() as conn:
            return [row_dict(row) for row in conn.execute(query)]

    def set_state(self, campaign: int | str, action: str, now: datetime) -> dict[str, Any]:
        """Apply ``start``/``pause``/``resume``/``stop`` (TransitionError when the state does not allow it).

        Starting needs targets (except a kind whose targets arrive later, like call-backs); stopping cancels
        the open slots that no dialler holds (a call in progress
        finishes and is recorded; nothing new is claimed for a campaign that is not running).
        """
        with self._tx(write=True) as conn:
            row = self._campaign(conn, campaign, lock=True)
            new_state = campaign_after(row["state"], action)
            kind = kinds.get(row["kind"])
            if action == "start" and not (kind is not None and kind.accepts_empty):
                count = conn.execute(select(func.count()).where(targets.c.campaign_id == row["id"])).scalar_one()
                if not count:
                    raise EmptyCampaign(f"活动 {row['name']} 还没有呼叫对象，请先导入名单")
            if new_state == STOPPED:
                conn.execute(update(slots).where(slots.c.campaign_id == row["id"],
                                                 slots.c.state.in_(OPEN_SLOT_STATES - {"active"}))
                             .values(state="cancelled", updated_at=now))
            conn.execute(update(campaigns).where(campaigns.c.id == row["id"])
                         .values(state=new_state, updated_at=now))
            return {**row, "state": new_state}

    def add_targets(self, campaign: int | str, rows: Iterable[Target], now: datetime) -> int:
        """Add validated targets; a number already in the campaign is refused (ValueError naming its row)."""
        with self._tx(write=True) as conn:
            row = self._campaign(conn, campaign, lock=True)
            if row["state"] == STOPPED:
                raise ValueError(f"活动 {row['name']} 已结束，不能再导入名单")
            existing = set(conn.execute(select(targets.c.phone).where(targets.c.campaign_id == row["id"])).scalars())
            values = []
            for target in rows:
                if target.phone in existing:
                    raise ValueError(f"第 {target.row} 行：号码 {target.phone} 已在本活动名单中")
                existing.add(target.phone)
                values.append({"campaign_id": row["id"], "name": target.name, "phone": target.phone,
                               "address": target.address, "community": target.community, "grid": target.grid,
                               "notes": target.notes, "source_row": target.row, "created_at": now})
            if values:
                conn.execute(targets.insert(), values)
                # New targets need today's slots: the next claim plans the day again (idempotently).
                conn.execute(update(campaigns).where(campaigns.c.id == row["id"]).values(planned_day=None))
            return len(values)

    def existing_phones(self, campaign: int | str) -> set[str]:
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            return set(conn.execute(select(targets.c.phone).where(targets.c.campaign_id == row["id"])).scalars())

    def list_targets(self, campaign: int | str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            query = select(targets).where(targets.c.campaign_id == row["id"]).order_by(targets.c.id)
            return [row_dict(target) for target in conn.execute(query)]

    def progress(self, campaign: int | str) -> dict[str, int]:
        """Slots per state (pending, active, retry, completed, unreachable …) over all days."""
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            query = (select(slots.c.state, func.count()).where(slots.c.campaign_id == row["id"])
                     .group_by(slots.c.state))
            return {state: int(count) for state, count in conn.execute(query)}


class EmptyCampaign(ValueError):
    """Starting a campaign that has no targets."""
