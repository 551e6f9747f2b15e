"""How a package declares the processes it runs, so `make run` and the tests start them alike.

Each package that runs a process has a ``service.py`` with ``services() -> list[Service]``;
``ops/supervisor.py`` collects them. Adding a service is one new module, not edits elsewhere.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from common.settings import ROOT

APP_PYTHON = ROOT / ".venv-app" / "bin" / "python"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


@dataclass
class Service:
    """One long-running process.

    ``ready_url`` is polled with GET until it answers 2xx; ``ready_tcp`` (host, port) until it
    accepts a connection. ``url`` is what `make run` prints for people to open.
    """

    name: str
    argv: list[str]
    url: str
    ready_url: str | None = None
    ready_tcp: tuple[str, int] | None = None
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0
    cwd: Path = ROOT
    extra_lines: list[str] = field(default_factory=list)  # printed under the URL (e.g. a dev API key)

    def ready(self, timeout_s: float) -> bool:
        """One readiness probe, as declared; a service that declares none is ready once it runs.

        It lives with the declaration (not in the supervisor) so that the supervisor, the tests that
        kill a service and wait for it to come back, and benchmarks all ask the same question.
        """
        if self.ready_url:
            try:
                with urllib.request.urlopen(self.ready_url, timeout=timeout_s) as response:
                    return 200 <= response.status < 300
            except (urllib.error.URLError, OSError, ValueError):
                return False
        if self.ready_tcp:
            try:
                with socket.create_connection(self.ready_tcp, timeout=timeout_s):
                    return True
            except OSError:
                return False
        return True
