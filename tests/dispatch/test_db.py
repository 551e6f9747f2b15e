"""dispatch.db: a write transaction holds SQLite's write lock from its BEGIN, so another process's commit cannot
slip in between its read and its write (a deferred one then fails at once: "database is locked")."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, exc, text

from dispatch.db import make_engine, write_transaction


def other_process_write(path: Path) -> None:
    """A write from another connection that does not wait (busy timeout 0), as a second process would."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO seen VALUES (1)")
        other.execute("COMMIT")
    finally:
        other.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    """A store's engine on ``path``, with one table the other process writes to."""
    made = make_engine(f"sqlite:///{path}", immediate_writes=True)
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE seen (n INTEGER)"))
    yield made
    made.dispose()


def test_a_write_transaction_holds_the_lock_from_its_begin(engine: Engine, path: Path) -> None:
    with write_transaction(engine) as conn:
        conn.execute(text("SELECT count(*) FROM seen")).scalar()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_process_write(path)  # refused: it cannot change what this transaction read
    other_process_write(path)  # and gets it once the transaction ends


def test_tables_are_created_after_another_process_wrote_meanwhile(engine: Engine, path: Path) -> None:
    """The dialler's failure: its deferred read of the schema, the gateway's commit, then CREATE TABLE."""
    late = MetaData()
    Table("ratings", late, Column("id", Integer, primary_key=True))
    with engine.begin() as deferred:  # what create_all(engine) did: BEGIN, read, then write
        deferred.execute(text("SELECT count(*) FROM seen")).scalar()
        other_process_write(path)
        with pytest.raises(exc.OperationalError, match="locked"):
            late.create_all(deferred)
    with write_transaction(engine) as conn:
        late.create_all(conn)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM ratings")).scalar() == 0
