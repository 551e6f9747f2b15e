"""The supervisor starts real processes, waits for readiness, and leaves no orphans."""

from __future__ import annotations

import os
import sys
import time

import pytest

from common.net import free_port
from common.services import Service
from ops.supervisor import Supervisor


def http_server(port: int, child: bool = False) -> list[str]:
    """A real HTTP server; with ``child`` it also forks a sleeping grandchild (like Rasa's workers)."""
    code = ("import http.server, subprocess, sys;"
            + ("subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);" if child else "")
            + f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
            + ".serve_forever()")
    return [sys.executable, "-c", code]


def live_members(pgid: int) -> list[int]:
    """Processes of a group that are still running (zombies waiting to be reaped don't count)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                members.append(int(entry))
    return members


def test_start_ready_and_stop_without_orphans(tmp_path) -> None:
    port = free_port()
    services = [Service("web", http_server(port, child=True), f"http://127.0.0.1:{port}",
                        ready_url=f"http://127.0.0.1:{port}/", start_timeout_s=20)]
    supervisor = Supervisor(services, tmp_path)
    lines: list[str] = []
    supervisor.start_all(echo=lines.append)
    assert lines == [f"web: http://127.0.0.1:{port}"]
    pgid = supervisor.procs["web"].pid
    deadline = time.monotonic() + 5
    while len(live_members(pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(live_members(pgid)) == 2  # the server and its grandchild
    supervisor.stop_all()
    time.sleep(0.3)
    assert live_members(pgid) == []  # the whole process group is gone


def test_a_service_that_dies_is_reported_with_its_log(tmp_path) -> None:
    services = [Service("broken", [sys.executable, "-c", "print('boom: missing model'); raise SystemExit(3)"],
                        "http://127.0.0.1:1", ready_url="http://127.0.0.1:1/", start_timeout_s=10)]
    supervisor = Supervisor(services, tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)broken exited with code 3.*boom: missing model"):
        supervisor.start_all(echo=lambda line: None)
    supervisor.stop_all()


def test_a_service_that_never_gets_ready_times_out(tmp_path) -> None:
    services = [Service("slow", [sys.executable, "-c", "import time; time.sleep(60)"], "x",
                        ready_url=f"http://127.0.0.1:{free_port()}/", start_timeout_s=1.5)]
    supervisor = Supervisor(services, tmp_path)
    with pytest.raises(RuntimeError, match="slow was not ready"):
        supervisor.start_all(echo=lambda line: None)
    supervisor.stop_all()
