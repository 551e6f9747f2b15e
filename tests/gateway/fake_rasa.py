"""A stand-in for Rasa's REST channel: a real HTTP server that records what the gateway forwards.

Why: the gateway's trust boundary is judged by what reaches Rasa (sender id, metadata), and a real
peer on a real port checks the gateway's actual HTTP call rather than a patched function.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "好的"


class FakeRasa:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.received.append(body)
                data = json.dumps([{"recipient_id": body["sender"], "text": REPLY}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self) -> dict[str, Any]:
        assert self.received, "nothing reached Rasa"
        return self.received[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
