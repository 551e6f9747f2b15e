"""A tiny HTTP health endpoint for the voice bot (``GET /health`` → JSON).

Why not the AudioSocket port for readiness: a TCP connect there looks like a call to the bot;
the supervisor and the tests poll this instead, and staff can see calls in progress and AMI state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any


async def serve(host: str, port: int, status: Callable[[], dict[str, Any]]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            path = request.split()[1].decode() if len(request.split()) > 1 else "/"
            ok = path in ("/", "/health")
            body = json.dumps(status() if ok else {"error": "not found"}, ensure_ascii=False).encode()
            head = (f"HTTP/1.1 {'200 OK' if ok else '404 Not Found'}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(head + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
