"""``python -m dispatch`` as `make run` starts it, and the service declaration the supervisor reads."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from common import settings
from common.services import APP_PYTHON
from tests.dispatch.conftest import free_port


def test_services_declare_the_server_and_the_outbox(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    settings.reload()
    try:
        from dispatch.service import services

        server, outbox = services()
        key = (tmp_path / "secrets" / "dispatch_api_key").read_text().strip()
        assert key and f"API key: {key}" in server.extra_lines
        assert services()[0].extra_lines == server.extra_lines  # the key is made once, then kept
        assert server.name == "dispatch" and server.argv == [str(APP_PYTHON), "-m", "dispatch"]
        base = settings.base_url("dispatch")  # host and port as configured (a test session may move them)
        assert server.ready_url == f"{base}/healthz"
        assert server.url == f"{base}/open311/v2/"
        assert outbox.name == "outbox" and outbox.argv[1:] == ["-m", "dispatch.outbox", "drain"]
        assert outbox.ready_url is None
    finally:
        settings.reload()


def test_python_m_dispatch_serves_and_stops(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), "GOVBOT__PATHS__DATA_DIR": str(tmp_path),
           "GOVBOT__DISPATCH__PORT": str(port)}
    proc = subprocess.Popen([str(APP_PYTHON), "-m", "dispatch"], cwd=settings.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        key = (tmp_path / "secrets" / "dispatch_api_key").read_text().strip()
        r = httpx.post(f"{base}/open311/v2/requests.json", data={
            "api_key": key, "service_code": "other", "address_string": "幸福路", "description": "测试"})
        assert r.status_code == 201
        assert (tmp_path / "dispatch.sqlite3").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=10)[0].decode("utf-8", "replace")
    assert proc.returncode == 0, output
