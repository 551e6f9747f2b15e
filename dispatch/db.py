"""One engine factory for every dispatch store: the outbox, the embedded server, the gateway's notifications.

Why one: the outbox (both environments: SQLAlchemy 1.4 + psycopg2 in Rasa's, 2.x + psycopg 3 in ours) and the
embedded server used to carry two copies that differed in driver choice and SQLite pragmas. The differences
that matter are now arguments: ``immediate_writes`` makes write transactions take SQLite's lock up front
(``BEGIN IMMEDIATE``, for stores whose read-then-write must not race, like the server's day counter), and
``pool_size`` sizes a PostgreSQL pool for a server with many worker threads. SQLAlchemy Core only, and only
calls that exist in 1.4 and 2.x.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_S = 30  # several processes share one SQLite file (action server, drainer, tests)


def engine_url(url: str) -> str:
    """A SQLAlchemy URL that works with whatever PostgreSQL driver this environment has.

    ``postgresql://`` means psycopg2 to SQLAlchemy; the Rasa environment has psycopg2, the application
    environment psycopg 3 (``postgresql+psycopg://``, SQLAlchemy 2 only). SQLite paths are anchored
    at the repository root and ``{data_dir}`` is expanded.
    """
    from common.settings import resolve_db_url

    url = resolve_db_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep or not (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
        return url
    wanted = scheme.partition("+")[2]
    if wanted and importlib.util.find_spec(wanted) is not None:
        return url
    import sqlalchemy

    sqlalchemy_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2
    for driver in (["psycopg"] if sqlalchemy_2 else []) + ["psycopg2"]:
        if importlib.util.find_spec(driver) is not None:
            return f"postgresql+{driver}://{rest}"
    raise RuntimeError("no PostgreSQL driver installed (psycopg or psycopg2)")


def make_engine(url: str, *, immediate_writes: bool = False, pool_size: int | None = None,
                max_overflow: int | None = None) -> Engine:
    """An engine for SQLite (WAL, busy timeout) or PostgreSQL (pre-ping, optional pool size).

    With ``immediate_writes`` a connection whose execution options carry ``dispatch_write=True`` starts
    its transaction with ``BEGIN IMMEDIATE``; the others with a plain ``BEGIN`` (we emit it ourselves,
    pysqlite's implicit transactions are switched off).
    """
    url = engine_url(url)
    if not url.startswith("sqlite"):
        pool: dict[str, Any] = {}
        if pool_size is not None:
            pool["pool_size"] = pool_size
        if max_overflow is not None:
            pool["max_overflow"] = max_overflow
        return create_engine(url, pool_pre_ping=True, **pool)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        if immediate_writes:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        if immediate_writes:
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if immediate_writes:
        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("dispatch_write") else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction: ``BEGIN IMMEDIATE`` on an ``immediate_writes`` SQLite engine, plain elsewhere.

    Why up front, for table creation too: a deferred transaction that reads (``create_all`` looks for its
    tables) and then writes fails at once with "database is locked" when another process wrote in between —
    its WAL snapshot is stale, and SQLite's busy timeout does not apply. Seen when the dialler created its
    rating tables while the gateway added a call-back target to the same file.
    """
    with engine.execution_options(dispatch_write=True).connect() as conn, conn.begin():
        yield conn
