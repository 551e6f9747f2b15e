"""Where entries, their full version history and the unanswered-questions log are kept.

SQLAlchemy Core on SQLite (default) or PostgreSQL (by URL). Every change happens in one
transaction that also bumps a revision counter: the counter is how other processes sharing the
store learn that their in-memory index is stale, and the single transaction is why an import
with a bad row leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from knowledge_base.entry import Entry

metadata = sa.MetaData()

entries = sa.Table(
    "kb_entries", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("alternates", sa.Text, nullable=False, default="[]"),
    sa.Column("also_answers", sa.Text, nullable=False, default="[]"),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("category", sa.String(50), nullable=False, index=True),
    sa.Column("keywords", sa.Text, nullable=False, default="[]"),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("valid_from", sa.String(10)),
    sa.Column("valid_to", sa.String(10)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

versions = sa.Table(
    "kb_versions", metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
)

meta = sa.Table(
    "kb_meta", metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

unanswered = sa.Table(
    "kb_unanswered", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("top_entry_id", sa.String(64)),
    sa.Column("score", sa.Float),
    sa.Column("embedder", sa.String(100), nullable=False),
    sa.Column("vector", sa.LargeBinary),
    sa.Column("at", sa.String(32), nullable=False, index=True),
    sa.Column("resolved_entry_id", sa.String(64)),
    sa.Column("reason", sa.Text),            # why it was not answered (thresholds or the verifier)
)

# Columns added after the first release: ``create`` adds them to older databases (name -> DDL type).
ADDED_COLUMNS = {
    "kb_entries": {"also_answers": "TEXT NOT NULL DEFAULT '[]'"},
    "kb_unanswered": {"reason": "TEXT"},
}

vectors = sa.Table(
    "kb_vectors", metadata,
    sa.Column("embedder", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(40), primary_key=True),   # sha1 of the text
    sa.Column("vector", sa.LargeBinary, nullable=False),
)


def engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the app environment has no psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _row_to_entry(row: Any) -> Entry:
    m = row._mapping
    return Entry(
        id=m["id"], question=m["question"], answer=m["answer"], category=m["category"],
        alternates=json.loads(m["alternates"]), keywords=json.loads(m["keywords"]), source=m["source"],
        also_answers=json.loads(m["also_answers"] or "[]"),
        status=m["status"], valid_from=m["valid_from"], valid_to=m["valid_to"], version=m["version"],
        updated_by=m["updated_by"], updated_at=m["updated_at"],
    )


class Writer:
    """The operations allowed inside one transaction (see ``Store.transaction``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.changed = False

    def get(self, entry_id: str) -> Entry | None:
        row = self.conn.execute(sa.select(entries).where(entries.c.id == entry_id)).first()
        return _row_to_entry(row) if row else None

    def version(self, entry_id: str, version: int) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(versions.c.content).where(
            versions.c.entry_id == entry_id, versions.c.version == version)).first()
        return json.loads(row.content) if row else None

    def save(self, entry: Entry, author: str, action: str) -> Entry:
        """Insert or update ``entry`` and record its new version; returns it with version and time set."""
        current = self.get(entry.id)
        entry.version = (current.version if current else 0) + 1
        entry.updated_by, entry.updated_at = author, now()
        values = {
            "question": entry.question, "alternates": json.dumps(entry.alternates, ensure_ascii=False),
            "also_answers": json.dumps(entry.also_answers, ensure_ascii=False),
            "answer": entry.answer, "category": entry.category,
            "keywords": json.dumps(entry.keywords, ensure_ascii=False), "source": entry.source,
            "status": entry.status, "valid_from": entry.valid_from, "valid_to": entry.valid_to,
            "version": entry.version, "updated_by": author, "updated_at": entry.updated_at,
        }
        if current:
            self.conn.execute(sa.update(entries).where(entries.c.id == entry.id).values(**values))
        else:
            self.conn.execute(sa.insert(entries).values(id=entry.id, **values))
        self.conn.execute(sa.insert(versions).values(
            entry_id=entry.id, version=entry.version, action=action, author=author, at=entry.updated_at,
            content=json.dumps(entry.content(), ensure_ascii=False),
        ))
        self.changed = True
        return entry


class Store:
    """One knowledge-base database. ``schema`` puts the tables in a PostgreSQL schema (tests use throwaway ones)."""

    def __init__(self, url: str, schema: str = "") -> None:
        self.url, self.schema = url, schema or None
        engine = sa.create_engine(engine_url(url), future=True, pool_pre_ping=True)
        if url.startswith("sqlite"):
            @sa.event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=5000")
                cursor.close()
        if self.schema:
            engine = engine.execution_options(schema_translate_map={None: self.schema})
        self.engine: Engine = engine
        self.create()

    def create(self) -> None:
        """Create what is missing; two processes starting together may race, so one retry."""
        try:
            self._create()
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
            self._create()

    def _create(self) -> None:
        with self.engine.begin() as conn:
            if self.schema:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            metadata.create_all(conn)
            self._add_missing_columns(conn)
            if conn.execute(sa.select(meta.c.value).where(meta.c.key == "revision")).first() is None:
                conn.execute(sa.insert(meta).values(key="revision", value=0))

    def _add_missing_columns(self, conn: Connection) -> None:
        """Older databases lack columns added later; add them so existing stores keep working."""
        inspector = sa.inspect(conn)
        for table, columns in ADDED_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table, schema=self.schema)}
            name = f'"{self.schema}"."{table}"' if self.schema else table
            for column, ddl in columns.items():
                if column not in present:
                    conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {column} {ddl}"))

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """All writes of one request or one import: everything is committed, or nothing."""
        with self.engine.begin() as conn:
            writer = Writer(conn)
            yield writer
            if writer.changed:
                conn.execute(sa.update(meta).where(meta.c.key == "revision").values(value=meta.c.value + 1))

    def revision(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(meta.c.value).where(meta.c.key == "revision")).scalar_one())

    def bump_revision(self) -> int:
        """Tell every process sharing this store to rebuild (``reindex``)."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(meta).where(meta.c.key == "revision").values(value=meta.c.value + 1))
        return self.revision()

    def get(self, entry_id: str) -> Entry | None:
        with self.engine.connect() as conn:
            return Writer(conn).get(entry_id)

    def list(self, status: str | None = None, category: str | None = None, text: str | None = None) -> list[Entry]:
        query = sa.select(entries).order_by(entries.c.category, entries.c.id)
        if status:
            query = query.where(entries.c.status == status)
        if category:
            query = query.where(entries.c.category == category)
        if text:
            like = f"%{text}%"
            query = query.where(sa.or_(entries.c.id.like(like), entries.c.question.like(like),
                                       entries.c.alternates.like(like), entries.c.also_answers.like(like),
                                       entries.c.answer.like(like)))
        with self.engine.connect() as conn:
            return [_row_to_entry(row) for row in conn.execute(query)]

    def history(self, entry_id: str) -> list[dict[str, Any]]:
        query = sa.select(versions).where(versions.c.entry_id == entry_id).order_by(versions.c.version.desc())
        with self.engine.connect() as conn:
            return [
                {"version": r.version, "action": r.action, "author": r.author, "at": r.at,
                 "content": json.loads(r.content)}
                for r in conn.execute(query)
            ]

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            by_status = dict(conn.execute(
                sa.select(entries.c.status, sa.func.count()).group_by(entries.c.status)).all())
            by_category = dict(conn.execute(
                sa.select(entries.c.category, sa.func.count()).where(entries.c.status == "published")
                .group_by(entries.c.category)).all())
            n_versions = conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar_one()
            n_unanswered = conn.execute(sa.select(sa.func.count()).select_from(unanswered)
                                        .where(unanswered.c.resolved_entry_id.is_(None))).scalar_one()
        return {"entries": sum(by_status.values()), "by_status": by_status, "published_by_category": by_category,
                "versions": n_versions, "unanswered_open": n_unanswered, "revision": self.revision()}

    # --- embedding cache (so a restart or a second process does not re-embed every entry) --------

    def load_vectors(self, embedder: str, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                query = sa.select(vectors.c.key, vectors.c.vector).where(
                    vectors.c.embedder == embedder, vectors.c.key.in_(chunk))
                found.update({row.key: row.vector for row in conn.execute(query)})
        return found

    def save_vectors(self, embedder: str, items: dict[str, bytes]) -> None:
        """Best effort: another process may have stored the same text a moment ago."""
        if not items:
            return
        try:
            with self.engine.begin() as conn:
                existing = set(self.load_vectors(embedder, list(items)))
                rows = [{"embedder": embedder, "key": k, "vector": v} for k, v in items.items() if k not in existing]
                if rows:
                    conn.execute(sa.insert(vectors), rows)
        except sa.exc.IntegrityError:
            pass

    # --- unanswered-questions log -------------------------------------------------------------

    def log_unanswered(self, query: str, outcome: str, top_entry_id: str | None, score: float | None,
                       embedder: str, vector: bytes | None, reason: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(unanswered).values(
                query=query, outcome=outcome, top_entry_id=top_entry_id, score=score, embedder=embedder,
                vector=vector, at=now(), reason=reason or None))

    def unanswered_rows(self, limit: int) -> Sequence[Any]:
        query = (sa.select(unanswered).where(unanswered.c.resolved_entry_id.is_(None))
                 .order_by(unanswered.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    def resolve_unanswered(self, ids: list[int], entry_id: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(sa.update(unanswered).where(unanswered.c.id.in_(ids))
                                  .values(resolved_entry_id=entry_id))
            return result.rowcount or 0

    def drop_schema(self) -> None:
        """Tests only: remove the throwaway schema and everything in it."""
        if self.schema:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.dispose()
