"""How actions reach the knowledge base (HTTP, served by the gateway) and dispatch (the outbox and its
backend) without ever blocking the action server's event loop.

rasa_sdk runs every action's ``async def run`` on one event loop, so a synchronous call inside an action
stops every other conversation until it returns; with the dispatch backend answering after 3 s, everyone
waited 3 s. Every backend call therefore goes through :func:`dispatch_call` or :func:`kb_search`, which run
the synchronous code in a thread pool (``loop.run_in_executor``).

Why thread pools rather than aiohttp (which this environment has): the outbox is synchronous by design,
SQLAlchemy Core on SQLite or PostgreSQL (1.4 here; its asyncio mode would need drivers this environment
lacks) in front of the standard-library Open311 client that the drain service in the other environment
shares. An async rewrite would fork that code into a second copy used by one caller; a thread keeps one
implementation and also takes the database calls off the loop, which aiohttp would not. One pool per
backend, each sized by a setting (``[actions] dispatch_workers``, ``kb_workers``): a bulkhead, so a slow
dispatch backend can hold at most its own threads while knowledge-base searches keep theirs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from common import settings

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_WORKERS = 16
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


class BackendUnavailable(Exception):
    """The knowledge base or dispatch could not be reached; the action says so to the resident."""


def _timeout() -> float:
    return float(settings.section("actions").get("http_timeout_s", 5.0))


def pool(name: str) -> ThreadPoolExecutor:
    """The thread pool of one backend (``dispatch`` or ``kb``), created on first use with
    ``[actions] <name>_workers`` threads."""
    with _pools_lock:
        if name not in _pools:
            workers = int(settings.section("actions").get(f"{name}_workers", DEFAULT_WORKERS))
            _pools[name] = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"actions-{name}")
        return _pools[name]


async def in_pool(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the backend's pool; the event loop serves other conversations meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(pool(name), functools.partial(fn, *args, **kwargs))


async def dispatch_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A call into the outbox (its database and its backend), off the event loop."""
    return await in_pool("dispatch", fn, *args, **kwargs)


async def kb_search(query: str, sender: str | None = None, top: int = 3) -> dict[str, Any]:
    """``{"outcome": "answer"|"clarify"|"none", "results": [...]}`` from the knowledge base, off the event loop."""
    return await in_pool("kb", kb_search_blocking, query, sender, top)


def kb_search_blocking(query: str, sender: str | None = None, top: int = 3) -> dict[str, Any]:
    """The HTTP call itself (standard library, with a timeout); run it only through :func:`kb_search`."""
    base = settings.section("knowledge_base").get("api_url") or settings.base_url("gateway") + "/api/kb"
    body = json.dumps({"query": query, "top": top, "sender": sender}).encode("utf-8")
    request = urllib.request.Request(
        f"{base.rstrip('/')}/search", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=_timeout()) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 413):  # only punctuation, or far too long: nothing the FAQ can match
            return {"outcome": "none", "results": []}
        raise BackendUnavailable(f"knowledge base answered {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BackendUnavailable(f"knowledge base unreachable: {exc}") from exc


@lru_cache(maxsize=1)
def outbox() -> Any:
    """The durable outbox in front of the ticket backend (created once per action server; creating it
    touches the database, so call it inside :func:`dispatch_call` too)."""
    from dispatch.outbox import Outbox

    return Outbox.from_settings()
