"""The dispatch store: tickets, their history, ratings, supervision and webhook events.

One module per concern, combined into :class:`Store` by inheritance (each builds on the one before):
``base`` (engine, transactions, history lines) → ``events`` (webhook outbox) → ``reading`` (look-ups,
search, queue) → ``intake`` (new reports, numbering, duplicates) → ``cases`` (dispatcher actions) →
``oversight`` (ratings, SLA supervision, metric rows). ``rows`` holds the value objects.
"""

from __future__ import annotations

from dispatch.server.store.oversight import OversightMixin
from dispatch.server.store.rows import OPEN_STATUSES, Filters, NewRequest, TransitionError


class Store(OversightMixin):
    """Every table of the embedded server behind one synchronous object (see the package docstring)."""


__all__ = ["OPEN_STATUSES", "Filters", "NewRequest", "Store", "TransitionError"]
