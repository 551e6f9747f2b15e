"""Lease claims: handing due attempts to diallers without ever giving one slot to two of them.

``claim_due`` is one write transaction that (1) settles leases that ran out, (2) closes slots whose time is
over, (3) plans today's slots of running campaigns, and (4) hands out due slots inside each campaign's calling
window, at most ``min(campaign channels, global cap)`` live attempts per campaign and the global cap over all.

How it stays exact with several diallers:
- SQLite: the transaction starts with ``BEGIN IMMEDIATE``, so claimers run one after the other.
- PostgreSQL: the claimers take one transaction-scoped advisory lock for the channel accounting (counting
  live attempts and adding new ones must not interleave, or two diallers would each fill the cap), then
  pick slots with ``SELECT … FOR UPDATE SKIP LOCKED``: a slot whose row another transaction holds (an outcome
  being recorded, a lease being renewed) is skipped rather than waited for. A slot leaves the claimable
  states in the same transaction, and the attempt's ``(slot, seq)`` is unique, so a slot is never handed
  out twice.

A lease: the dialler calls ``mark_dialing`` just before Originate and ``renew`` while the call lasts. A lease
that runs out before ``mark_dialing`` was never dialled: the slot is handed out again. One that runs out after
it was dialled and nobody knows how it ended: the attempt counts as used (outcome ``lost``) and the slot is
retried by the retry policy like a no-answer — never at once, so a resident whose call did go through is not
rung again straight away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select, text, update

from campaigns import kinds, retry, schedule
from campaigns.model import CampaignSpec, spec_from_dict
from campaigns.phones import dial_string
from campaigns.states import (
    ACTIVE,
    CLAIMABLE_SLOT_STATES,
    CLAIMED,
    DIALING,
    LIVE_ATTEMPT_STATES,
    LOST,
    LOST_OUTCOME,
    PENDING,
    RELEASED,
    RETRY,
    RUNNING,
    TransitionError,
    check_slot,
    follow_up_reason,
)
from campaigns.store.base import NotFound, StoreBase, row_dict
from campaigns.store.schema import attempts, campaigns, dnc, slots, targets

CLAIM_LOCK_KEY = 7_312_001  # pg_advisory_xact_lock key of the channel accounting (any constant unique to us)


@dataclass(frozen=True)
class Claim:
    """One attempt handed to a dialler: whom to call, how, and until when the lease holds."""

    attempt_id: int
    slot_id: int
    campaign_id: int
    target_id: int
    name: str
    phone: str  # E.164
    dial: str  # what the trunk dials (national digits)
    day: str
    time: str
    attempt_number: int  # 1 for the slot's first attempt
    lease_until: datetime
    ring_timeout_s: int
    caller_id: str


class ClaimsMixin(StoreBase):
    def claim_due(self, now: datetime, dialler_id: str, limit: int) -> list[Claim]:
        """Up to ``limit`` due attempts for ``dialler_id`` (see the module docstring for the guarantees)."""
        if not dialler_id:
            raise ValueError("dialler_id: 不能为空")
        wanted = max(0, min(limit, self.config.max_claim_batch))
        with self._tx(write=True) as conn:
            self._housekeeping(conn, now)
            cap = self.config.max_channels_cap
            budget = min(wanted, cap - self._live(conn))
            claims: list[Claim] = []
            running = select(campaigns).where(campaigns.c.state == RUNNING).order_by(campaigns.c.id)
            for row in [row_dict(found) for found in conn.execute(running)]:
                spec = spec_from_dict(row["spec"])
                if not schedule.may_call(spec.schedule, now):
                    continue
                self._plan(conn, row, spec, now)  # even with no channel free: progress counts planned slots
                room = min(spec.max_channels, cap) - self._live(conn, row["id"])
                taken = self._hand_out(conn, row, spec, now, dialler_id, min(room, budget))
                claims += taken
                budget -= len(taken)
            return claims

    def mark_dialing(self, attempt_id: int, dialler_id: str, now: datetime) -> bool:
        """Record that the call is being placed now; False when the lease was lost (do not dial then)."""
        with self._tx(write=True) as conn:
            done = conn.execute(update(attempts).where(
                attempts.c.id == attempt_id, attempts.c.dialler_id == dialler_id, attempts.c.state == CLAIMED,
                attempts.c.lease_until > now).values(state=DIALING, dialed_at=now))
            return done.rowcount == 1

    def renew(self, dialler_id: str, attempt_ids: list[int], now: datetime) -> list[int]:
        """Extend the leases still held by ``dialler_id``; returns the ids that were extended."""
        if not attempt_ids:
            return []
        held = and_(attempts.c.id.in_(attempt_ids), attempts.c.dialler_id == dialler_id,
                    attempts.c.state.in_(LIVE_ATTEMPT_STATES), attempts.c.lease_until > now)
        with self._tx(write=True) as conn:
            ids = list(conn.execute(select(attempts.c.id).where(held)).scalars())
            if ids:
                conn.execute(update(attempts).where(attempts.c.id.in_(ids))
                             .values(lease_until=now + timedelta(seconds=self.config.lease_s)))
            return sorted(ids)

    def release(self, attempt_id: int, dialler_id: str, now: datetime) -> None:
        """Give back a claim that was not dialled (the dialler is shutting down): handed out again at once."""
        with self._tx(write=True) as conn:
            attempt = conn.execute(select(attempts).where(attempts.c.id == attempt_id)).mappings().first()
            if attempt is None:
                raise NotFound(f"没有拨打记录 {attempt_id}")
            if attempt["dialler_id"] != dialler_id or attempt["state"] != CLAIMED:
                raise TransitionError("attempt_state", f"拨打记录 {attempt_id} 不在本拨号程序手中或已拨出")
            self._release(conn, attempt, now)

    # --- inside the claim transaction ------------------------------------------------------------------------

    def _housekeeping(self, conn: Connection, now: datetime) -> None:
        """Settle the leases that ran out and close the slots whose time is over (under the claim lock)."""
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
        self._settle_expired(conn, now)
        self._close_overdue(conn, now)

    def _live(self, conn: Connection, campaign_id: int | None = None) -> int:
        query = select(func.count()).where(attempts.c.state.in_(LIVE_ATTEMPT_STATES))
        if campaign_id is not None:
            query = query.where(attempts.c.campaign_id == campaign_id)
        return int(conn.execute(query).scalar_one())

    def _settle_expired(self, conn: Connection, now: datetime) -> None:
        expired = select(attempts).where(attempts.c.state.in_(LIVE_ATTEMPT_STATES), attempts.c.lease_until <= now)
        for attempt in conn.execute(expired).mappings().all():
            if attempt["state"] == CLAIMED:
                self._release(conn, attempt, now)
            else:
                self._lose(conn, attempt, now)

    def _release(self, conn: Connection, attempt: Any, now: datetime) -> None:
        conn.execute(update(attempts).where(attempts.c.id == attempt["id"]).values(state=RELEASED, ended_at=now))
        slot = conn.execute(select(slots).where(slots.c.id == attempt["slot_id"])).mappings().one()
        back = PENDING if slot["attempts_used"] == 0 else RETRY
        check_slot(slot["state"], back)
        conn.execute(update(slots).where(slots.c.id == slot["id"], slots.c.state == ACTIVE)
                     .values(state=back, updated_at=now))

    def _lose(self, conn: Connection, attempt: Any, now: datetime) -> None:
        """A dialled attempt whose dialler stopped renewing: a used attempt, the slot decided like a no-answer."""
        conn.execute(update(attempts).where(attempts.c.id == attempt["id"])
                     .values(state=LOST, outcome=LOST_OUTCOME, ended_at=attempt["lease_until"]))
        slot = conn.execute(select(slots).where(slots.c.id == attempt["slot_id"])).mappings().one()
        campaign = self._campaign(conn, attempt["campaign_id"])
        spec = spec_from_dict(campaign["spec"])
        decision = retry.decide(spec, LOST_OUTCOME, attempts_before=slot["attempts_used"],
                                callbacks_before=slot["callbacks_used"], ended_at=attempt["lease_until"],
                                deadline_at=slot["deadline_at"], callback_at=None,
                                callbacks_per_slot=self.config.callbacks_per_slot,
                                callback_default_minutes=self.config.callback_default_minutes)
        self._apply(conn, slot, decision, LOST_OUTCOME, now)

    def _apply(self, conn: Connection, slot: Any, decision: retry.Decision, outcome: str, now: datetime) -> None:
        """Write a retry decision to its slot (a retry time, or a final state with the follow-up reason)."""
        check_slot(slot["state"], decision.final_state or RETRY)
        values: dict[str, Any] = {"attempts_used": decision.attempts_used, "callbacks_used": decision.callbacks_used,
                                  "last_outcome": outcome, "updated_at": now}
        if decision.final_state:
            values.update(state=decision.final_state, follow_up=decision.follow_up)
        else:
            values.update(state=RETRY, next_at=decision.next_at)
        conn.execute(update(slots).where(slots.c.id == slot["id"]).values(**values))

    def _plan(self, conn: Connection, campaign: Any, spec: CampaignSpec, now: datetime) -> None:
        """Today's slots for every target (idempotent; skipped when the day is planned and no target was added).

        A kind called once (``CampaignKind.once``: call-backs, notices) gets one slot per target in all.
        """
        day = schedule.local_day(spec.schedule, now)
        if campaign["planned_day"] == day:
            return
        plans = [plan for plan in schedule.slots_of_day(spec.schedule, day) if plan.deadline_at > now]
        opted_out = exists().where(dnc.c.kind == campaign["kind"], dnc.c.phone == targets.c.phone)
        query = select(targets.c.id, opted_out).where(targets.c.campaign_id == campaign["id"])
        if _called_once(campaign["kind"]):
            # A call-back or notice: one slot per target in all, the next of today's times; a target that
            # has a slot already (answered, unreachable or still open) is never planned again.
            query = query.where(~exists().where(slots.c.target_id == targets.c.id))
            plans = plans[:1]
        found = conn.execute(query).all()
        # A target on the DNC list gets its slots closed at once, so staff see it on the follow-up list today.
        rows = [{"campaign_id": campaign["id"], "target_id": target_id, "day": plan.day, "time": plan.time,
                 "due_at": plan.due_at, "deadline_at": plan.deadline_at, "next_at": plan.due_at,
                 "state": "dnc" if dnc_listed else PENDING,
                 "follow_up": follow_up_reason("dnc", None, 0) if dnc_listed else None,
                 "claims": 0, "attempts_used": 0, "callbacks_used": 0, "updated_at": now}
                for plan in plans for target_id, dnc_listed in found]
        if rows:
            conn.execute(self._insert_ignoring(slots), rows)
        conn.execute(update(campaigns).where(campaigns.c.id == campaign["id"]).values(planned_day=day))

    def _hand_out(self, conn: Connection, campaign: Any, spec: CampaignSpec, now: datetime, dialler_id: str,
                  count: int) -> list[Claim]:
        if count <= 0:
            return []
        opted_out = exists().where(dnc.c.kind == campaign["kind"], dnc.c.phone == targets.c.phone)
        query = (select(slots.c.id, slots.c.target_id, slots.c.day, slots.c.time, slots.c.claims,
                        slots.c.attempts_used, targets.c.name, targets.c.phone)
                 .join(targets, targets.c.id == slots.c.target_id)
                 .where(slots.c.campaign_id == campaign["id"], slots.c.state.in_(CLAIMABLE_SLOT_STATES),
                        slots.c.next_at <= now, slots.c.deadline_at > now, ~opted_out)
                 .order_by(slots.c.next_at, slots.c.id).limit(count))
        if not self.is_sqlite:
            query = query.with_for_update(of=slots, skip_locked=True)
        lease_until = now + timedelta(seconds=self.config.lease_s)
        claims = []
        for slot in conn.execute(query).mappings().all():
            seq = slot["claims"] + 1
            moved = conn.execute(update(slots).where(slots.c.id == slot["id"],
                                                     slots.c.state.in_(CLAIMABLE_SLOT_STATES))
                                 .values(state=ACTIVE, claims=seq, updated_at=now))
            if moved.rowcount != 1:
                continue
            attempt_id = conn.execute(attempts.insert().values(
                slot_id=slot["id"], campaign_id=campaign["id"], target_id=slot["target_id"], seq=seq,
                state=CLAIMED, dialler_id=dialler_id, claimed_at=now, lease_until=lease_until,
            )).inserted_primary_key[0]
            claims.append(Claim(
                attempt_id=int(attempt_id), slot_id=slot["id"], campaign_id=campaign["id"],
                target_id=slot["target_id"], name=slot["name"], phone=slot["phone"], dial=dial_string(slot["phone"]),
                day=slot["day"].isoformat(), time=slot["time"], attempt_number=slot["attempts_used"] + 1,
                lease_until=lease_until, ring_timeout_s=spec.ring_timeout_s, caller_id=spec.caller_id))
        return claims

    def _close_overdue(self, conn: Connection, now: datetime) -> None:
        """Open slots whose time is over: unreachable (attempts made), DNC, or not called — each with its reason.

        A slot still held by a dialler is left alone: its outcome, or its lease running out, decides it.
        """
        opted_out = exists().where(dnc.c.kind == campaigns.c.kind, dnc.c.phone == targets.c.phone)
        query = (select(slots.c.id, slots.c.state, slots.c.attempts_used, slots.c.last_outcome,
                        opted_out.label("opted_out"))
                 .join(targets, targets.c.id == slots.c.target_id)
                 .join(campaigns, campaigns.c.id == slots.c.campaign_id)
                 .where(slots.c.state.in_(CLAIMABLE_SLOT_STATES), slots.c.deadline_at <= now))
        for slot in conn.execute(query).mappings().all():
            final = "dnc" if slot["opted_out"] else "unreachable" if slot["attempts_used"] else "not_called"
            check_slot(slot["state"], final)
            conn.execute(update(slots).where(slots.c.id == slot["id"]).values(
                state=final, updated_at=now,
                follow_up=follow_up_reason(final, slot["last_outcome"], slot["attempts_used"])))


def _called_once(kind_name: str) -> bool:
    kind = kinds.get(kind_name)
    return bool(kind and kind.once)
