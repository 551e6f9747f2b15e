"""The campaign store: campaigns, targets, daily slots, leased attempts, the do-not-call list, follow-ups.

One module per concern, combined into :class:`Store` by inheritance: ``base`` (engine, transactions) →
``campaigns`` (campaigns, targets, create/edit, start/stop; ``edits`` holds what an edit may not do) and
``dnc`` (the do-not-call list) → ``claims`` (planning slots, lease claims for diallers) → ``outcomes``
(results, answers, retries) → ``followups`` (人工补漏) and ``report`` (the daily report, the live counts);
``ratings`` (the call-back ratings' queue, :mod:`campaigns.ratings`) beside them. ``schema`` holds the
tables. SQLite by default, PostgreSQL by URL (``[campaigns] db_url``).
"""

from __future__ import annotations

from campaigns.store.base import NotFound
from campaigns.store.campaigns import CampaignsMixin, DuplicateName, EditConflict, EmptyCampaign
from campaigns.store.claims import Claim
from campaigns.store.edits import EditRefused
from campaigns.store.followups import ABNORMAL, UNREACHED, FollowupsMixin
from campaigns.store.outcomes import OutcomeError
from campaigns.store.ratings import RatingsMixin
from campaigns.store.report import ReportMixin


class Store(ReportMixin, FollowupsMixin, CampaignsMixin, RatingsMixin):
    """Every table of the campaigns behind one synchronous object (see the package docstring)."""


__all__ = ["ABNORMAL", "UNREACHED", "Claim", "DuplicateName", "EditConflict", "EditRefused", "EmptyCampaign",
           "NotFound", "OutcomeError", "Store"]
