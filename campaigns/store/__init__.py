"""The campaign store: campaigns, targets, daily slots, leased attempts, the do-not-call list, follow-ups.

One module per concern, combined into :class:`Store` by inheritance: ``base`` (engine, transactions) →
``campaigns`` (campaigns, targets, start/stop) and ``dnc`` (the do-not-call list) → ``claims`` (planning
slots, lease claims for diallers) → ``outcomes`` (results, answers, retries) → ``followups`` (人工补漏) and
``report`` (the daily report). ``schema`` holds the tables. SQLite by default, PostgreSQL by URL
(``[campaigns] db_url``).
"""

from __future__ import annotations

from campaigns.store.base import NotFound
from campaigns.store.campaigns import CampaignsMixin, DuplicateName, EmptyCampaign
from campaigns.store.claims import Claim
from campaigns.store.followups import ABNORMAL, UNREACHED, FollowupsMixin
from campaigns.store.outcomes import OutcomeError
from campaigns.store.report import ReportMixin


class Store(ReportMixin, FollowupsMixin, CampaignsMixin):
    """Every table of the campaigns behind one synchronous object (see the package docstring)."""


__all__ = ["ABNORMAL", "UNREACHED", "Claim", "DuplicateName", "EmptyCampaign", "NotFound", "OutcomeError", "Store"]
