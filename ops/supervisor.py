"""Start every service, wait until each is ready, print its URL; keep them running until Ctrl-C/SIGTERM.

A service that exits (a crash, ``kill -9``, the OOM killer) is restarted after a growing pause while
the others keep serving; it counts as back only when its own readiness check (``Service.ready``)
answers again. More restarts than ``[supervisor] crash_loop_restarts`` within ``crash_loop_window_s``
is a crash loop: everything stops and ``make run`` exits non-zero naming the service (ops/restarts.py).

Each service runs in its own process group, so stopping it, or cleaning up after it died, also
stops anything it spawned (Rasa's workers, Asterisk's loader): no orphans holding a port.

Why our own supervisor rather than a maintained process manager (evaluated for issue 9):
- supervisord (PyPI ``supervisor``) has process groups (``stopasgroup``/``killasgroup``) but no
  readiness probe (a process is "RUNNING" after ``startsecs``, not when Rasa has loaded its model, so
  the URLs could not be printed when they work); its backoff and ``startretries`` limit only cover
  deaths within ``startsecs``: a process that had been running is restarted at once, forever, and
  there is no "give up and exit" for a loop of a minute-long Rasa start. It also runs as a daemon
  with its own config file and XML-RPC socket that we would generate from ``<pkg>/service.py``.
- circus has a crash-loop limit (its ``flapping`` plugin: attempts within a window) but no
  exponential backoff and no readiness probes (hooks we would write), and brings pyzmq and tornado.
Both would still need our readiness checks and the "stop everything on a loop" rule around them,
so the daemon would add a dependency and a second configuration for little that we do not have.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import settings
from common.services import Service
from ops.restarts import RestartHistory, RestartPolicy, describe_exit

log = logging.getLogger("ops.supervisor")
# Start order: the voice worker (model load) and backends first, Rasa (slow model load) after its action server,
# telephony, then the campaign dialler (it places calls through Asterisk) last.
PACKAGES = ["speech.voice_worker", "dispatch", "gateway", "assistant", "telephony", "campaigns"]
LOG_TAIL_LINES = 30

# States of a supervised service.
READY, STARTING, BACKOFF, HELD = "ready", "starting", "backoff", "held"


class StopRequested(Exception):
    """Ctrl-C/SIGTERM arrived while the services were starting."""


def collect_services(packages: list[str] | None = None) -> list[Service]:
    found: list[Service] = []
    for package in packages or PACKAGES:
        try:
            module = importlib.import_module(f"{package}.service")
        except ModuleNotFoundError as exc:
            if exc.name in (package, f"{package}.service"):
                continue  # the package runs no process (yet)
            raise
        found.extend(module.services())
    return found


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Restart:
    """One restart, for logs and for tests that measure how long a service was away (monotonic seconds)."""

    name: str
    reason: str
    exited_at: float
    started_at: float | None = None
    ready_at: float | None = None


@dataclass
class Child:
    service: Service
    history: RestartHistory
    proc: subprocess.Popen[bytes] | None = None
    state: str = HELD
    deadline: float = 0.0  # STARTING: readiness deadline; BACKOFF: when to start again
    restart: Restart | None = None
    restarts: list[Restart] = field(default_factory=list)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


class Supervisor:
    def __init__(self, services: list[Service], log_dir: Path, conf: dict[str, Any] | None = None) -> None:
        """``conf`` is the ``[supervisor]`` settings section (tests pass shorter pauses)."""
        conf = conf if conf is not None else settings.section("supervisor")
        policy = RestartPolicy.from_settings(conf)
        self.log_dir = log_dir
        self.stop_grace_s = float(conf["stop_grace_s"])
        self.poll_s = float(conf["poll_interval_s"])
        self.probe_timeout_s = float(conf["probe_timeout_s"])
        self.children = {s.name: Child(s, RestartHistory(policy)) for s in services}
        self.crash_loop: str | None = None  # the service that looped, once watch() gave up
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._deferred: set[str] = set()  # services whose automatic restart waits (restarts_deferred)

    @property
    def services(self) -> list[Service]:
        return [child.service for child in self.children.values()]

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        with self._lock:
            return {name: child.proc for name, child in self.children.items() if child.proc is not None}

    def status(self, name: str) -> tuple[str, int | None]:
        """``(state, pid)`` of one service: tests wait for ``ready`` with a new pid after killing one."""
        with self._lock:
            child = self.children[name]
            return child.state, child.proc.pid if child.proc else None

    def restarts(self, name: str) -> list[Restart]:
        with self._lock:
            return list(self.children[name].restarts)

    # -- start-up: in order, each one ready before the next --------------------------------------

    def start_all(self, echo=print) -> None:
        """Start the services in order; raise RuntimeError naming the one that failed."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            self._spawn(child, state=HELD)
            self._wait_ready(child)
            echo(f"{child.service.name}: {child.service.url}")
            for line in child.service.extra_lines:
                echo(f"  {line}")

    def _spawn(self, child: Child, state: str) -> None:
        service = child.service
        env = {**os.environ, "PYTHONPATH": str(settings.ROOT), **service.env}
        with self._lock, open(self.log_dir / f"{service.name}.log", "ab") as log_file:
            child.proc = subprocess.Popen(
                service.argv, cwd=service.cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
            child.state, child.deadline = state, time.monotonic() + service.start_timeout_s

    def _wait_ready(self, child: Child) -> None:
        """Block until ``child`` answers its readiness check (start-up and manual restarts)."""
        service, proc = child.service, child.proc
        assert proc is not None
        while time.monotonic() < child.deadline:
            if self._stop.is_set():
                raise StopRequested
            if proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {proc.returncode}:\n"
                                   f"{tail(self._log(service))}")
            if service.ready(self.probe_timeout_s):
                with self._lock:
                    child.state = READY
                return
            time.sleep(self.poll_s)
        raise RuntimeError(f"{service.name} was not ready within {service.start_timeout_s:.0f} s:\n"
                           f"{tail(self._log(service))}")

    def _log(self, service: Service) -> Path:
        return self.log_dir / f"{service.name}.log"

    # -- watching: restart what exits, give up on a crash loop -----------------------------------

    def watch(self) -> int:
        """Restart services that exit until a stop is requested (0) or one of them loops (1)."""
        while not self._stop.wait(self.poll_s):
            looped = self.check()
            if looped:
                self.crash_loop = looped
                child = self.children[looped]
                log.error("%s is in a crash loop: %d exits within %.0f s; stopping everything.\n%s", looped,
                          child.history.recent, child.history.policy.window_s, tail(self._log(child.service)))
                return 1
        return 0

    def watch_in_background(self) -> None:
        """Run ``watch`` in a thread (the test stack); a crash loop there stops every service."""

        def run() -> None:
            if self.watch():
                self._stop_processes()

        self._watcher = threading.Thread(target=run, name="supervisor-watch", daemon=True)
        self._watcher.start()

    def request_stop(self) -> None:
        """Make ``watch`` (or a start-up in progress) return; safe from a signal handler."""
        self._stop.set()

    def check(self) -> str | None:
        """One pass over the services; the name of one in a crash loop, if any."""
        now = time.monotonic()
        for child in list(self.children.values()):
            with self._lock:
                if child.state in (READY, STARTING) and child.proc and child.proc.poll() is not None:
                    if self._exited(child, describe_exit(child.proc.returncode), now):
                        return child.service.name
                    continue
                if child.state == STARTING and now > child.deadline:
                    _kill_group(child.proc.pid, signal.SIGKILL)
                    child.proc.wait()
                    reason = f"not ready within {child.service.start_timeout_s:.0f} s"
                    if self._exited(child, reason, now):
                        return child.service.name
                    continue
                if child.state == BACKOFF and now >= child.deadline and child.service.name not in self._deferred:
                    self._spawn(child, state=STARTING)
                    child.restart.started_at = time.monotonic()
                    log.info("%s restarted (pid %d), waiting for it to be ready", child.service.name, child.proc.pid)
                    continue
                probing = child.proc if child.state == STARTING else None
            if probing is not None and child.service.ready(self.probe_timeout_s):  # outside the lock: slow
                with self._lock:
                    if child.proc is probing and child.state == STARTING:
                        child.state = READY
                        child.restart.ready_at = time.monotonic()
                        log.info("%s is back: %s (ready %.1f s after it stopped)", child.service.name,
                                 child.service.url, child.restart.ready_at - child.restart.exited_at)
        return None

    def _exited(self, child: Child, reason: str, now: float) -> bool:
        """Schedule the restart of a service that stopped by itself; True when it is looping."""
        name = child.service.name
        _kill_group(child.proc.pid, signal.SIGKILL)  # whatever it spawned must not keep its port
        pause = child.history.failed(now)
        log.warning("%s stopped unexpectedly (%s); %s", name, reason,
                    "no restart: crash loop" if pause is None else
                    f"restart {child.history.recent} of {child.history.policy.max_restarts} allowed within "
                    f"{child.history.policy.window_s:.0f} s, in {pause:.1f} s")
        if pause is None:
            return True
        child.restart = Restart(name, reason, now)
        child.restarts.append(child.restart)
        child.state, child.deadline = BACKOFF, now + pause
        return False

    # -- manual control (tests that show degradation) --------------------------------------------

    @contextmanager
    def restarts_deferred(self, name: str) -> Iterator[None]:
        """Inside the block a service that exits is restarted only after the block ends.

        Why: a test that shows what residents get while a backend is away needs an outage that lasts
        until it has looked, not one that ends after the backoff pause (1–2 s) whatever the machine's load.
        The restart itself stays automatic: leaving the block is all the test does.
        """
        with self._lock:
            self._deferred.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._deferred.discard(name)

    def stop_one(self, name: str) -> None:
        """Stop one service and keep it stopped (not restarted) until ``restart(name)``."""
        with self._lock:
            child = self.children[name]
            child.state = HELD
            self._terminate([child])

    def restart(self, name: str) -> None:
        """Stop (if running) and start one service, waiting for it to be ready."""
        child = self.children[name]
        self.stop_one(name)
        self._spawn(child, state=HELD)
        self._wait_ready(child)

    # -- stopping --------------------------------------------------------------------------------

    def stop_all(self) -> None:
        self._stop.set()
        if self._watcher and self._watcher is not threading.current_thread():
            self._watcher.join()
        self._stop_processes()

    def _stop_processes(self) -> None:
        with self._lock:
            for child in self.children.values():
                child.state = HELD
            self._terminate(list(reversed(self.children.values())))

    def _terminate(self, children: list[Child]) -> None:
        """SIGTERM each process group, then SIGKILL what is left after the grace period."""
        running = [c.proc for c in children if c.proc is not None]
        for proc in running:
            _kill_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            _kill_group(proc.pid, signal.SIGKILL)  # members that outlived their leader


def main(argv: list[str] | None = None) -> int:
    from common.logging import setup

    parser = argparse.ArgumentParser(description="Run every service of the assistant on 127.0.0.1.")
    parser.add_argument("--only", nargs="*", help="package names to start (default: all)")
    args = parser.parse_args(argv)
    setup("supervisor")
    log_dir = settings.data_dir() / "log"
    supervisor = Supervisor(collect_services(args.only), log_dir)

    def on_signal(_signum: int, _frame: object) -> None:
        supervisor.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        supervisor.start_all(echo=lambda line: print(line, flush=True))
        print(f"All services ready. Logs in {log_dir}. Press Ctrl-C to stop.", flush=True)
        if supervisor.watch():
            print(f"{supervisor.crash_loop} keeps crashing (crash loop); stopped everything. "
                  f"See {log_dir / supervisor.crash_loop}.log", file=sys.stderr, flush=True)
            return 1
        print("\nStopping…", flush=True)
        return 0
    except StopRequested:
        print("\nStopping…", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
