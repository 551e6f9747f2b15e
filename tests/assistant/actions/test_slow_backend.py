"""One slow backend must not stall other conversations: rasa_sdk runs every action on one event loop.

Real peers: a GeoReport v2 server (tests/dispatch/open311_peer.py) that holds its answer to a new ticket
until the test releases it, and a knowledge-base search API on another port. The test orders events
instead of timing them: the ticket reaches the backend, then another resident's question is answered
while the ticket's action is still waiting, and only then is the backend released.
"""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import backends, make_tracker
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.complaint import ActionSubmitComplaint
from assistant.actions.knowledge import ActionAnswerPolicy
from tests.dispatch.open311_peer import Peer

ANSWER = "补办社保卡请携带身份证到社保经办机构或通过官方应用申请。"
WAIT_S = 30.0  # upper bound of every wait below; the test never sleeps


class KnowledgeBase(BaseHTTPRequestHandler):
    """POST /search answers at once with one FAQ answer, like the gateway's /api/kb/search."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"outcome": "answer", "results": [
            {"question": "社保卡丢了怎么补办", "answer": ANSWER, "source": "", "category": ""}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def kb_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), KnowledgeBase)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def held_peer() -> Iterator[Peer]:
    peer = Peer().start()
    peer.hold = threading.Event()
    yield peer
    peer.hold.set()
    peer.stop()


COMPLAINT = {"complaint_confirmed": True, "complaint_service_code": "drainage", "complaint_phone": "none",
             "complaint_description": "小区门口下水道堵了，污水冒出来", "complaint_location": "幸福路 12 号"}


async def test_a_slow_dispatch_backend_does_not_hold_up_another_residents_turn(
        tmp_path: Path, held_peer: Peer, kb_url: str) -> None:
    order: list[str] = []
    filer, asker = CollectingDispatcher(), CollectingDispatcher()
    with backends(tmp_path, client_base_url=held_peer.base_url, client_api_key=held_peer.api_key,
                  submit_timeout_s=WAIT_S, kb_url=kb_url):

        async def file_ticket() -> list:
            tracker = make_tracker("确认提交", "affirm", slots=COMPLAINT, sender_id="resident-a")
            events = await ActionSubmitComplaint().run(filer, tracker, {})
            order.append("ticket filed")
            return events

        filing = asyncio.create_task(file_ticket())
        assert await asyncio.to_thread(held_peer.arrived.wait, WAIT_S), "the ticket never reached the backend"
        question = make_tracker("社保卡丢了怎么补办", "ask_policy", sender_id="resident-b")
        await ActionAnswerPolicy().run(asker, question, {})
        order.append("question answered")
        assert not filing.done(), "the ticket's action should still be waiting for the backend"
        held_peer.hold.set()
        await asyncio.wait_for(filing, WAIT_S)
    assert order == ["question answered", "ticket filed"]
    assert asker.messages[-1].get("text") == ANSWER
    assert filer.messages[-1]["response"] == "utter_ticket_filed_with_deadline"
    assert filer.messages[-1]["reference"] == "GB000001"


ACTIONS = Path(__file__).resolve().parents[3] / "assistant" / "actions"


def test_no_action_calls_a_backend_on_the_event_loop() -> None:
    """The test above shows one path; this one holds every module to it: outbox calls only inside
    ``dispatch_call``, knowledge-base searches only awaited, no HTTP client outside clients.py."""
    for path in sorted(ACTIONS.glob("*.py")):
        if path.name == "clients.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("urllib", "httpx", "requests", "aiohttp") for n in names), path.name
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            where = f"{path.name}:{node.lineno}"
            if node.func.id == "outbox":
                lam = parents.get(node)
                while lam is not None and not isinstance(lam, ast.Lambda):
                    lam = parents.get(lam)
                call = parents.get(lam) if lam is not None else None
                assert isinstance(call, ast.Call) and getattr(call.func, "id", "") == "dispatch_call", where
            if node.func.id in ("kb_search", "submit_ticket", "answer_from_kb"):
                assert isinstance(parents.get(node), ast.Await), f"{where}: {node.func.id} must be awaited"
