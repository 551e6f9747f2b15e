"""Shared fixtures: a real stack (dispatch, gateway, Rasa, actions) on free ports with its own data dir.

Rasa loads its model for about a minute, so the stack starts once per test session and only
when a test asks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Stack:
    gateway: str
    dispatch: str
    data_dir: Path
    env: dict[str, str]
    staff_token: str
    supervisor: Any

    def chat(self, sender: str, message: str, **metadata: object) -> list[dict]:
        reply = httpx.post(f"{self.gateway}/api/chat", json={"sender": sender, "message": message,
                                                             "metadata": metadata}, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()["messages"]

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
        from common.web import staff_token

        yield Stack(gateway=settings.base_url("gateway"), dispatch=settings.base_url("dispatch"),
                    data_dir=data_dir, env=stack_env, staff_token=staff_token(), supervisor=supervisor)
    finally:
        supervisor.stop_all()
