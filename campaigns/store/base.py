"""The store's engine and transactions, and the conversions between stored rows and Python values.

Why every change is one short transaction: a dialler killed at any moment leaves either the whole change
(attempt, slot, DNC entry) or none of it. On SQLite a write transaction takes the database lock up front
(``BEGIN IMMEDIATE``, :func:`dispatch.db.make_engine`'s ``immediate_writes``), so a claim's read-then-write
cannot race another process's; on PostgreSQL claims lock rows instead (:mod:`campaigns.store.claims`).
Synchronous on purpose: the dialler runs it in a worker thread, off its event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite

from campaigns.config import CampaignsConfig
from campaigns.model import CampaignSpec, spec_from_dict
from campaigns.store.schema import campaigns, metadata
from dispatch.db import make_engine, write_transaction

POOL_SIZE, POOL_OVERFLOW = 5, 10  # PostgreSQL connections per process (a dialler, the API, the CLI)
JSON_COLUMNS = ("spec", "answers", "abnormal")
SCHEMA_LOCK_KEY = 7_312_002  # pg_advisory_xact_lock key of table creation (claims.CLAIM_LOCK_KEY is 7_312_001)


def create_tables(engine: Engine, tables: MetaData) -> None:
    """Create the missing tables, one process at a time (SQLite's write lock taken at BEGIN, see
    :func:`dispatch.db.write_transaction`; an advisory lock on PostgreSQL).

    Why the lock: two diallers starting together on a fresh database both see no table, both CREATE it, and the
    second fails on the catalog's unique index (IntegrityError) and exits. Under the lock the second one waits,
    then finds the tables and creates nothing.
    """
    with write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        tables.create_all(conn)


class NotFound(LookupError):
    """No campaign, attempt or follow-up with that id (the message names it)."""


class StoreBase:
    def __init__(self, config: CampaignsConfig, db_url: str | None = None) -> None:
        self.config = config
        self.engine = make_engine(db_url or config.resolved_db_url, immediate_writes=True, pool_size=POOL_SIZE,
                                  max_overflow=POOL_OVERFLOW)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = threading.Lock()  # this process's writers queue here, not in SQLite's busy poll
        create_tables(self.engine, metadata)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        """One transaction; ``write`` takes SQLite's write lock at BEGIN (see the module docstring)."""
        queue = self._sqlite_writer if write and self.is_sqlite else nullcontext()
        with queue, (write_transaction(self.engine) if write else self.engine.begin()) as conn:
            yield conn

    def _insert_ignoring(self, table: Table) -> Any:
        """``INSERT … ON CONFLICT DO NOTHING`` in this database's dialect (planning slots twice is harmless)."""
        dialect = sqlite if self.is_sqlite else postgresql
        return dialect.insert(table).on_conflict_do_nothing()

    def _campaign(self, conn: Connection, campaign: int | str, lock: bool = False) -> dict[str, Any]:
        """A campaign row by id or name, or NotFound; ``lock`` holds its row (PostgreSQL) until commit."""
        column = campaigns.c.id if isinstance(campaign, int) else campaigns.c.name
        query = select(campaigns).where(column == campaign)
        if lock and not self.is_sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"没有活动 {campaign}")
        return row_dict(row)

    def spec(self, campaign: int | str) -> CampaignSpec:
        """The campaign's script, schedule and limits (what a dialler needs for a claim's campaign)."""
        with self._tx() as conn:
            return spec_from_dict(self._campaign(conn, campaign)["spec"])


def row_dict(row: Any) -> dict[str, Any]:
    """A row as a dict with its JSON columns decoded."""
    data = dict(row._mapping)
    for key in JSON_COLUMNS:
        if isinstance(data.get(key), str):
            data[key] = json.loads(data[key])
    return data


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
