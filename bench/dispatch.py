"""Dispatch throughput: how fast the embedded Open311 server takes tickets, on SQLite and PostgreSQL.

Server part: starts the real server (``python -m dispatch``, one process, as `make run` does) on a
free port with a fresh database, then ``--clients`` concurrent clients POST ``--requests`` form-encoded
service requests (distinct places, so duplicate detection runs but links nothing) and we report
requests/s and latency p50/p95/p99. PostgreSQL runs in a throw-away schema of the local server.

Outbox part (client side): drain time for queued tickets — see ``bench_outbox_drain`` below.

    python -m bench.dispatch                        # small defaults, well under 2 minutes
    python -m bench.dispatch --requests 2000 --clients 50 --databases sqlite postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.report import RESULTS, percentile, table, write
from common.net import free_port
from common.services import APP_PYTHON
from common.settings import ROOT

PG_URL = "postgresql+psycopg://127.0.0.1/test"
READY_TIMEOUT_S = 30.0
API_KEY = "bench-api-key"


class ServerProcess:
    """``python -m dispatch`` with its own data dir, port and database; stopped by its own pid."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        (workdir / "secrets").mkdir(parents=True, exist_ok=True)
        (workdir / "secrets" / "dispatch_api_key").write_text(API_KEY + "\n", encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVBOT__PATHS__DATA_DIR": str(workdir),
               "GOVBOT__DISPATCH__PORT": str(self.port), "GOVBOT__DISPATCH__DB_URL": db_url,
               "GOVBOT__DISPATCH__STATUS_WEBHOOK_URL": '""', "GOVBOT__LOGGING__LEVEL": "WARNING"}
        self.log = open(workdir / "dispatch.log", "ab")  # closed in stop()
        self.proc = subprocess.Popen([str(APP_PYTHON), "-m", "dispatch"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dispatch exited with code {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("dispatch did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def ticket_form(i: int) -> dict[str, str]:
    """A plausible report at a distinct place (about 1 km apart), so none is merged as a duplicate."""
    return {"api_key": API_KEY, "service_code": "road", "attribute[facility]": "streetlight",
            "lat": f"{30 + (i % 300) * 0.01:.5f}", "long": f"{110 + (i // 300) * 0.01:.5f}",
            "description": f"第 {i} 号路灯不亮，晚上很黑", "channel": "bench", "sender_id": f"bench-{i}",
            "idempotency_key": f"bench-{uuid.uuid4().hex}"}


async def load(base: str, requests: int, clients: int) -> dict[str, Any]:
    """``clients`` workers share a counter; each request's latency is measured on the client."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                try:
                    r = await http.post("/open311/v2/requests.json", data=ticket_form(i))
                    key = None if r.status_code == 201 else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                if key:
                    errors[key] = errors.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    ok = requests - sum(errors.values())
    return {
        "requests": requests, "clients": clients, "ok": ok, "errors": errors,
        "wall_s": round(wall, 3), "requests_per_s": round(ok / wall, 1) if wall else None,
        "latency_ms": {name: round(percentile(latencies, pct) * 1000, 1)
                       for name, pct in (("p50", 50), ("p95", 95), ("p99", 99))},
        "latency_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
    }


def run_server_bench(kind: str, requests: int, clients: int) -> dict[str, Any]:
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        workdir = Path(tmp)
        schema = None
        if kind == "postgres":
            schema = f"bench_dispatch_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            db_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        else:
            db_url = f"sqlite:///{workdir / 'dispatch.sqlite3'}"
        server = ServerProcess(db_url, workdir)
        try:
            server.wait_ready()
            asyncio.run(load(server.base, min(clients, requests), min(clients, requests)))  # warm-up
            result = asyncio.run(load(server.base, requests, clients))
        finally:
            server.stop()
            if schema:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    return {"database": kind, **result}


def postgres_reachable() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


def bench_server(args: argparse.Namespace) -> dict[str, Any]:
    """Server part: request creation throughput and latency per database."""
    results = {}
    for kind in args.databases:
        if kind == "postgres" and not postgres_reachable():
            print(f"PostgreSQL at {PG_URL} is not reachable: skipped\n", flush=True)
            results[kind] = {"database": kind, "skipped": "PostgreSQL not reachable"}
            continue
        result = run_server_bench(kind, args.requests, args.clients)
        results[kind] = result
        print(table([
            ("requests (ok)", f"{result['ok']}/{result['requests']}"),
            ("concurrent clients", result["clients"]),
            ("requests/s", result["requests_per_s"]),
            ("latency p50 ms", result["latency_ms"]["p50"]),
            ("latency p95 ms", result["latency_ms"]["p95"]),
            ("latency p99 ms", result["latency_ms"]["p99"]),
            ("errors", json.dumps(result["errors"], ensure_ascii=False) or "{}"),
        ], f"POST requests.json on {kind}"), flush=True)
        print()
    return results


# --- Outbox part (owned by the Open311 client side) -------------------------------------------
# Drain time for queued tickets: the outage case. ``--outbox-tickets`` tickets are queued in a fresh
# outbox (SQLite) while no backend is listening, then the real server is started and the outbox drains
# them exactly as ``python -m dispatch.outbox drain`` does (claim, send with the idempotency key, record).

def bench_outbox_drain(n: int = 1000, workers: int | None = None) -> dict[str, Any]:
    """Queue ``n`` tickets, start the embedded server, time the drain; checks none is lost or doubled."""
    from common import settings
    from dispatch.open311_client import Open311Client
    from dispatch.outbox import Outbox, TicketDraft, make_engine

    conf = settings.section("dispatch")
    if workers:
        conf["outbox_workers"] = workers
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        workdir = Path(tmp)
        server = ServerProcess(f"sqlite:///{workdir / 'dispatch.sqlite3'}", workdir)
        try:
            client = Open311Client(f"{server.base}/open311/v2", API_KEY, conf["jurisdiction_id"],
                                   float(conf["client_timeout_s"]))
            outbox = Outbox(make_engine(f"sqlite:///{workdir / 'outbox.sqlite3'}"), client, conf)
            started = time.perf_counter()
            for i in range(n):
                form = ticket_form(i)
                outbox.enqueue(TicketDraft(
                    service_code="road", attributes={"facility": "streetlight"}, description=form["description"],
                    lat=float(form["lat"]), long=float(form["long"]), sender_id=f"bench-outbox-{i}",
                    channel="bench", phone="13800138000", transcript="居民：" + form["description"]))
            enqueue_s = time.perf_counter() - started
            server.wait_ready()
            started = time.perf_counter()
            passes = 0
            while outbox.pending_count():
                result = outbox.drain()
                passes += 1
                if result.unavailable and not result.sent:
                    time.sleep(0.1)
            drain_s = time.perf_counter() - started
            rows = list(outbox.rows())
            sent = [r for r in rows if r["state"] == "sent"]
            return {
                "tickets": n, "workers": int(conf["outbox_workers"]), "batch": int(conf["outbox_batch"]),
                "enqueue_s": round(enqueue_s, 3), "drain_s": round(drain_s, 3),
                "drained_per_s": round(len(sent) / drain_s, 1) if drain_s else None, "passes": passes,
                "sent": len(sent), "distinct_ids": len({r["service_request_id"] for r in sent}),
                "rejected": sum(r["state"] == "rejected" for r in rows),
            }
        finally:
            server.stop()


def add_outbox_options(parser: argparse.ArgumentParser) -> None:
    """Options of the outbox part."""
    parser.add_argument("--outbox-tickets", type=int, default=1000, help="queued tickets to drain (default 1000)")
    parser.add_argument("--outbox-workers", type=int, default=None,
                        help="parallel sends per drain pass (default: [dispatch] outbox_workers)")


def bench_outbox(args: argparse.Namespace) -> dict[str, Any]:
    """Outbox part: drain time for ``--outbox-tickets`` tickets queued during an outage."""
    result = bench_outbox_drain(args.outbox_tickets, args.outbox_workers)
    print(table([
        ("tickets queued", result["tickets"]),
        ("enqueue s (outbox writes)", result["enqueue_s"]),
        ("drain s", result["drain_s"]),
        ("drained tickets/s", result["drained_per_s"]),
        ("workers x batch", f"{result['workers']} x {result['batch']}"),
        ("sent / distinct ids", f"{result['sent']} / {result['distinct_ids']}"),
        ("rejected", result["rejected"]),
    ], "outbox drain after an outage (SQLite outbox, embedded server on SQLite)"), flush=True)
    print()
    return result


PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {"server": bench_server, "outbox": bench_outbox}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="service requests per database (default 500)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), default=sorted(PARTS))
    add_outbox_options(parser)
    args = parser.parse_args(argv)
    previous_path = RESULTS / "dispatch.json"
    previous = json.loads(previous_path.read_text(encoding="utf-8")) if previous_path.exists() else {}
    data = {part: previous[part] for part in PARTS if part in previous}
    for part in args.only:
        data[part] = PARTS[part](args)
    print(f"written to {write('dispatch', data)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
