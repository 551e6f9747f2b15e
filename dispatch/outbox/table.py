"""The outbox's table and the base every part of the outbox builds on (settings, rows, the backend).

SQLAlchemy Core with ``text()`` and ``engine.begin()`` only, so the same code runs on SQLAlchemy 1.4
(the Rasa environment) and 2.x (ours); SQLite by default, PostgreSQL by URL (:func:`dispatch.db.engine_url`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from common.backoff import delay
from dispatch.backends import adapt
from dispatch.backends.base import BackendError, TicketBackend, known_fields

log = logging.getLogger("dispatch.outbox")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS dispatch_outbox (
        reference VARCHAR(40) PRIMARY KEY,
        idempotency_key VARCHAR(120) NOT NULL UNIQUE,
        state VARCHAR(16) NOT NULL,
        payload TEXT NOT NULL,
        service_code VARCHAR(64) NOT NULL,
        service_name VARCHAR(200),
        sender_id VARCHAR(200),
        phone VARCHAR(40),
        channel VARCHAR(40),
        service_request_id VARCHAR(120),
        token VARCHAR(200),
        expected_datetime VARCHAR(40),
        status VARCHAR(32),
        status_notes TEXT,
        updated_datetime VARCHAR(40),
        requested_datetime VARCHAR(40),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        claimed_until DOUBLE PRECISION,
        claim_token VARCHAR(40),
        last_error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_due ON dispatch_outbox (state, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_srid ON dispatch_outbox (service_request_id)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_sender ON dispatch_outbox (sender_id)",
    "CREATE INDEX IF NOT EXISTS dispatch_outbox_phone ON dispatch_outbox (phone)",
]
SCHEMA_ATTEMPTS = 3
SCHEMA_RETRY_S, SCHEMA_RETRY_MAX_S = 0.2, 1.0


def create_schema(engine: Engine) -> None:
    """Create the table if missing (two processes starting together may race: the loser retries)."""
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with engine.begin() as conn:
                for statement in SCHEMA:
                    conn.execute(text(statement))
            return
        except (IntegrityError, ProgrammingError, OperationalError):
            if attempt == SCHEMA_ATTEMPTS - 1:
                raise
            time.sleep(delay(attempt + 1, SCHEMA_RETRY_S, SCHEMA_RETRY_MAX_S))


class OutboxBase:
    """Engine, backend, settings and row access; the concerns (submit, drain, reading, access, polling)
    are mixins over this base, combined in :class:`dispatch.outbox.Outbox`."""

    def __init__(
        self,
        engine: Engine,
        backend: TicketBackend | Any,
        conf: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.conf = dict(conf)
        self.backend: TicketBackend = adapt(backend, self.conf)
        self.clock = clock
        self.rng = rng
        create_schema(engine)

    # -- settings ---------------------------------------------------------------------------------------------

    def _setting(self, key: str) -> float:
        return float(self.conf[key])

    def _auto(self, key: str, default: bool) -> bool:
        """A true/false/auto setting; ``auto`` takes ``default`` (what the backend makes sensible)."""
        value = self.conf.get(key, "auto")
        return default if value == "auto" else value in (True, "true", "always", 1)

    # -- rows -------------------------------------------------------------------------------------------------

    def _rows(self, where: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            return [dict(r) for r in conn.execute(text(f"SELECT * FROM dispatch_outbox WHERE {where}"),
                                                  params).mappings()]

    def _row(self, where: str, **params: Any) -> dict[str, Any] | None:
        rows = self._rows(where, **params)
        return rows[0] if rows else None

    def _update(self, reference: str, **values: Any) -> None:
        assigns = ", ".join(f"{name} = :{name}" for name in values)
        with self.engine.begin() as conn:
            conn.execute(text(f"UPDATE dispatch_outbox SET {assigns} WHERE reference = :reference"),
                         {**values, "reference": reference})

    def _remember(self, reference: str, item: Mapping[str, Any]) -> None:
        """Cache what the backend said about a case, for status answers while it is unreachable."""
        values = known_fields(item)
        if values:
            self._update(reference, **values)

    def _refresh(self, row: Mapping[str, Any], timeout_s: float | None = None) -> None:
        """Fetch the created case once for the promised time (not every backend's answer carries it)."""
        try:
            self._remember(row["reference"], self.backend.status(row["service_request_id"], timeout_s=timeout_s))
        except BackendError as exc:
            log.info("no details for %s yet: %s", row["service_request_id"], exc)

    def rows(self) -> Iterable[dict[str, Any]]:
        """Every stored ticket (tests and the bench inspect them)."""
        return self._rows("1 = 1 ORDER BY created_at")
