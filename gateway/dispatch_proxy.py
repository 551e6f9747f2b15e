"""The dispatchers' API, relayed by the gateway: the staff console calls only the origin that served it.

Why: ``tickets.html`` used to take the dispatch server's address from ``?api=`` (and remember it), and
sent the staff token there, so a crafted link handed the token to any site. Now the page calls
``/api/dispatch/…`` on the gateway; the gateway checks the staff token itself and forwards to
``base_url("dispatch")`` with the dispatch server's own dispatcher credential (``[dispatch]
dispatcher_token_file``, by default the staff token), which never reaches the browser.

Only the calls the console makes are relayed (the allow-list below): a staff token is not a key to
every route of the dispatch server. Dispatch down or slow → 503 in our JSON error shape, within
``[dispatch] client_timeout_s`` (the timeout of every call from our side to the dispatch backend).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from common import settings
from common.web import ApiError, require_staff
from dispatch.server.config import _staff_token as dispatcher_token

log = logging.getLogger(__name__)
PREFIX = "/api/dispatch"
ACTIONS = "sign|assign|note|escalate|close|reopen"  # dispatch/server/dispatcher.py ticket_action
FORWARDED_HEADERS = ("content-type",)
VIEWS = ("/supervision", "/metrics", "/departments")  # the console's overdue list, dashboard, departments


class DispatchRelay:
    """One HTTP client to the dispatch server for the life of the gateway process."""

    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url, self.token, self.timeout_s = base_url, token, timeout_s
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls) -> DispatchRelay:
        conf = settings.section("dispatch")
        return cls(settings.base_url("dispatch"), dispatcher_token(conf), float(conf["client_timeout_s"]))

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use: it belongs to the server's event loop
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s)
        return self._client

    async def forward(self, request: Request, path: str) -> HTTPResponse:
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        headers["Authorization"] = f"Bearer {self.token}"  # the caller's token was checked; this one is ours
        try:
            upstream = await self.client.request(request.method, PREFIX + path, params=request.query_string or None,
                                                 content=request.body or None, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("dispatch server unreachable for %s %s: %s", request.method, path, exc)
            raise ApiError(503, "dispatch_unavailable", "调度服务暂时不可用，请稍后再试。") from exc
        if upstream.status_code == 401:  # the staff token was right, so ours is not
            log.error("the dispatch server refused the gateway's credential ([dispatch] dispatcher_token_file)")
        return raw(upstream.content, status=upstream.status_code,
                   content_type=upstream.headers.get("content-type", "application/json"))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def blueprint(relay: DispatchRelay | None = None) -> Blueprint:
    """``/api/dispatch/…`` on the gateway, for staff only."""
    relay = relay or DispatchRelay.from_settings()
    bp = Blueprint("dispatch_proxy", url_prefix=PREFIX)

    @bp.after_server_stop
    async def _close(_app: Any) -> None:
        await relay.close()

    @bp.get("/tickets")
    @require_staff
    async def tickets(request: Request) -> HTTPResponse:
        return await relay.forward(request, "/tickets")

    @bp.get("/tickets/<service_request_id>")
    @require_staff
    async def ticket(request: Request, service_request_id: str) -> HTTPResponse:
        return await relay.forward(request, f"/tickets/{_segment(service_request_id)}")

    @bp.post(f"/tickets/<service_request_id>/<action:{ACTIONS}>")
    @require_staff
    async def ticket_action(request: Request, service_request_id: str, action: str) -> HTTPResponse:
        return await relay.forward(request, f"/tickets/{_segment(service_request_id)}/{action}")

    async def view(request: Request) -> HTTPResponse:
        return await relay.forward(request, request.path[len(PREFIX):])

    for path in VIEWS:  # read-only views without parameters: one handler, one route each
        bp.add_route(require_staff(view), path, methods=["GET"], name=path.strip("/"))

    return bp


def _segment(value: str) -> str:
    """A path parameter as one URL segment again (sanic decoded it): no way to climb to another route."""
    return quote(value, safe="")
