"""Shared fixtures: a real stack (dispatch, gateway, Rasa, actions) on free ports with its own data dir.

Rasa loads its model for about a minute, so the stack starts once per test session and only
when a test asks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import settings
from common.net import free_port

ROOT = settings.ROOT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests last: they start long-lived services whose settings overrides last for the
    session, and unit tests should run against the plain settings first."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


# -- tests that need the local PostgreSQL or Redis (markers ``postgres``, ``redis``) ---------------------------
# Checked once per session, here and not in each test file: a machine without the service skips those tests
# with a message that says how to run them (ops/test.sh repeats the count as its last line); a machine with
# it runs them, and a marked test that skips itself anyway fails, so a reachable service is never left untested.
SERVICE_URLS = {
    "postgres": ("PostgreSQL", "GOVBOT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"),
    "redis": ("Redis", "GOVBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}
PROBE_TIMEOUT_S = 3
SKIP_PREFIX = "needs "
SKIP_NOTE_FILE = "GOVBOT_TEST_SKIP_NOTE"  # ops/test.sh names a file; the summary line is written there too
_probed: dict[str, str | None] = {}  # marker -> None (reachable) or why not
_skipped: list[str] = []  # node ids skipped for a missing service


def _probe(marker: str, url: str) -> str | None:
    """None when the service answers at ``url``, else the reason it does not."""
    try:
        if marker == "postgres":
            import psycopg

            psycopg.connect(url.replace("+psycopg", ""), connect_timeout=PROBE_TIMEOUT_S).close()
        else:
            import redis

            redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S).ping()
    except Exception as exc:  # no server, refused, auth, missing database, missing driver: all "cannot run here"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def _missing(item: pytest.Item) -> list[str]:
    """The services ``item`` is marked for that are not reachable, each with how to provide it."""
    problems = []
    for marker, (label, variable, default) in SERVICE_URLS.items():
        if item.get_closest_marker(marker) is None:
            continue
        url = os.environ.get(variable, default)
        if marker not in _probed:
            _probed[marker] = _probe(marker, url)
        if _probed[marker]:
            problems.append(f"{label} at {url} ({_probed[marker]}): start {label} there or point {variable} at one")
    return problems


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    problems = _missing(item)
    if problems:
        _skipped.append(item.nodeid)
        pytest.skip(SKIP_PREFIX + "; ".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    marked = [m for m in SERVICE_URLS if item.get_closest_marker(m) is not None]
    reachable = all(m in _probed and _probed[m] is None for m in marked)
    if marked and reachable and report.skipped and item.nodeid not in _skipped:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} needs {', '.join(SERVICE_URLS[m][0] for m in marked)}, which is reachable, "
                           f"but skipped itself: {report.longrepr}")
    return report


def skip_note() -> str:
    """The summary line about the tests skipped for a missing PostgreSQL/Redis ("" when none were)."""
    if not _skipped:
        return ""
    missing = [(SERVICE_URLS[m][0], SERVICE_URLS[m][1], os.environ.get(SERVICE_URLS[m][1], SERVICE_URLS[m][2]))
               for m, why in _probed.items() if why]
    how = " and ".join(f"start {label} on {url}" for label, _, url in missing)
    variables = " / ".join(variable for _, variable, _ in missing)
    return f"skipped: {len(_skipped)} PostgreSQL/Redis tests — {how} (or set {variables}) to run them"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    note = skip_note()
    if note:
        terminalreporter.write_line(note, yellow=True)
        if os.environ.get(SKIP_NOTE_FILE):
            with open(os.environ[SKIP_NOTE_FILE], "a", encoding="utf-8") as handle:
                handle.write(note + "\n")


# Metadata only a trusted client may set (settings.toml [gateway] identity_metadata_keys): a test that sends it
# acts as the test platform client below, because from a resident the gateway would drop it.
IDENTITY_KEYS = frozenset(settings.section("gateway")["identity_metadata_keys"])
PLATFORM_CLIENT = "e2e-platform"


@dataclass
class Stack:
    gateway: str
    dispatch: str
    data_dir: Path
    env: dict[str, str]
    staff_token: str
    supervisor: Any
    # A test's resident name → the resident session the gateway issued on its first chat, and its sender id.
    sessions: dict[str, str] = field(default_factory=dict)
    senders: dict[str, str] = field(default_factory=dict)

    def chat(self, sender: str, message: str, **metadata: object) -> list[dict]:
        """One turn of the resident the test calls ``sender``, as a web resident: the first chat gets a session
        from the gateway, later ones send it back (Bearer). With identity metadata (``phone=``, ``channel=``) the
        turn goes through ``platform_chat`` instead: only a trusted client may assert those; a name that did so
        stays on that path, so its later turns (with or without ``phone=``) remain one conversation."""
        if IDENTITY_KEYS & metadata.keys() or self.senders.get(sender, "").startswith(f"{PLATFORM_CLIENT}:"):
            assert sender not in self.sessions, f"{sender} chatted as a web resident, who cannot assert {metadata}"
            return self.platform_chat(sender, message, **metadata)
        session = self.sessions.get(sender)
        reply = httpx.post(f"{self.gateway}/api/chat", json={"message": message, "metadata": metadata},
                           headers={"Authorization": f"Bearer {session}"} if session else {}, timeout=60)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        self.sessions[sender], self.senders[sender] = body["session"], body["sender"]
        return body["messages"]

    def platform_chat(self, sender: str, message: str, **metadata: object) -> list[dict]:
        """One turn relayed by a trusted platform (a mini-program that verified the phone number), with its
        client credential: the gateway files it as ``e2e-platform:<sender>``, a different conversation from the
        web resident of the same name."""
        reply = httpx.post(f"{self.gateway}/api/chat", json={"sender": sender, "message": message,
                                                             "metadata": metadata},
                           headers={"Authorization": f"Bearer {self.platform_secret()}"}, timeout=60)
        assert reply.status_code == 200, reply.text
        self.senders[sender] = reply.json()["sender"]
        return reply.json()["messages"]

    def platform_secret(self) -> str:
        from common.web import client_secret

        return client_secret(PLATFORM_CLIENT)  # the operator's `python -m gateway clients add e2e-platform`

    def sender_id(self, sender: str) -> str:
        """The gateway's id of the resident the test calls ``sender`` (hand-offs, tickets, trackers)."""
        return self.senders[sender]

    def notifications(self, sender: str) -> list[dict]:
        """The web resident's own notifications, read (and consumed) with their session."""
        reply = httpx.get(f"{self.gateway}/api/notifications", timeout=10,
                          headers={"Authorization": f"Bearer {self.sessions[sender]}"})
        assert reply.status_code == 200, reply.text
        return reply.json()["notifications"]

    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff_token}"}


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment overrides giving every service a free port and a private data dir."""
    data_dir = tmp_path_factory.mktemp("stack-data")
    env = {"GOVBOT__PATHS__DATA_DIR": str(data_dir), "GOVBOT__TELEPHONY__ENABLED": "false"}
    for section in ("gateway", "rasa", "actions", "dispatch"):
        env[f"GOVBOT__{section.upper()}__PORT"] = str(free_port())
    with settings.overrides(env):
        yield env


@pytest.fixture(scope="session")
def stack(stack_env: dict[str, str]) -> Iterator[Stack]:
    from ops.model import current_model
    from ops.supervisor import Supervisor, collect_services

    if not current_model().exists():
        pytest.fail(f"no trained model {current_model().name}: run `make train` (make test does)")
    seed = subprocess.run([sys.executable, "-m", "knowledge_base", "seed"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert seed.returncode == 0, seed.stderr
    data_dir = Path(stack_env["GOVBOT__PATHS__DATA_DIR"])
    supervisor = Supervisor(collect_services(["dispatch", "gateway", "assistant"]), data_dir / "log")
    try:
        supervisor.start_all(echo=lambda line: None)
        supervisor.watch_in_background()  # as under `make run`: a service that dies is restarted
        from common.web import staff_token

        yield Stack(gateway=settings.base_url("gateway"), dispatch=settings.base_url("dispatch"),
                    data_dir=data_dir, env=stack_env, staff_token=staff_token(), supervisor=supervisor)
    finally:
        supervisor.stop_all()
