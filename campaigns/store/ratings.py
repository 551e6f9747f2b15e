"""The ``rating_posts`` queue: one row per settled call-back slot, the rating it carries to its case.

Why in the store and not in :mod:`campaigns.ratings`: the rows are written in the same transactions and with
the same dialect tools (``INSERT … ON CONFLICT DO NOTHING``, SQLite's write lock) as the slots they are
collected from; :mod:`campaigns.ratings` decides what a row says (score, comment) and sends it, and reaches
the table only through the public methods here.

Why its own ``MetaData``: the table exists only where a rating poster runs (the dialler), so a store opened by
the CLI or the API creates none; :meth:`RatingsMixin.create_rating_tables` is what the poster calls, under the
same schema lock as the other tables (two diallers starting at once on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, and_, exists, or_, select, update
from sqlalchemy.schema import Index

from campaigns.kinds.satisfaction_callback import KIND
from campaigns.states import DONE, OPEN_SLOT_STATES
from campaigns.store.base import StoreBase, create_tables
from campaigns.store.schema import NAME_CHARS, SHORT_CHARS, UtcDateTime, attempts, campaigns, slots, targets

PENDING, SENT, ALREADY_RATED, REJECTED, NO_RATING = "pending", "sent", "already_rated", "rejected", "no_rating"
TOKEN_CHARS = 32

rating_metadata = MetaData()
rating_posts = Table(
    "rating_posts", rating_metadata,
    Column("slot_id", Integer, primary_key=True),  # one rating per call-back (the backend takes one per case)
    Column("attempt_id", Integer, unique=True),  # the attempt whose answer is the rating (NULL: no rating)
    Column("campaign_id", Integer, nullable=False),
    Column("ticket", String(NAME_CHARS)),  # the case (the target's notes, campaigns.callbacks.ticket_of)
    Column("score", Integer),
    Column("comment", Text, nullable=False, default=""),
    Column("state", String(SHORT_CHARS), nullable=False),
    Column("tries", Integer, nullable=False, default=0),
    Column("next_at", UtcDateTime, nullable=False),
    Column("claimed_until", UtcDateTime),
    Column("claim_token", String(TOKEN_CHARS)),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Index("ix_rating_posts_due", "state", "next_at"),
)

# A settled call-back slot (id, campaign_id, notes, spec) and its done attempts [(attempt id, answers JSON)]
# → the row to queue for it (every column of rating_posts but the claim's).
RowMaker = Callable[[Mapping[str, Any], list[Any]], dict[str, Any]]


class RatingsMixin(StoreBase):
    def create_rating_tables(self) -> None:
        create_tables(self.engine, rating_metadata)

    def queue_ratings(self, limit: int, make_row: RowMaker) -> int:
        """Queue up to ``limit`` settled call-back slots that have no row yet; returns how many were queued.

        One write transaction: the slots read and the rows added are one step, so two posters never both
        count a slot (the primary key keeps the table right even if they did).
        """
        unqueued = ~exists().where(rating_posts.c.slot_id == slots.c.id)
        query = (select(slots.c.id, slots.c.campaign_id, targets.c.notes, campaigns.c.spec)
                 .join(targets, targets.c.id == slots.c.target_id)
                 .join(campaigns, campaigns.c.id == slots.c.campaign_id)
                 .where(campaigns.c.kind == KIND.name, slots.c.state.not_in(OPEN_SLOT_STATES), unqueued)
                 .order_by(slots.c.id).limit(limit))
        with self._tx(write=True) as conn:
            rows = []
            for slot in conn.execute(query).mappings().all():
                done = conn.execute(select(attempts.c.id, attempts.c.answers)
                                    .where(attempts.c.slot_id == slot["id"], attempts.c.state == DONE)
                                    .order_by(attempts.c.seq)).all()
                rows.append(make_row(slot, done))
            if rows:
                conn.execute(self._insert_ignoring(rating_posts), rows)
        return len(rows)

    def claim_ratings(self, now: datetime, limit: int, claim_s: float) -> list[dict[str, Any]]:
        """Claim the oldest due rows for ``claim_s`` seconds (a conditional UPDATE: several posters may run)."""
        token = uuid.uuid4().hex
        due = and_(rating_posts.c.state == PENDING, rating_posts.c.next_at <= now,
                   or_(rating_posts.c.claimed_until.is_(None), rating_posts.c.claimed_until < now))
        oldest = select(rating_posts.c.slot_id).where(due).order_by(rating_posts.c.next_at).limit(limit)
        with self._tx(write=True) as conn:
            conn.execute(update(rating_posts).where(due, rating_posts.c.slot_id.in_(oldest.scalar_subquery()))
                         .values(claimed_until=now + timedelta(seconds=claim_s), claim_token=token))
        with self._tx() as conn:
            found = conn.execute(select(rating_posts).where(rating_posts.c.claim_token == token)
                                 .order_by(rating_posts.c.next_at))
            return [dict(item) for item in found.mappings()]

    def update_rating(self, slot_id: int, claim_token: str, **values: Any) -> None:
        """Update a row this poster claimed (a claim that ran out and was taken over is left to its new owner)."""
        with self._tx(write=True) as conn:
            conn.execute(update(rating_posts).where(rating_posts.c.slot_id == slot_id,
                                                    rating_posts.c.claim_token == claim_token).values(**values))

    def rating_rows(self) -> list[dict[str, Any]]:
        with self._tx() as conn:
            return [dict(item) for item in conn.execute(select(rating_posts).order_by(rating_posts.c.slot_id))
                    .mappings()]
