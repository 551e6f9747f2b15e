"""The supervisor starts real processes, waits for readiness, restarts what dies, and leaves no orphans.

Every child here is a real process (a small HTTP server); pauses are shortened through the
``[supervisor]`` section the supervisor is given, so a crash loop takes seconds, not minutes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import pytest

from common import settings
from common.net import free_port
from common.services import Service
from ops import supervisor as supervisor_module
from ops.supervisor import READY, Supervisor

FAST = {"poll_interval_s": 0.05, "restart_backoff_base_s": 0.2, "restart_backoff_max_s": 0.8,
        "crash_loop_restarts": 3, "crash_loop_window_s": 60.0, "stop_grace_s": 5.0}
WAIT_S = 30.0


def fast_conf(**overrides: float) -> dict:
    return {**settings.section("supervisor"), **FAST, **overrides}


def http_server(port: int, child: bool = False, exit_after_s: float | None = None, once: str | None = None
                ) -> list[str]:
    """A real HTTP server; with ``child`` it also forks a sleeping grandchild (like Rasa's workers).

    ``exit_after_s``: it exits with code 3 after serving that long (every run, or with ``once`` = a
    marker file only the first run).
    """
    code = "import http.server, os, subprocess, sys, threading;"
    if child:
        code += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
    if exit_after_s is not None:
        timer = f"threading.Timer({exit_after_s}, os._exit, [3]).start()"
        code += (f"first = not os.path.exists({once!r}); open({once!r}, 'a').close();\nif first: {timer}\n" if once
                 else f"{timer};")
    code += (f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)"
             ".serve_forever()")
    return [sys.executable, "-c", code]


def web(name: str, **kwargs) -> Service:
    port = free_port()
    return Service(name, http_server(port, **kwargs), f"http://127.0.0.1:{port}",
                   ready_url=f"http://127.0.0.1:{port}/", start_timeout_s=20)


def wait_until(condition: Callable[[], object], timeout_s: float = WAIT_S) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


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
    wait_until(lambda: len(live_members(pgid)) == 2)  # the server and its grandchild
    supervisor.stop_all()
    wait_until(lambda: live_members(pgid) == [])  # the whole process group is gone (a fixed 0.3 s was a guess)


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


def test_a_service_killed_with_sigkill_comes_back_while_the_others_keep_serving(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ops.supervisor")
    killed, steady = web("killed", child=True), web("steady")
    supervisor = Supervisor([killed, steady], tmp_path, fast_conf())
    try:
        supervisor.start_all(echo=lambda line: None)
        supervisor.watch_in_background()
        old = supervisor.procs["killed"].pid
        steady_pid = supervisor.procs["steady"].pid
        wait_until(lambda: len(live_members(old)) == 2)  # the server and its grandchild
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: supervisor.status("killed")[0] == READY and supervisor.status("killed")[1] != old)
        assert killed.ready(1.0)
        wait_until(lambda: live_members(old) == [])  # the grandchild of the killed one was not left behind
        [restart] = supervisor.restarts("killed")
        assert restart.reason == "signal SIGKILL" and restart.exited_at < restart.started_at < restart.ready_at
        assert supervisor.status("steady") == (READY, steady_pid) and supervisor.restarts("steady") == []
        assert any("killed stopped unexpectedly (signal SIGKILL)" in r.getMessage() for r in caplog.records)
        assert any(r.getMessage().startswith("killed is back") for r in caplog.records)
    finally:
        supervisor.stop_all()
    assert live_members(supervisor.procs["killed"].pid) == [] and live_members(steady_pid) == []


def test_a_service_that_exits_after_serving_is_restarted_and_stays(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ops.supervisor")
    flaky = web("flaky", exit_after_s=0.5, once=str(tmp_path / "ran-once"))
    supervisor = Supervisor([flaky], tmp_path, fast_conf())
    try:
        supervisor.start_all(echo=lambda line: None)
        first = supervisor.procs["flaky"].pid
        supervisor.watch_in_background()
        wait_until(lambda: supervisor.restarts("flaky") and supervisor.restarts("flaky")[0].ready_at)
        [restart] = supervisor.restarts("flaky")
        assert restart.reason == "exit code 3"
        assert restart.started_at - restart.exited_at >= FAST["restart_backoff_base_s"]  # the first pause
        state, pid = supervisor.status("flaky")
        assert state == READY and pid != first and supervisor.crash_loop is None
        assert any("flaky stopped unexpectedly (exit code 3); restart 1 of 3" in r.getMessage()
                   for r in caplog.records)
    finally:
        supervisor.stop_all()


def test_a_crash_loop_backs_off_then_stops_everything(tmp_path) -> None:
    looping, steady = web("looping", exit_after_s=0.3), web("steady", child=True)
    supervisor = Supervisor([steady, looping], tmp_path, fast_conf())
    try:
        supervisor.start_all(echo=lambda line: None)
        steady_pid = supervisor.procs["steady"].pid
        started = time.monotonic()
        assert supervisor.watch() == 1  # returns by itself: a crash loop, not a signal
        assert supervisor.crash_loop == "looping" and time.monotonic() - started < WAIT_S
        restarts = supervisor.restarts("looping")
        pauses = [r.started_at - r.exited_at for r in restarts]
        assert len(restarts) == FAST["crash_loop_restarts"]  # restarted 3 times; the 4th exit is the loop
        for pause, expected in zip(pauses, [0.2, 0.4, 0.8], strict=True):  # doubling, capped at 0.8
            assert expected <= pause < expected + 0.5, pauses
        assert all(r.reason == "exit code 3" and r.ready_at for r in restarts)
        assert supervisor.status("steady") == (READY, steady_pid)  # it served through the loop
    finally:
        supervisor.stop_all()
    assert live_members(steady_pid) == []  # stopping everything leaves no orphans


def test_make_run_exits_non_zero_naming_the_looping_service(tmp_path, monkeypatch, capsys) -> None:
    looping = web("looping", exit_after_s=0.3)
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    for key, value in FAST.items():
        monkeypatch.setenv(f"GOVBOT__SUPERVISOR__{key.upper()}", str(value))
    settings.reload()
    monkeypatch.setattr(supervisor_module, "collect_services", lambda packages: [looping])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert supervisor_module.main([]) == 1
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        settings.reload()
    err = capsys.readouterr().err
    assert "looping keeps crashing (crash loop)" in err


def test_a_stopped_service_is_not_restarted_until_asked(tmp_path) -> None:
    held = web("held")
    supervisor = Supervisor([held], tmp_path, fast_conf())
    try:
        supervisor.start_all(echo=lambda line: None)
        supervisor.watch_in_background()
        supervisor.stop_one("held")
        time.sleep(10 * FAST["poll_interval_s"])  # several watch passes: nothing restarts it
        assert supervisor.status("held")[0] == "held" and not held.ready(1.0) and supervisor.restarts("held") == []
        supervisor.restart("held")
        assert held.ready(1.0)
    finally:
        supervisor.stop_all()
