"""The embedded dispatch server as a real process for tests of its clients (outbox, actions).

``python -m dispatch`` runs in the application environment's Python whichever environment the test runs in
(tests/assistant runs in Rasa's), on a free port with its own data dir and fixed development secrets.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import settings

ROOT = settings.ROOT


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Embedded:
    """``python -m dispatch`` on a free port with its own data dir; stop() and start() keep port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = closed_port()
        self.api_key, self.staff_token = "embedded-test-key", "embedded-staff-token"
        (data_dir / "secrets").mkdir(parents=True, exist_ok=True)
        (data_dir / "secrets" / "dispatch_api_key").write_text(self.api_key)
        (data_dir / "secrets" / "staff_token").write_text(self.staff_token)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2"

    def start(self) -> Embedded:
        from common.services import APP_PYTHON

        env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVBOT__PATHS__DATA_DIR": str(self.data_dir),
               "GOVBOT__DISPATCH__PORT": str(self.port), "GOVBOT__DISPATCH__STATUS_WEBHOOK_URL": "",
               "GOVBOT__DISPATCH__DB_URL": f"sqlite:///{self.data_dir}/dispatch.sqlite3"}
        self.proc = subprocess.Popen([str(APP_PYTHON), "-m", "dispatch"], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._ready, 60, "the embedded dispatch server")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"python -m dispatch exited with {self.proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def staff(self, service_request_id: str, action: str, **body: Any) -> dict[str, Any]:
        """A dispatcher's action on a case (sign, assign, note, close …) through the staff API."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/dispatch/tickets/{service_request_id}/{action}",
            data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.staff_token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def details(self, service_request_id: str) -> dict[str, Any]:
        """The staff view of a case (contact, ratings, history) through the staff API."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/dispatch/tickets/{service_request_id}",
            headers={"Authorization": f"Bearer {self.staff_token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
