"""Campaigns and their targets: create, edit, list, start / pause / resume / stop, add imported targets.

Why the targets are added here and not by the importer: the importer (:mod:`campaigns.targets`) only reads
and validates a file; the store checks again, inside the transaction, that no number is already a target of
the campaign, so two imports of overlapping lists cannot both add a resident.

Why ``updated_at`` only moves forward (:func:`next_stamp`): it is the campaign's version. An editor sends back
the ``updated_at`` it read, and an edit or state change made in between (by another operator, or on another
API process whose clock is behind) must have changed it, even within one clock tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from campaigns import kinds
from campaigns.model import CampaignSpec, spec_from_dict
from campaigns.states import CAMPAIGN_STATE_LABELS, DRAFT, OPEN_SLOT_STATES, STOPPED, TransitionError, campaign_after
from campaigns.store.base import StoreBase, dumps, row_dict
from campaigns.store.edits import EditsMixin
from campaigns.store.schema import campaigns, slots, targets
from campaigns.targets import Target
from campaigns.validation import edit_spec

VERSION_STEP = timedelta(microseconds=1)  # the finest step both SQLite's and PostgreSQL's timestamps keep


class DuplicateName(ValueError):
    """A campaign of that name exists already (names are what operators type on the CLI)."""


class EditConflict(ValueError):
    """The campaign changed since the editor read it (``updated_at`` differs): nothing was saved."""


def next_stamp(previous: datetime, now: datetime) -> datetime:
    return max(now, previous + VERSION_STEP)


class CampaignsMixin(EditsMixin, StoreBase):
    def create_campaign(self, spec: CampaignSpec, now: datetime) -> dict[str, Any]:
        """Store a validated spec as a draft campaign (start it with ``set_state(…, "start")``)."""
        with self._tx(write=True) as conn:
            if conn.execute(select(campaigns.c.id).where(campaigns.c.name == spec.name)).first() is not None:
                raise DuplicateName(f"已有同名活动：{spec.name}")
            new_id = conn.execute(campaigns.insert().values(
                name=spec.name, kind=spec.kind, state=DRAFT, spec=dumps(spec.to_dict()), created_at=now,
                updated_at=now)).inserted_primary_key[0]
            return self._campaign(conn, int(new_id))

    def update_campaign(self, campaign: int | str, changes: Any, now: datetime,
                        expected_updated_at: datetime | None = None) -> dict[str, Any]:
        """Apply an operator's partial ``changes`` (name, opening, script, schedule, retry, channels, ring timeout,
        caller id, abnormal rule) to a campaign; returns the row as stored now.

        Validated as a whole by :func:`campaigns.validation.edit_spec` (SpecError naming the field; the kind
        never changes). Refused with nothing saved: a stopped campaign (TransitionError); ``expected_updated_at``
        given and not the stored one (EditConflict: another edit came first); a script change that would make
        recorded answers or a call on the line meaningless (EditRefused, :mod:`campaigns.store.edits`); another
        campaign's name (DuplicateName).

        A running campaign may be edited without pausing: each new attempt reads the stored spec (new prompts,
        channels, ring timeout, caller id from the next call), an outcome is decided by the spec stored when it
        is recorded (retry policy, abnormal rule — never applied to answers already recorded), and the calls on
        the line are protected by the script rules. A schedule change applies to the slots not yet planned,
        and to today's as :meth:`EditsMixin._reschedule_today` says.
        """
        with self._tx(write=True) as conn:
            row = self._campaign(conn, campaign, lock=True)
            if row["state"] == STOPPED:
                raise TransitionError("campaign_state", f"活动{CAMPAIGN_STATE_LABELS[STOPPED]}，不能修改")
            if expected_updated_at is not None and expected_updated_at != row["updated_at"]:
                raise EditConflict(f"updated_at: 活动在您打开后已被修改（{row['updated_at']:%Y-%m-%d %H:%M:%S}），"
                                   "请重新载入后再改")
            old, new = spec_from_dict(row["spec"]), edit_spec(row["spec"], changes, self.config)
            if new.name != old.name and conn.execute(
                    select(campaigns.c.id).where(campaigns.c.name == new.name)).first() is not None:
                raise DuplicateName(f"已有同名活动：{new.name}")
            if new.script != old.script:
                self._check_script(conn, row["id"], old, new)
            values: dict[str, Any] = {"name": new.name, "spec": dumps(new.to_dict()),
                                      "updated_at": next_stamp(row["updated_at"], now)}
            if new.schedule != old.schedule or new.retry != old.retry:
                self._reschedule_today(conn, row, new, now)
            if new.schedule != old.schedule:
                values["planned_day"] = None  # today's new daily times are planned by the next claim
            conn.execute(update(campaigns).where(campaigns.c.id == row["id"]).values(**values))
            return self._campaign(conn, row["id"])

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
            stamp = next_stamp(row["updated_at"], now)
            conn.execute(update(campaigns).where(campaigns.c.id == row["id"])
                         .values(state=new_state, updated_at=stamp))
            return {**row, "state": new_state, "updated_at": stamp}

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
