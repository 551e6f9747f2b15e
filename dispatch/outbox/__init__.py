"""The durable outbox between the assistant and the ticket backend: no ticket lost, none submitted twice.

The outbox sits in front of whatever system the command centre runs (:mod:`dispatch.backends`): it writes
each ticket with an idempotency key to a local table before sending it, hands the resident a provisional
reference when the backend is down, retries with backoff, and answers status questions from its last known
state during an outage. One module per concern, combined into :class:`Outbox` by inheritance:

==================  =====================================================================================
``model``           TicketDraft, Receipt, DrainResult, states, provisional references, phone numbers
``table``           the table and the base (engine, backend, settings, rows)
``submit``          store first, then one short attempt; sending, tokens, retry schedule
``reading``         one case, a resident's cases, who filed a case
``access``          who may see what of a case, who may rate it (the reporter, once)
``polling``         status changes of backends that do not push them
``drain``           the drain pass and the service loop (``python -m dispatch.outbox drain``)
``cli``             the command line
==================  =====================================================================================

Imported by the Rasa action server (CPython 3.10, SQLAlchemy 1.4, psycopg2) and by our services (3.11,
SQLAlchemy 2, psycopg 3). Usage by the actions::

    outbox = Outbox.from_settings()
    receipt = outbox.submit(TicketDraft(service_code="noise", description="…", address_string="…", phone="138…",
                                        sender_id="…", channel="rest", transcript="…"))
    outbox.lookup(reference, Asker(sender_id=…, verified_phone=…, phone_last4=…))   # what this asker may see
    outbox.cases_for(sender_id=..., phone=...)
    outbox.rate_as(reference, 5, "处理很及时", asker)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatch.db import engine_url, make_engine
from dispatch.limits import DESCRIPTION_MAX
from dispatch.outbox.access import OWNER, PUBLIC, VERIFIED, Asker, Lookup, public_view
from dispatch.outbox.drain import DrainMixin
from dispatch.outbox.model import DrainResult, Receipt, TicketDraft, is_provisional, normalize_phone
from dispatch.outbox.table import SCHEMA, create_schema
from dispatch.signing import signature


class Outbox(DrainMixin):
    """Durable, idempotent submission of tickets to a ticket backend (see the package docstring)."""

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any] | None = None, **kwargs: Any) -> Outbox:
        """The outbox of ``[dispatch]``: store ``outbox_db_url``, the backend ``backend`` names."""
        from common import settings
        from dispatch.backends import from_settings as backend_from_settings

        conf = dict(settings.section("dispatch") if conf is None else conf)
        return cls(make_engine(conf["outbox_db_url"]), backend_from_settings(conf), conf, **kwargs)


__all__ = [
    "DESCRIPTION_MAX", "OWNER", "PUBLIC", "SCHEMA", "VERIFIED", "Asker", "DrainResult", "Lookup", "Outbox",
    "Receipt", "TicketDraft", "create_schema", "engine_url", "is_provisional", "make_engine", "normalize_phone",
    "public_view", "signature",
]
