"""Real servers for the dispatch tests: the Sanic app on a free 127.0.0.1 port, real HTTP (httpx),
a real SQLite file in a temp dir, and the local PostgreSQL in a schema of its own (dropped after).

Each test gets a fresh app with a ``ManualClock``; moving the clock is how SLA tests pass time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sanic import Sanic

from common import settings
from common.net import free_port
from dispatch.server import create_app
from dispatch.server.clock import ManualClock

PG_ADMIN_URL = "postgresql+psycopg://127.0.0.1/test"
API_KEY = "test-api-key"
STAFF_TOKEN = "test-staff-token"
START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)  # 09:00 in Asia/Shanghai


def dispatch_conf(db_url: str, **overrides: Any) -> dict[str, Any]:
    """The real settings.toml [dispatch] section with a test database and fixed secrets."""
    conf = dict(settings.load(environ={})["dispatch"])
    conf.update(db_url=db_url, api_key=API_KEY, staff_token=STAFF_TOKEN, sla_scan_interval_s=3600.0,
                status_webhook_url="")  # tests that need webhooks name their own receiver
    conf.update(overrides)
    return conf


@dataclass
class Backend:
    app: Sanic
    clock: ManualClock
    base: str
    http: httpx.AsyncClient
    kind: str

    @property
    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {STAFF_TOKEN}"}

    async def report(self, fmt: str = "json", **fields: Any) -> httpx.Response:
        data = {"api_key": API_KEY, **fields}
        return await self.http.post(f"/open311/v2/requests.{fmt}", data=data)

    async def act(self, sid: str, action: str, **body: Any) -> httpx.Response:
        return await self.http.post(f"/api/dispatch/tickets/{sid}/{action}", json=body, headers=self.staff)


async def start_backend(conf: dict[str, Any], kind: str, clock: ManualClock | None = None) -> Backend:
    clock = clock or ManualClock(START)
    app = create_app(conf, clock)
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    app.ctx.test_server = server
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    return Backend(app, clock, f"http://127.0.0.1:{port}", http, kind)


async def stop_backend(backend: Backend) -> None:
    await backend.http.aclose()
    server = backend.app.ctx.test_server
    await server.before_stop()
    await server.close()
    await server.after_stop()
    Sanic._app_registry.pop(backend.app.name, None)


def pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


class PgSchema:
    """A schema of its own in the local PostgreSQL; ``url`` points search_path at it."""

    def __init__(self) -> None:
        self.name = f"dispatch_test_{uuid.uuid4().hex[:12]}"
        self.admin = sa.create_engine(PG_ADMIN_URL)
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
        self.url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh dispatch server on SQLite and on PostgreSQL (each test runs on both)."""
    async with backend_for(request.param, tmp_path) as made:
        yield made


class backend_for:
    """``async with backend_for("sqlite", tmp_path, dedup_distance_m=50) as b:`` — settings overrides."""

    def __init__(self, kind: str, tmp_path: Path, clock: ManualClock | None = None, **overrides: Any) -> None:
        self.kind, self.tmp_path, self.clock, self.overrides = kind, tmp_path, clock, overrides
        self.schema: PgSchema | None = None

    async def __aenter__(self) -> Backend:
        if self.kind == "postgres":
            if not pg_available():
                pytest.skip("local PostgreSQL not reachable")
            self.schema = PgSchema()
            url = self.schema.url
        else:
            url = f"sqlite:///{self.tmp_path / 'dispatch.sqlite3'}"
        try:
            self.backend = await start_backend(dispatch_conf(url, **self.overrides), self.kind, self.clock)
        except BaseException:
            if self.schema:
                self.schema.drop()
            raise
        return self.backend

    async def __aexit__(self, *exc: object) -> None:
        await stop_backend(self.backend)
        if self.schema:
            self.schema.drop()
