"""The store's engine and transactions, and the history line every change writes.

Every change is one transaction, so a request is stored whole or not at all (never a partial row),
and the ticket, its history line, the duplicate link and the webhook event commit together.
On SQLite writes take the database lock up front (BEGIN IMMEDIATE, see :func:`dispatch.db.make_engine`)
so that duplicate detection and the day's ticket counter cannot race; on PostgreSQL the counter row lock
(taken last) and advisory locks on the area around the report (``intake._lock_area``) do the same.
The store is synchronous; the web layer runs it in worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from dispatch.db import make_engine, write_transaction
from dispatch.server.catalogue import Catalogue
from dispatch.server.config import DispatchConfig
from dispatch.server.schema import history, metadata
from dispatch.server.store.rows import db_time

POOL_SIZE, POOL_OVERFLOW = 10, 20  # PostgreSQL connections for the web layer's worker threads


class StoreBase:
    def __init__(self, config: DispatchConfig, catalogue: Catalogue) -> None:
        self.config = config
        self.catalogue = catalogue
        self.engine = make_engine(config.db_url, immediate_writes=True, pool_size=POOL_SIZE,
                                  max_overflow=POOL_OVERFLOW)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = threading.Lock()
        with write_transaction(self.engine) as conn:  # another process may write the file meanwhile
            metadata.create_all(conn)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(select(1))

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction. SQLite: this process's writer threads queue on a lock instead of
        SQLite's busy handler, which polls with growing sleeps (SQLite's file lock still guards against
        other processes)."""
        queue = self._sqlite_writer if self.is_sqlite else nullcontext()
        with queue, write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _child_notes(self, parent: dict[str, Any]) -> str:
        return f"已与工单 {parent['service_request_id']} 合并处理。{parent['status_notes']}"

    def _log(self, conn: Connection, ticket_id: int, now: datetime, action: str, actor: str, status: str,
             note: str, public: bool = True) -> None:
        conn.execute(history.insert().values(ticket_id=ticket_id, at=db_time(now), action=action, actor=actor,
                                             status=status, note=note, public=public))

