"""Start every service, wait until each is ready, print its URL, stop them all on Ctrl-C/SIGTERM.

Each service runs in its own process group so that stopping it also stops anything it spawned
(Rasa forks workers, Asterisk runs through a loader): no orphans after `make run` exits.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import settings
from common.services import Service

# Start order: backends first, Rasa (slow model load) after its action server, telephony last.
PACKAGES = ["dispatch", "gateway", "assistant", "telephony"]
STOP_GRACE_S = 10.0
POLL_S = 0.5


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


def is_ready(service: Service) -> bool:
    if service.ready_url:
        try:
            with urllib.request.urlopen(service.ready_url, timeout=2) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False
    if service.ready_tcp:
        try:
            with socket.create_connection(service.ready_tcp, timeout=1):
                return True
        except OSError:
            return False
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Supervisor:
    def __init__(self, services: list[Service], log_dir: Path) -> None:
        self.services = services
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start_all(self, echo=print) -> None:
        """Start the services in order; raise RuntimeError naming the one that failed."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            self._start(service)
            self._wait_ready(service)
            echo(f"{service.name}: {service.url}")
            for line in service.extra_lines:
                echo(f"  {line}")

    def stop_one(self, name: str) -> None:
        """Stop one service (its whole process group), e.g. to show that the others degrade gracefully."""
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def restart(self, name: str) -> None:
        service = next(s for s in self.services if s.name == name)
        self.stop_one(name)
        self._start(service)
        self._wait_ready(service)

    def _start(self, service: Service) -> None:
        env = {**os.environ, "PYTHONPATH": str(settings.ROOT), **service.env}
        log = open(self.log_dir / f"{service.name}.log", "ab")
        self.procs[service.name] = subprocess.Popen(
            service.argv, cwd=service.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def _wait_ready(self, service: Service) -> None:
        proc = self.procs[service.name]
        deadline = time.monotonic() + service.start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {proc.returncode}:\n"
                                   f"{tail(self.log_dir / f'{service.name}.log')}")
            if is_ready(service):
                return
            time.sleep(POLL_S)
        raise RuntimeError(f"{service.name} was not ready within {service.start_timeout_s:.0f} s:\n"
                           f"{tail(self.log_dir / f'{service.name}.log')}")

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.procs.clear()

    def watch(self) -> int:
        """Block until a service dies or a signal arrives; return the exit code for `make run`."""
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    print(f"{name} stopped unexpectedly (code {proc.returncode}); stopping everything.\n"
                          f"{tail(self.log_dir / f'{name}.log')}", file=sys.stderr)
                    return 1
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every service of the assistant on 127.0.0.1.")
    parser.add_argument("--only", nargs="*", help="package names to start (default: all)")
    args = parser.parse_args(argv)
    log_dir = settings.data_dir() / "log"
    supervisor = Supervisor(collect_services(args.only), log_dir)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start_all(echo=lambda line: print(line, flush=True))
        print(f"All services ready. Logs in {log_dir}. Press Ctrl-C to stop.", flush=True)
        return supervisor.watch()
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"Start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
