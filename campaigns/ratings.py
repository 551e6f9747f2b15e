"""The satisfaction rating a call-back collected, posted to its case in the dispatch backend (durably).

Why a queue of its own: the outbox (:mod:`dispatch.outbox`) stores and retries *tickets*; a rating it sends
once (``rate``) and a backend that is down loses it. So the campaign store keeps one row per call-back slot
(``rating_posts``, :mod:`campaigns.store.ratings`) and this module sends it through the product's ticket backend
(:class:`~dispatch.backends.base.TicketBackend` ``.rate``, behind the outbox that resolves provisional
numbers) until the backend answers: down → retried with the shared backoff (:func:`common.backoff.delay`),
accepted → ``sent``, refused (the case reopened or unknown) → ``rejected`` with the backend's reason.

Why the rows are *collected* from the slots instead of written by the dialler: a dialler killed between
recording the outcome and queuing the rating would lose it. Every pass looks for settled slots of
``satisfaction_callback`` campaigns that have no row yet, so the answer in the store is all it takes. A slot
is collected once it is settled (not pending, active or retrying), because a resident who rated and then
hung up is called again for the rest (the comment), and the backend takes one rating per case. A settled
slot without a rating answer gets a ``no_rating`` row, so it is not looked at again.

Idempotent: one row per slot (and per attempt), claimed with a conditional UPDATE before it is sent (several
diallers may run passes); a send whose answer was lost is sent again and the backend answers
``already_rated``, which ends the row as ``already_rated`` (the case has its one rating).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from campaigns.abnormal import describe
from campaigns.callbacks import ticket_of
from campaigns.model import spec_from_dict
from campaigns.store import Store
from campaigns.store.ratings import (
    ALREADY_RATED,
    NO_RATING,
    PENDING,
    REJECTED,
    SENT,
    rating_metadata,
    rating_posts,
)
from common import settings
from common.backoff import delay
from common.logging import mask_pii
from common.typed_settings import SettingsError, from_section
from dispatch.backends.base import BackendError, BackendRejected, BackendUnavailable
from dispatch.limits import DESCRIPTION_MAX

log = logging.getLogger(__name__)
SECTION = "campaigns"
COMMENT_SEPARATOR = "；"
COMMENT_PREFIX = "电话回访："
# The queue's states and table live with the store (campaigns/store/ratings.py); named here too for callers.
__all__ = ["ALREADY_RATED", "NO_RATING", "PENDING", "REJECTED", "SENT", "PassResult", "RatingConfig", "RatingPoster",
           "rating_metadata", "rating_posts"]


@dataclass(frozen=True)
class RatingConfig:
    """The ``rating_*`` keys of ``[campaigns]``."""

    rating_question: str
    rating_scores: dict[str, int]
    rating_comment_questions: tuple[str, ...]
    rating_poll_s: float
    rating_batch: int
    rating_claim_s: float
    rating_retry_base_s: float
    rating_retry_max_s: float

    @classmethod
    def load(cls, conf: Mapping[str, Any] | None = None, **overrides: Any) -> RatingConfig:
        made = from_section(cls, settings.section(SECTION) if conf is None else conf, SECTION, **overrides)
        scores = made.rating_scores
        if not isinstance(scores, Mapping) or not scores or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in scores.values()):
            raise SettingsError(f"[{SECTION}] rating_scores: expected a table of answer → score 1–5")
        return made


@dataclass
class PassResult:
    """One pass: rows collected from the slots, and how the due ones fared."""

    collected: int = 0
    sent: int = 0
    already_rated: int = 0
    rejected: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RatingPoster:
    """Collects ratings from the campaign store and posts them through ``outbox`` (``resolve`` + ``backend``)."""

    def __init__(self, store: Store, outbox: Any, conf: RatingConfig | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.outbox, self.conf, self.clock = store, outbox, conf or RatingConfig.load(), clock
        self.wakeup = asyncio.Event()
        store.create_rating_tables()

    @classmethod
    def from_settings(cls, store: Store) -> RatingPoster:
        """The poster of the dialler process: ``[dispatch]``'s outbox and backend."""
        from dispatch.outbox import Outbox

        return cls(store, Outbox.from_settings())

    # -- collecting -------------------------------------------------------------------------------------
    def collect(self, now: datetime) -> int:
        """Queue the ratings of settled call-back slots that have no row yet; returns how many rows were added."""
        return self.store.queue_ratings(self.conf.rating_batch, lambda slot, done: self._row(slot, done, now))

    def _row(self, slot: Mapping[str, Any], done: list[Any], now: datetime) -> dict[str, Any]:
        """The slot's row: the score of its (latest) rating answer and a comment of the other answers."""
        merged: dict[str, Any] = {}
        rated_by: int | None = None
        for attempt_id, answers in done:
            given = json.loads(answers) if answers else {}
            merged.update(given)
            if self.conf.rating_question in given:
                rated_by = attempt_id
        value = (merged.get(self.conf.rating_question) or {}).get("value")
        score = self.conf.rating_scores.get(str(value)) if rated_by is not None else None
        ticket = ticket_of(slot["notes"])
        row = {"slot_id": slot["id"], "attempt_id": rated_by, "campaign_id": slot["campaign_id"], "ticket": ticket,
               "score": score, "comment": "", "state": PENDING, "tries": 0, "next_at": now, "created_at": now,
               "last_error": None}  # every row has every key: they are inserted as one batch
        if score is None or not ticket:
            return {**row, "state": NO_RATING, "last_error": None if ticket else "呼叫对象备注中没有工单号"}
        return {**row, "comment": self._comment(json.loads(slot["spec"]), merged)}

    def _comment(self, spec_dict: dict[str, Any], merged: Mapping[str, Any]) -> str:
        """The other answers as staff read them (问题已解决：否；意见建议：……), prefixed with where they came from."""
        spec = spec_from_dict(spec_dict)
        parts = []
        for question_id in self.conf.rating_comment_questions:
            question, value = spec.question(question_id), (merged.get(question_id) or {}).get("value")
            if question is not None and value not in (None, ""):
                parts.append(describe(question, value))
        comment = COMMENT_PREFIX + COMMENT_SEPARATOR.join(parts) if parts else ""
        return comment if len(comment) <= DESCRIPTION_MAX else comment[:DESCRIPTION_MAX - 1] + "…"  # never refused

    # -- sending ----------------------------------------------------------------------------------------
    def post_due(self, now: datetime) -> PassResult:
        """Send the due rows (oldest first); after the first "unavailable" the rest wait for the next pass."""
        result = PassResult()
        for row in self._claim(now):
            if result.unavailable:
                self._set(row, claimed_until=None)
                continue
            self._send(row, now, result)
        return result

    def _claim(self, now: datetime) -> list[dict[str, Any]]:
        return self.store.claim_ratings(now, self.conf.rating_batch, self.conf.rating_claim_s)

    def _send(self, row: dict[str, Any], now: datetime, result: PassResult) -> None:
        srid = self.outbox.resolve(row["ticket"])
        try:
            if not srid:  # still a provisional number: the outbox has not delivered the case yet
                raise BackendUnavailable(f"工单 {row['ticket']} 尚未受理")
            self.outbox.backend.rate(srid, int(row["score"]), row["comment"])
        except BackendRejected as exc:
            state = ALREADY_RATED if exc.reason == ALREADY_RATED else REJECTED
            setattr(result, state, getattr(result, state) + 1)
            log.warning("rating of case %s %s: %s", srid, state, exc.description)
            self._set(row, state=state, last_error=exc.description, claimed_until=None, sent_at=now)
        except BackendError as exc:  # unavailable (or any answer that may change): retry with backoff
            result.unavailable += 1
            tries = row["tries"] + 1
            wait = delay(tries, self.conf.rating_retry_base_s, self.conf.rating_retry_max_s)
            log.info("rating of case %s not sent (try %d, again in %.0f s): %s", row["ticket"], tries, wait,
                     mask_pii(str(exc)))
            self._set(row, tries=tries, next_at=now + timedelta(seconds=wait), last_error=str(exc),
                      claimed_until=None)
        else:
            result.sent += 1
            log.info("rating %s of case %s posted (slot %s)", row["score"], srid, row["slot_id"])
            self._set(row, state=SENT, sent_at=now, last_error=None, claimed_until=None, tries=row["tries"] + 1)

    def _set(self, row: Mapping[str, Any], **values: Any) -> None:
        """Update a row this pass claimed (a claim that ran out and was taken over is left to its new owner)."""
        self.store.update_rating(row["slot_id"], row["claim_token"], **values)

    # -- running ----------------------------------------------------------------------------------------
    def pass_once(self) -> PassResult:
        now = self.clock()
        collected = self.collect(now)
        result = self.post_due(now)
        result.collected = collected
        return result

    def rows(self) -> list[dict[str, Any]]:
        """Every row (for the tests and for operators checking what was posted)."""
        return self.store.rating_rows()

    def wake(self) -> None:
        """An outcome was recorded: run a pass now rather than at the next poll."""
        self.wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Passes every ``rating_poll_s`` (or at once when woken) until ``stop`` is set; errors are logged."""
        while not stop.is_set():
            self.wakeup.clear()
            try:
                await asyncio.to_thread(self.pass_once)
            except Exception:  # the campaign store is down: the next pass tries again
                log.exception("rating pass failed")
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
            await asyncio.wait(waiters, timeout=self.conf.rating_poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
