"""Small helpers every test package needs: serve a sanic app on a free port, wait for a condition.

Why here: each test module used to carry its own copy of the four-step sanic start-up and of a polling
loop; one copy means one place where a readiness wait is right (no fixed sleeps).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from common.net import free_port


@asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Run a sanic ``app`` on 127.0.0.1 inside the test's event loop; yields its base URL.

    Sanic's "touchup" rewrites its own server functions once per process for the first app it serves; a
    second app in the same test process then fails with ``KeyError: 'connection_task'``, so test servers
    run without it (one app per process in production keeps it).
    """
    app.config.TOUCHUP = False
    port = port or free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def wait_until(condition: Callable[[], Any], timeout_s: float, step_s: float = 0.2, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (returned), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError(f"{what} not met within {timeout_s:.0f} s")
