"""A tiny real GeoReport v2 server for the client and outbox tests (standard library, in a thread).

Not a mock: it listens on a 127.0.0.1 port and answers over HTTP, and a test can make it misbehave the ways
a command centre's system does: ``mode`` "ok", "500", "400", "429", "html" (a proxy page with 200),
``delay_s`` before answering (slow; the ticket is created *before* the wait, like a server whose answer is
lost), ``hold`` (an Event: a new ticket's answer waits until the test sets it, at most ``hold_s``; ``arrived``
is set when such a POST came in, so a test orders events instead of measuring time), ``stop()``/``start()``
(down). It dedups by idempotency key like the embedded server, counts every POST, and keeps its tickets
across stop/start, so tests can assert "no loss, no duplicates".
Importable from both environments (tests/assistant runs in the 3.10 one).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/open311/v2/"
TZ = timezone(timedelta(hours=8))
SERVICES = [
    {"service_code": "noise", "service_name": "噪音扰民", "metadata": False, "type": "realtime",
     "keywords": "噪音,吵", "group": "环境", "description": "噪音"},
    {"service_code": "road", "service_name": "道路设施/路灯/井盖", "metadata": True, "type": "realtime",
     "keywords": "路灯", "group": "市政设施", "description": "路灯"},
    {"service_code": "drainage", "service_name": "排水/污水", "metadata": False, "type": "realtime",
     "keywords": "下水道", "group": "市政设施", "description": "排水"},
]
NAMES = {s["service_code"]: s["service_name"] for s in SERVICES}


class Peer:
    """The server's state and controls; ``base_url`` is what an Open311Client is given."""

    def __init__(self, api_key: str = "peer-key") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.delay_s = 0.0
        self.batch = False  # answer POST with a token only (a "batch" server), ids via tokens/{token}
        self.hold: threading.Event | None = None
        self.hold_s = 10.0
        self.arrived = threading.Event()
        self.tickets: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.tokens: dict[str, str | None] = {}
        self.ratings: list[dict[str, Any]] = []
        self.posts = 0
        self.replays = 0  # POSTs answered with an existing ticket (same idempotency key)
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2"

    def start(self) -> Peer:
        handler = type("Handler", (_Handler,), {"peer": self})
        self.server = _Server(("127.0.0.1", self.port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def close(self, service_request_id: str, notes: str) -> None:
        """What a dispatcher does: close the case with a result."""
        with self.lock:
            ticket = self.tickets[service_request_id]
            ticket.update(status="closed", status_notes=notes, updated_datetime=_now())

    def create(self, form: dict[str, list[str]], key: str | None) -> tuple[dict[str, Any], bool]:
        with self.lock:
            self.posts += 1
            if key and key in self.by_key:
                self.replays += 1
                return self.tickets[self.by_key[key]], False
            srid = f"GB{len(self.tickets) + 1:06d}"
            ticket = {
                "service_request_id": srid, "status": "open", "status_notes": "已受理",
                "service_code": form["service_code"][0], "service_name": NAMES[form["service_code"][0]],
                "description": (form.get("description") or [""])[0], "requested_datetime": _now(),
                "updated_datetime": _now(), "expected_datetime": (datetime.now(TZ) + timedelta(hours=12))
                .isoformat(timespec="seconds"), "address": (form.get("address_string") or [""])[0],
                "_form": form,
            }
            self.tickets[srid] = ticket
            if key:
                self.by_key[key] = srid
            return ticket, True


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the point of some tests) is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _now() -> str:
    return datetime.now(TZ).isoformat(timespec="seconds")


def _public(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ticket.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    peer: Peer
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # quiet test output
        pass

    def _reply(self, status: int, body: Any, content_type: str = "application/json; charset=utf-8") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, description: str) -> None:
        self._reply(status, [{"code": status, "description": description}])

    def _misbehave(self) -> bool:
        mode = self.peer.mode
        if mode in ("500", "429"):
            self._error(int(mode), "服务暂不可用")
        elif mode == "400":
            self._error(400, "缺少必填属性")
        elif mode == "html":
            self._reply(200, b"<html>gateway</html>", "text/html")
        else:
            return False
        return True

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.peer.requests.append(("GET", url.path, query, dict(self.headers)))
        if self._misbehave():
            return
        time.sleep(self.peer.delay_s)
        path = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else ""
        if path == "services.json":
            return self._reply(200, SERVICES)
        if path == "requests.json":
            with self.peer.lock:
                tickets = [_public(t) for t in self.peer.tickets.values()]
            if "service_request_id" in query:
                wanted = set(query["service_request_id"][0].split(","))
                return self._reply(200, [t for t in tickets if t["service_request_id"] in wanted])
            for key in ("sender_id", "phone"):
                if key in query:
                    tickets = [t for t in tickets if self.peer.tickets[t["service_request_id"]]["_form"]
                               .get(key, [""])[0] == query[key][0]]
            return self._reply(200, tickets)
        if path.startswith("requests/") and path.endswith(".json"):
            srid = urllib.parse.unquote(path[len("requests/"):-len(".json")])
            ticket = self.peer.tickets.get(srid)
            return self._reply(200, [_public(ticket)]) if ticket else self._error(404, f"工单 {srid} 不存在")
        if path.startswith("tokens/") and path.endswith(".json"):
            token = path[len("tokens/"):-len(".json")]
            if token not in self.peer.tokens:
                return self._error(404, "token 不存在")
            return self._reply(200, [{"token": token, "service_request_id": self.peer.tokens[token]}])
        return self._error(404, "无此资源")

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
        self.peer.requests.append(("POST", url.path, form, dict(self.headers)))
        if self._misbehave():
            return
        if form.get("api_key", [""])[0] != self.peer.api_key:
            return self._error(403, "api_key 无效")
        path = url.path[len(PREFIX):]
        if path.startswith("requests/") and path.endswith("/rating.json"):
            srid = urllib.parse.unquote(path[len("requests/"):-len("/rating.json")])
            if srid not in self.peer.tickets:
                return self._error(404, "工单不存在")
            self.peer.ratings.append({"service_request_id": srid, "score": int(form["score"][0]),
                                      "comment": form.get("comment", [""])[0]})
            return self._reply(200, [{"service_request_id": srid, "score": int(form["score"][0])}])
        if path != "requests.json":
            return self._error(404, "无此资源")
        if not form.get("service_code"):
            return self._error(400, "缺少 service_code")
        if form["service_code"][0] not in {s["service_code"] for s in SERVICES}:
            return self._error(404, "服务不存在")
        key = form.get("idempotency_key", [None])[0] or self.headers.get("Idempotency-Key")
        ticket, _new = self.peer.create(form, key)
        time.sleep(self.peer.delay_s)  # created first: a slow answer may be lost while the ticket exists
        self.peer.arrived.set()
        if self.peer.hold is not None:
            self.peer.hold.wait(self.peer.hold_s)
        if self.peer.batch:
            token = f"T{ticket['service_request_id']}"
            self.peer.tokens.setdefault(token, None)
            return self._reply(200, [{"token": token}])
        return self._reply(200, [{"service_request_id": ticket["service_request_id"],
                                  "service_notice": "12 小时内办结", "account_id": None}])
