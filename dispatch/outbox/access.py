"""Who may see what of a case, and who may rate it.

Case numbers are sequential (GB…-0001, -0002 …), so a number proves nothing: anyone can name one. The
asker's identity comes from the channel (a gateway-issued session for ``sender_id``; ``verified_phone``
only from trusted clients: the voice bot's caller id, a platform that verified the number), never from
the message. So:

* the **reporter** (same ``sender_id``, or the verified phone is the case's contact phone) sees everything
  and may rate the case (the backend allows one rating per case);
* anyone else sees only the public fields (number, category, status, dates) unless they add the last four
  digits of the case's contact phone, as 12345 hotlines ask; a wrong guess counts against the case, and
  after ``verify_max_failures`` within ``verify_window_s`` no guess is accepted for a while, so the
  10,000 possible endings cannot simply be tried.

The reporter is looked up in this outbox's row first (no network) and, for a case filed through another
process or channel, in the backend (:meth:`~dispatch.backends.base.TicketBackend.contact`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from dispatch.backends.base import BackendError, BackendRejected, Contact
from dispatch.outbox.model import is_provisional, normalize_phone
from dispatch.outbox.reading import ReadingMixin

log = logging.getLogger("dispatch.outbox")
OWNER, VERIFIED, PUBLIC = "owner", "verified", "public"
PUBLIC_FIELDS = ("reference", "service_request_id", "status", "service_name", "requested_datetime",
                 "updated_datetime", "expected_datetime", "provisional")
LAST_DIGITS = 4
DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW_S = 3600.0
# What rate_as answers (the action turns each into a sentence).
RATED, NOT_REPORTER, ALREADY_RATED, NOT_CLOSED, NOT_SENT, INVALID, UNAVAILABLE = (
    "rated", "not_reporter", "already_rated", "not_closed", "not_sent", "invalid", "unavailable")
MIN_SCORE, MAX_SCORE = 1, 5


@dataclass(frozen=True)
class Asker:
    """Who is asking, as far as the channel vouches for it (see the module docstring)."""

    sender_id: str = ""
    verified_phone: str = ""
    phone_last4: str = ""


@dataclass(frozen=True)
class Lookup:
    """A case as the asker may see it. ``digits_rejected``: last digits were given and did not open it."""

    case: dict[str, Any]
    access: str
    digits_rejected: bool = False


class GuessGuard:
    """Failed last-digit guesses per case within a sliding window (this process; thread-safe)."""

    def __init__(self, max_failures: int, window_s: float, clock: Any = time.monotonic) -> None:
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def _recent(self, case: str) -> list[float]:
        horizon = self.clock() - self.window_s
        recent = [t for t in self._failures.get(case, []) if t > horizon]
        self._failures[case] = recent
        return recent

    def locked(self, case: str) -> bool:
        with self._lock:
            return len(self._recent(case)) >= self.max_failures

    def failed(self, case: str) -> None:
        with self._lock:
            self._recent(case).append(self.clock())


class AccessMixin(ReadingMixin):
    @property
    def guesses(self) -> GuessGuard:
        guard = self.__dict__.get("_guesses")
        if guard is None:
            guard = GuessGuard(int(self.conf.get("verify_max_failures", DEFAULT_MAX_FAILURES)),
                               float(self.conf.get("verify_window_s", DEFAULT_WINDOW_S)))
            self.__dict__["_guesses"] = guard
        return guard

    def reporters(self, reference: str) -> list[Contact]:
        """Who reported the case: this outbox's rows, else what the backend recorded ([] when unknown)."""
        rows = [self.local_row(reference)] if is_provisional(reference) else self._rows(
            "service_request_id = :s", s=(reference or "").strip())
        found = [Contact(r["sender_id"] or "", r["phone"] or "") for r in rows if r]
        if found or is_provisional(reference):
            return found
        try:
            contact = self.backend.contact(reference)
        except BackendError as exc:
            log.warning("reporter of %s unknown: %s", reference, exc)
            return []
        return [contact] if contact else []

    def _contacts(self, *references: str) -> list[Contact]:
        """The reporters of a case known under any of these references (TMP reference, real number)."""
        return [c for reference in dict.fromkeys(r for r in references if r) for c in self.reporters(reference)]

    def is_reporter(self, reference: str, asker: Asker) -> bool:
        return _reported_by(self._contacts(reference), asker)

    def lookup(self, reference: str, asker: Asker) -> Lookup | None:
        """The case as this asker may see it, or None when there is no such case (see the module docstring).

        Raises BackendUnavailable like :meth:`status` when nothing at all is known about the case.
        """
        case = self.status(reference)
        if case is None:
            return None
        number = case.get("reference") or reference
        contacts = self._contacts(number, reference)
        if _reported_by(contacts, asker):
            return Lookup(case, OWNER)
        digits = "".join(ch for ch in asker.phone_last4 if ch.isdigit())
        if len(digits) != LAST_DIGITS:
            return Lookup(public_view(case), PUBLIC)
        phones = [normalize_phone(c.phone) for c in contacts]
        if not self.guesses.locked(number) and any(p.endswith(digits) and len(p) > LAST_DIGITS for p in phones):
            return Lookup(case, VERIFIED)
        self.guesses.failed(number)
        log.warning("wrong or locked last digits for %s", number)
        return Lookup(public_view(case), PUBLIC, digits_rejected=True)

    def rate(self, reference: str, score: int, comment: str = "") -> bool:
        """Send a 1–5 rating for a trusted caller (no reporter check; see :meth:`rate_as`); False when the
        score is out of range, the ticket is still provisional, or the backend refused or was unreachable."""
        return self._send_rating(reference, score, comment) == RATED

    def rate_as(self, reference: str, score: int, comment: str, asker: Asker) -> str:
        """The reporter's rating (module docstring): one of RATED, NOT_REPORTER, ALREADY_RATED, NOT_CLOSED,
        NOT_SENT (still provisional), INVALID (score), UNAVAILABLE."""
        if not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
            return INVALID
        srid = self.resolve(reference)
        if not srid:
            return NOT_SENT
        if not _reported_by(self._contacts(srid, reference), asker):
            return NOT_REPORTER
        return self._send_rating(srid, score, comment)

    def _send_rating(self, reference: str, score: int, comment: str) -> str:
        if not isinstance(score, int) or not MIN_SCORE <= score <= MAX_SCORE:
            return INVALID
        srid = self.resolve(reference)
        if not srid:
            return NOT_SENT
        try:
            self.backend.rate(srid, score, comment)
            return RATED
        except BackendRejected as exc:
            log.warning("rating of %s not accepted: %s", srid, exc.description)
            return {ALREADY_RATED: ALREADY_RATED, NOT_CLOSED: NOT_CLOSED}.get(exc.reason, NOT_CLOSED)
        except BackendError as exc:
            log.warning("rating of %s not sent: %s", srid, exc)
            return UNAVAILABLE


def _reported_by(contacts: list[Contact], asker: Asker) -> bool:
    phone = normalize_phone(asker.verified_phone)
    return any((asker.sender_id and c.sender_id == asker.sender_id) or (phone and normalize_phone(c.phone) == phone)
               for c in contacts)


def public_view(case: dict[str, Any]) -> dict[str, Any]:
    """Only what anyone who names the number may see: number, category, status, dates."""
    return {k: case.get(k) for k in PUBLIC_FIELDS if k in case}
