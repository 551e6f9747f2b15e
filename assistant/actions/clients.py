"""How actions reach the knowledge base (HTTP, served by the gateway) and dispatch (Open311 + outbox).

Actions run in the Rasa environment (CPython 3.10); the services they call run in the application
environment. HTTP with the standard library keeps this side free of the app's dependencies, and
every call has a timeout so a slow backend never stalls a conversation.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from functools import lru_cache
from typing import Any

from common import settings

log = logging.getLogger(__name__)


class BackendUnavailable(Exception):
    """The knowledge base or dispatch could not be reached; the action says so to the resident."""


def _timeout() -> float:
    return float(settings.section("actions").get("http_timeout_s", 5.0))


def kb_search(query: str, sender: str | None = None, top: int = 3) -> dict[str, Any]:
    """``{"outcome": "answer"|"clarify"|"none", "results": [...]}`` from the knowledge base."""
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
    """The durable outbox in front of the Open311 backend (created once per action server)."""
    from dispatch.outbox import Outbox

    return Outbox.from_settings()
