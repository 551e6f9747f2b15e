"""Two processes opening the campaign store on a fresh PostgreSQL database at once both start.

Why: the two dialler processes of a scale-out start together; without the schema lock
(``campaigns.store.base.create_tables``) both CREATE the same tables and one dies on the catalog's unique index.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text

from common import settings
from dispatch.db import engine_url
from tests.campaigns.conftest import PG_URL

TRIALS = 4  # the race lost about one start in three without the lock
OPEN_STORE = """
import sys
from campaigns.config import CampaignsConfig
from campaigns.ratings import rating_metadata
from campaigns.store import Store
from campaigns.store.base import create_tables
store = Store(CampaignsConfig.load(), sys.argv[1])
create_tables(store.engine, rating_metadata)  # what RatingPoster does in the dialler
store.close()
"""
START_LIMIT_S = 60


@pytest.mark.postgres
def test_two_processes_creating_the_tables_at_once_both_succeed() -> None:
    admin = create_engine(engine_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        for _ in range(TRIALS):
            name = f"campaigns_schema_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = PG_URL.rsplit("/", 1)[0] + "/" + name
            try:
                procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORE, url], cwd=settings.ROOT,
                                          stderr=subprocess.PIPE, text=True) for _ in range(2)]
                errors = [proc.communicate(timeout=START_LIMIT_S)[1] for proc in procs]
                assert [proc.returncode for proc in procs] == [0, 0], errors
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
