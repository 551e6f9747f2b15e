"""Campaign tests: a real SQLite store in a temp dir (or the local PostgreSQL in a database of its own), the
real settings with test limits, and a fixed instant to move instead of a clock.

``NOW`` is Monday 09:05 in Asia/Shanghai: inside the example campaign's window, five minutes after its 09:00
slot is due.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from campaigns.config import CampaignsConfig
from campaigns.model import CampaignSpec
from campaigns.store import Store
from campaigns.targets import Target
from campaigns.validation import parse_spec
from common import settings
from dispatch.db import engine_url

ROOT = settings.ROOT
EXAMPLE = ROOT / "campaigns" / "examples" / "health_check.yaml"
NOW = datetime(2026, 3, 2, 1, 5, tzinfo=timezone.utc)  # 09:05 Asia/Shanghai
PG_URL = os.environ.get("GOVBOT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
# A well resident's answers to the example health check, and a feverish one's.
NORMAL = {"temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}
FEVER = {**NORMAL, "temperature": 38.2}


def make_config(**overrides: Any) -> CampaignsConfig:
    return CampaignsConfig.load(dict(settings.load(environ={})["campaigns"]), **overrides)


def example(**changes: Any) -> dict[str, Any]:
    """The example campaign file as a dict, with top-level keys replaced."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(changes)
    return data


def make_spec(config: CampaignsConfig, **changes: Any) -> CampaignSpec:
    return parse_spec(example(**changes), config)


def residents(count: int, first_row: int = 2) -> list[Target]:
    return [Target(row=first_row + i, name=f"居民{i}", phone=f"+861380013{i:04d}", address=f"幸福路{i}号",
                   community="东湖社区", grid=f"网格{i % 3}") for i in range(count)]


@pytest.fixture
def config() -> CampaignsConfig:
    return make_config()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/campaigns.sqlite3"


@pytest.fixture
def store(config: CampaignsConfig, sqlite_url: str) -> Iterator[Store]:
    made = Store(config, sqlite_url)
    yield made
    made.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (dropped after)."""
    name = f"campaigns_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def running_campaign(store: Store, config: CampaignsConfig, targets: int, **changes: Any) -> int:
    """A started campaign (the example, with ``changes``) with ``targets`` residents; returns its id."""
    row = store.create_campaign(make_spec(config, **changes), NOW)
    store.add_targets(row["id"], residents(targets), NOW)
    store.set_state(row["id"], "start", NOW)
    return int(row["id"])
