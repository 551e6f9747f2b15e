"""Tests that need PostgreSQL/Redis skip with a how-to where the service is missing, and run where it is.

Each case runs pytest in a subprocess (the real tests/conftest.py hooks, the real services or a closed
port) and reads its outcome, as `make test` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.net import free_port
from common.settings import ROOT

SYNTHETIC = '''
import os
import pytest

@pytest.mark.postgres
def test_uses_postgres():
    import psycopg
    psycopg.connect(os.environ.get("GOVBOT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")).close()

@pytest.mark.redis
def test_uses_redis():
    import redis
    assert redis.Redis.from_url(os.environ.get("GOVBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")).ping()

@pytest.mark.postgres
def test_skips_itself():
    pytest.skip("wrong database name")
'''

# Marked tests of the suite that read GOVBOT_TEST_POSTGRES_URL; on their own they error or skip without a how-to.
REAL_TESTS = ["tests/dispatch/test_outbox.py::test_postgresql_store",
              "tests/knowledge_base/test_live_index.py::test_two_processes_share_one_postgres_store"]
# A test file outside tests/ gets the suite's hooks and markers this way.
AS_PLUGIN = ["-c", str(ROOT / "pyproject.toml"), "-p", "tests.conftest"]


def run_pytest(args: list[str], note: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items()
               if key not in ("GOVBOT_TEST_POSTGRES_URL", "GOVBOT_TEST_REDIS_URL", "PYTEST_ADDOPTS")}
    environ.update(PYTHONPATH=str(ROOT), GOVBOT_TEST_SKIP_NOTE=str(note), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def test_without_the_services_the_marked_tests_skip_saying_how_to_run_them(tmp_path: Path) -> None:
    closed = {"GOVBOT_TEST_POSTGRES_URL": f"postgresql://127.0.0.1:{free_port()}/test",
              "GOVBOT_TEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    pg, rd = closed["GOVBOT_TEST_POSTGRES_URL"], closed["GOVBOT_TEST_REDIS_URL"]
    real = run_pytest(REAL_TESTS, tmp_path / "real-note", **closed)
    output = real.stdout + real.stderr
    assert real.returncode == 0 and real.stdout.strip().splitlines()[-1].startswith("2 skipped in"), output
    assert f"PostgreSQL at {pg} (OperationalError" in output, output
    assert "start PostgreSQL there or point GOVBOT_TEST_POSTGRES_URL at one" in output
    expected = (f"skipped: 2 PostgreSQL/Redis tests — start PostgreSQL on {pg} "
                "(or set GOVBOT_TEST_POSTGRES_URL) to run them")
    assert (tmp_path / "real-note").read_text(encoding="utf-8").strip() == expected  # what ops/test.sh prints last
    assert expected in real.stdout  # and the pytest summary says it too

    synthetic = tmp_path / "test_synthetic.py"
    synthetic.write_text(SYNTHETIC, encoding="utf-8")
    both = run_pytest([*AS_PLUGIN, str(synthetic)], tmp_path / "note", **closed)
    output = both.stdout + both.stderr
    assert both.returncode == 0 and both.stdout.strip().splitlines()[-1].startswith("3 skipped in"), output
    assert f"Redis at {rd} (ConnectionError" in output, output
    assert (tmp_path / "note").read_text(encoding="utf-8").strip() == (
        f"skipped: 3 PostgreSQL/Redis tests — start PostgreSQL on {pg} and start Redis on {rd} "
        "(or set GOVBOT_TEST_POSTGRES_URL / GOVBOT_TEST_REDIS_URL) to run them")


@pytest.mark.postgres
@pytest.mark.redis
def test_with_the_services_the_marked_tests_run_and_may_not_skip(tmp_path: Path) -> None:
    note = tmp_path / "note"
    synthetic = tmp_path / "test_synthetic.py"
    synthetic.write_text(SYNTHETIC, encoding="utf-8")
    real = run_pytest(REAL_TESTS[:1], note)  # the quick one (the other embeds an FAQ in two processes)
    assert real.stdout.strip().splitlines()[-1].startswith("1 passed in"), real.stdout + real.stderr
    run = run_pytest([*AS_PLUGIN, str(synthetic)], note)
    output = run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("1 failed, 2 passed in"), output
    assert "needs PostgreSQL, which is reachable, but skipped itself" in output and "wrong database name" in output
    assert not note.exists() or note.read_text(encoding="utf-8") == ""
