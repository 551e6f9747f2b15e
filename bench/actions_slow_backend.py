"""Other residents' turns while the dispatch backend is slow (`make bench-actions`).

Issue 9 item 3: actions used to call the outbox and the knowledge base with blocking urllib on rasa_sdk's
single event loop, so one resident's ticket waiting on a slow dispatch backend made every other resident
wait too. This measures what the other residents feel.

What runs (all real, on free ports, in a throw-away data dir):

* the action server (``python -m rasa_sdk --actions assistant.actions``, Rasa environment), as `make run` starts it;
* the embedded dispatch server (``python -m dispatch``) behind a TCP proxy in this process that holds every
  answer until ``--delay`` seconds after the request arrived (0: a healthy backend);
* the gateway (``python -m gateway``) for knowledge-base search over the seed FAQ, as the actions call it.

No Rasa process: the bench drives the action server's ``/webhook`` directly with the payloads Rasa sends
(``next_action``, the tracker with slots, latest message and events, the domain), so the NLU model is not
part of what is measured. ``--conversations`` (20) residents run at once for ``--turns`` turns each:
``--filers`` (4) of them file complaints over and over (the submit waits on the dispatch backend); the
others ask policy questions and fill in the complaint form (language detection, knowledge-base search,
form extraction), never touching dispatch. Reported: the other residents' turn latency (POST /webhook →
answer) p50/p95, with the backend answering at once and after ``--delay`` s, and the filers' turns.

    python -m bench.actions_slow_backend                 # 20 conversations, 3 s backend delay
    python -m bench.actions_slow_backend --delay 5 --turns 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.report import percentile, table, write
from common import settings
from common.net import free_port
from common.services import APP_PYTHON, RASA_PYTHON

ROOT = settings.ROOT
READY_TIMEOUT_S = 180.0  # the gateway loads the embedder and builds the index
TURN_TIMEOUT_S = 60.0
RASA_VERSION = "3.6.21"
DOMAIN = yaml.safe_load((ROOT / "assistant" / "domain.yml").read_text(encoding="utf-8"))
QUESTIONS = [item["q"] for item in yaml.safe_load(
    (ROOT / "bench" / "data" / "kb_eval.yaml").read_text(encoding="utf-8"))["evaluation"]]
COMPLAINTS = ["小区门口的路灯坏了三天了", "楼下烧烤店半夜还很吵", "下水道堵了污水冒出来", "人行道上的井盖丢了"]
PLACES = ["幸福路 {} 号", "人民路与解放路路口东北角 {} 米", "长安街 {} 号楼下"]


# -- the slow backend -----------------------------------------------------------------------------------------


class DelayingProxy:
    """TCP proxy to the dispatch server that holds each connection's answer until ``delay_s`` after the
    connection opened: every Open311 call (the client opens one connection per request) takes that long."""

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.upstream_port, self.delay_s, self.port = upstream_port, delay_s, free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DelayingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened = time.monotonic()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, hold: bool) -> None:
            first = hold
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    if first:
                        await asyncio.sleep(max(0.0, self.delay_s - (time.monotonic() - opened)))
                        first = False
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))


# -- the services -----------------------------------------------------------------------------------------------


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready after {READY_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[dict[str, Any]]:
    """Dispatch and the gateway (knowledge base) for the whole run; the action server per scenario."""
    ports = {name: free_port() for name in ("dispatch", "gateway", "rasa")}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVBOT__PATHS__DATA_DIR": str(workdir),
           "GOVBOT__TELEPHONY__ENABLED": "false", "GOVBOT__DISPATCH__STATUS_WEBHOOK_URL": "",
           "OMP_NUM_THREADS": "1", "RASA_TELEMETRY_ENABLED": "false",
           **{f"GOVBOT__{name.upper()}__PORT": str(port) for name, port in ports.items()}}
    logs = workdir / "log"
    logs.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(APP_PYTHON), "-m", "knowledge_base", "seed"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, module in (("dispatch", "dispatch"), ("gateway", "gateway")):
            with open(logs / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen([str(APP_PYTHON), "-m", module], cwd=ROOT, env=env, stdout=log,
                                              stderr=subprocess.STDOUT))
            wait_ready(f"http://127.0.0.1:{ports[name]}/healthz", procs[-1], name)
        yield {"env": env, "ports": ports, "logs": logs}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)


@contextlib.contextmanager
def action_server(stack: dict[str, Any], dispatch_port: int, name: str) -> Iterator[str]:
    """The action server of one scenario, its Open311 client pointed at ``dispatch_port`` (the proxy)."""
    port = free_port()
    env = {**stack["env"], "GOVBOT__ACTIONS__PORT": str(port), "SANIC_HOST": "127.0.0.1",
           "GOVBOT__DISPATCH__CLIENT_BASE_URL": f"http://127.0.0.1:{dispatch_port}/open311/v2",
           "GOVBOT__DISPATCH__OUTBOX_DB_URL": f"sqlite:///{stack['env']['GOVBOT__PATHS__DATA_DIR']}/outbox-{name}.sqlite3",
           "GOVBOT__KNOWLEDGE_BASE__API_URL": f"http://127.0.0.1:{stack['ports']['gateway']}/api/kb",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(stack["logs"] / f"actions-{name}.log", "wb") as log:
        proc = subprocess.Popen([str(RASA_PYTHON), "-m", "rasa_sdk", "--actions", "assistant.actions",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", proc, "action server")
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)


# -- conversations ------------------------------------------------------------------------------------------------


def action_call(action: str, sender: str, text: str, intent: str, slots: dict[str, Any] | None = None,
                active_loop: str | None = None) -> dict[str, Any]:
    """The body Rasa POSTs to the action server's /webhook for one action of one turn."""
    now = time.time()
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": [], "metadata": {},
             "intent_ranking": [{"name": intent, "confidence": 0.95}]}
    tracker = {
        "sender_id": sender, "slots": {"language": "zh", **(slots or {})}, "latest_message": parse,
        "latest_event_time": now, "followup_action": None, "paused": False,
        "events": [{"event": "action", "name": "action_listen", "timestamp": now - 1},
                   {"event": "user", "text": text, "parse_data": parse, "input_channel": "rest", "timestamp": now}],
        "latest_input_channel": "rest", "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action": {"action_name": "action_listen"}, "latest_action_name": "action_listen",
    }
    return {"next_action": action, "sender_id": sender, "tracker": tracker, "domain": DOMAIN, "version": RASA_VERSION}


def resident_turns(sender: str, index: int, turns: int) -> Iterator[list[dict[str, Any]]]:
    """A resident who asks policy questions and starts a complaint: each turn is the actions Rasa runs for it."""
    questions = itertools.islice(itertools.cycle(QUESTIONS), index * 7, None)
    for turn in range(turns):
        if turn % 3 == 2:
            text = COMPLAINTS[(index + turn) % len(COMPLAINTS)]
            yield [action_call("action_detect_language", sender, text, "file_complaint"),
                   action_call("validate_complaint_form", sender, text, "file_complaint", active_loop="complaint_form",
                               slots={"requested_slot": None})]
        else:
            text = next(questions)
            yield [action_call("action_detect_language", sender, text, "ask_policy"),
                   action_call("action_answer_policy", sender, text, "ask_policy")]


def filer_turn(sender: str, n: int) -> list[dict[str, Any]]:
    """A resident confirming a complaint: the submit files it through the outbox (waits on dispatch)."""
    slots = {"complaint_confirmed": True, "complaint_service_code": "drainage", "complaint_phone": "none",
             "complaint_description": f"{COMPLAINTS[n % len(COMPLAINTS)]}（{sender} 第 {n} 次）",
             "complaint_location": PLACES[n % len(PLACES)].format(n)}
    return [action_call("action_detect_language", sender, "确认提交", "affirm", slots=slots),
            action_call("action_submit_complaint", sender, "确认提交", "affirm", slots=slots)]


async def run_turn(http: httpx.AsyncClient, url: str, calls: list[dict[str, Any]]) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    responses = []
    for call in calls:
        reply = await http.post(url, json=call)
        reply.raise_for_status()
        responses += reply.json().get("responses") or []
    return time.perf_counter() - started, responses


async def scenario(url: str, conversations: int, filers: int, turns: int) -> dict[str, Any]:
    others: list[float] = []
    filing: list[float] = []
    receipts: dict[str, int] = {}
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=conversations * 2, max_keepalive_connections=conversations * 2)
    async with httpx.AsyncClient(timeout=TURN_TIMEOUT_S, limits=limits) as http:
        await run_turn(http, url, filer_turn("bench-warmup", 0))  # first outbox call creates its table
        await run_turn(http, url, next(resident_turns("bench-warmup", 0, 1)))

        async def resident(index: int) -> None:
            for calls in resident_turns(f"bench-resident-{index}", index, turns):
                others.append((await run_turn(http, url, calls))[0])

        async def filer(index: int) -> None:
            for n in itertools.count(1):
                if done.is_set():
                    return
                seconds, responses = await run_turn(http, url, filer_turn(f"bench-filer-{index}", n))
                filing.append(seconds)
                for response in responses:
                    key = response.get("response") or "text"
                    receipts[key] = receipts.get(key, 0) + 1

        filer_tasks = [asyncio.create_task(filer(i)) for i in range(filers)]
        started = time.perf_counter()
        await asyncio.gather(*(resident(i) for i in range(conversations - filers)))
        elapsed = time.perf_counter() - started
        done.set()
        await asyncio.gather(*filer_tasks)
    return {
        "other_turns": len(others), "other_p50_s": percentile(others, 50), "other_p95_s": percentile(others, 95),
        "other_max_s": max(others), "filer_turns": len(filing), "filer_p50_s": percentile(filing, 50),
        "filer_p95_s": percentile(filing, 95), "wall_s": elapsed, "filer_replies": receipts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=20, help="residents at once (default 20)")
    parser.add_argument("--filers", type=int, default=4, help="of them, residents filing tickets (default 4)")
    parser.add_argument("--turns", type=int, default=12, help="turns of each other resident (default 12)")
    parser.add_argument("--delay", type=float, default=3.0, help="the slow backend's answer delay, s (default 3)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-actions-") as tmp, services(Path(tmp)) as stack:
        for name, delay in (("normal_backend", 0.0), ("slow_backend", args.delay)):
            with DelayingProxy(stack["ports"]["dispatch"], delay) as proxy, \
                    action_server(stack, proxy.port, name) as url:
                results[name] = {"delay_s": delay, **asyncio.run(
                    scenario(url, args.conversations, args.filers, args.turns))}
    rows: list[tuple[str, Any]] = []
    for name, result in results.items():
        label = f"{name.replace('_', ' ')} ({result['delay_s']:g} s)"
        rows += [(f"{label}: other residents' turns", result["other_turns"]),
                 (f"{label}: other turn p50 s", result["other_p50_s"]),
                 (f"{label}: other turn p95 s", result["other_p95_s"]),
                 (f"{label}: filer turn p50 s", result["filer_p50_s"]),
                 (f"{label}: filer turn p95 s", result["filer_p95_s"])]
    title = (f"action server, {args.conversations} concurrent conversations ({args.filers} filing tickets), "
             f"dispatch backend answering at once vs after {args.delay:g} s")
    print(table(rows, title), flush=True)
    path = write("actions", {"conversations": args.conversations, "filers": args.filers, "turns": args.turns,
                             "driven": "action server /webhook with Rasa's tracker payloads", **results})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
