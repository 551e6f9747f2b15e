"""The campaign store's tables (SQLAlchemy Core): campaigns, targets, slots, attempts, dnc.

Why a *slot* table between targets and attempts: the promise "no resident is called twice for the same slot"
needs a row to hold it. A slot is one target's call at one daily time on one day (unique per target, day and
time); it carries the retry state (attempts used, next time due, final state, follow-up reason) and a claim
counter, and each attempt is numbered by that counter (unique per slot), so even a bug that let two claimers
read the same slot could not store two hand-outs of it.

Times are stored as naive UTC (SQLite has no zone type) and come back aware (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table, Text
from sqlalchemy.schema import Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator

PHONE_CHARS = 20  # E.164: at most 15 digits and the plus
SHORT_CHARS = 32  # states, kinds, outcomes, dialler ids are short identifiers
NAME_CHARS = 200
CLOCK_CHARS = 5  # "HH:MM"


class UtcDateTime(TypeDecorator):
    """An aware datetime stored as naive UTC; naive values are refused (they are a bug: which zone?)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the campaign store")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()

campaigns = Table(
    "campaigns", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_CHARS), nullable=False, unique=True),
    Column("kind", String(SHORT_CHARS), nullable=False),
    Column("state", String(SHORT_CHARS), nullable=False),
    Column("spec", Text, nullable=False),  # CampaignSpec.to_dict() as JSON
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("planned_day", Date),  # the local day whose slots exist for every target (NULL: plan again)
)

targets = Table(
    "targets", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("name", String(NAME_CHARS), nullable=False),
    Column("phone", String(PHONE_CHARS), nullable=False),  # E.164
    Column("address", Text, nullable=False, default=""),
    Column("community", Text, nullable=False, default=""),
    Column("grid", Text, nullable=False, default=""),
    Column("notes", Text, nullable=False, default=""),
    Column("source_row", Integer),  # the row of the imported file, for operators comparing with their sheet
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("campaign_id", "phone", name="uq_targets_campaign_phone"),
)

slots = Table(
    "slots", metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("day", Date, nullable=False),  # in the campaign's zone
    Column("time", String(CLOCK_CHARS), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("deadline_at", UtcDateTime, nullable=False),  # no attempt of this slot starts at or after this
    Column("next_at", UtcDateTime, nullable=False),  # when it may be claimed next
    Column("state", String(SHORT_CHARS), nullable=False),
    Column("claims", Integer, nullable=False, default=0),  # hand-outs so far (numbers the attempts)
    Column("attempts_used", Integer, nullable=False, default=0),
    Column("callbacks_used", Integer, nullable=False, default=0),
    Column("last_outcome", String(SHORT_CHARS)),
    Column("follow_up", Text),  # why staff must step in (人工补漏); NULL: nobody needs to
    Column("abnormal", Text),  # JSON list of reasons from the answers; NULL: none
    Column("follow_up_done_at", UtcDateTime),
    Column("follow_up_done_by", String(NAME_CHARS)),
    Column("follow_up_note", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("target_id", "day", "time", name="uq_slots_target_day_time"),
    Index("ix_slots_due", "state", "next_at"),
    Index("ix_slots_campaign_day", "campaign_id", "day"),
)

attempts = Table(
    "attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("slot_id", Integer, ForeignKey("slots.id"), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # the slot's claim counter when handed out
    Column("state", String(SHORT_CHARS), nullable=False),
    Column("dialler_id", String(NAME_CHARS), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    Column("dialed_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("outcome", String(SHORT_CHARS)),
    Column("answers", Text),  # JSON {question id: {"value", "keys", "text"}}
    Column("abnormal", Text),  # JSON list of reasons
    UniqueConstraint("slot_id", "seq", name="uq_attempts_slot_seq"),
    Index("ix_attempts_live", "state", "lease_until"),
    Index("ix_attempts_campaign_state", "campaign_id", "state"),
)

dnc = Table(
    "dnc", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(SHORT_CHARS), nullable=False),  # a campaign kind: the opt-out holds for all of its campaigns
    Column("phone", String(PHONE_CHARS), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("added_by", String(NAME_CHARS), nullable=False, default=""),
    Column("added_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "phone", name="uq_dnc_kind_phone"),
)
