"""gateway/dispatch_proxy.py between real servers: a sanic app with the proxy blueprint on one port,
the real dispatch server (tests/dispatch/conftest.py) on another.

The dispatch server here only accepts its own dispatcher credential (``STAFF_TOKEN``), which differs from
the gateway's staff token: a relayed call can only work because the gateway adds the credential itself.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from common import settings
from common.net import free_port
from common.web import install_error_handlers, staff_token
from gateway.dispatch_proxy import DispatchRelay, blueprint
from tests.dispatch.conftest import STAFF_TOKEN, backend_for
from tests.support import serving

TIMEOUT_S = 2.0
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir: the gateway's staff token is generated there (not the dispatch server's)."""
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path / "gateway-data"))
    settings.reload()
    yield tmp_path
    settings.reload()


@asynccontextmanager
async def gateway(dispatch_base: str) -> AsyncIterator[httpx.AsyncClient]:
    app = Sanic(f"dispatch_proxy_{next(_names)}")
    app.config.TOUCHUP = False  # several apps in one process
    install_error_handlers(app)
    app.blueprint(blueprint(DispatchRelay(dispatch_base, STAFF_TOKEN, TIMEOUT_S)))
    try:
        async with serving(app) as base:
            async with httpx.AsyncClient(base_url=f"{base}/api/dispatch", timeout=10) as http:
                yield http
    finally:
        Sanic._app_registry.pop(app.name, None)


def staff() -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token()}"}


async def test_staff_calls_are_relayed_with_the_dispatch_servers_own_credential(tmp_path: Path) -> None:
    assert staff_token() != STAFF_TOKEN
    async with backend_for("sqlite", tmp_path) as backend, gateway(backend.base) as http:
        sid = (await backend.report(service_code="noise", address_string="幸福路 1 号", description="半夜施工",
                                    **{"attribute[noise_source]": "construction"})).json()[0]["service_request_id"]
        listed = await http.get("/tickets", params={"status": "submitted", "q": "半夜"}, headers=staff())
        assert listed.status_code == 200, listed.text
        assert [t["service_request_id"] for t in listed.json()["tickets"]] == [sid]
        signed = await http.post(f"/tickets/{sid}/sign", json={}, headers=staff())
        assert signed.status_code == 200 and signed.json()["detailed_status"] == "signed"
        detail = await http.get(f"/tickets/{sid}", headers=staff())
        assert detail.json()["history"][-1]["action"] == "sign"
        for path in ("/departments", "/supervision", "/metrics"):
            assert (await http.get(path, headers=staff())).status_code == 200, path
        missing = await http.get("/tickets/GB20261123-9999", headers=staff())
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "service_request_id"
        # The browser's token alone opens nothing on the dispatch server: the relay's credential did it.
        direct = await backend.http.get("/api/dispatch/tickets", headers=staff())
        assert direct.status_code == 401


async def test_no_staff_token_no_relay(tmp_path: Path) -> None:
    async with gateway(f"http://127.0.0.1:{free_port()}") as http:  # nothing listens there: a relay would be 503
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {STAFF_TOKEN}"}):
            reply = await http.get("/tickets", headers=headers)
            assert reply.status_code == 401 and reply.json()["error"]["field"] == "authorization"


async def test_only_the_consoles_calls_are_relayed(tmp_path: Path) -> None:
    async with backend_for("sqlite", tmp_path) as backend, gateway(backend.base) as http:
        sid = (await backend.report(service_code="noise", address_string="幸福路 1 号", description="半夜施工",
                                    **{"attribute[noise_source]": "construction"})).json()[0]["service_request_id"]
        history = await backend.http.get(f"/api/dispatch/tickets/{sid}/history", headers=backend.staff)
        assert history.status_code == 200  # the dispatch server has the route; the gateway does not relay it
        assert (await http.get(f"/tickets/{sid}/history", headers=staff())).status_code == 404
        assert (await http.post("/sla/scan", headers=staff())).status_code == 404
        assert (await http.post(f"/tickets/{sid}/delete", json={}, headers=staff())).status_code == 404
        # An id that tries to climb to another route stays one path segment on the dispatch server.
        climbed = await http.get("/tickets/..%2Fsupervision", headers=staff())
        assert climbed.status_code == 404 and "error" in climbed.json()


async def test_dispatch_down_is_a_503_in_our_error_shape(tmp_path: Path) -> None:
    async with gateway(f"http://127.0.0.1:{free_port()}") as http:
        reply = await http.get("/tickets", headers=staff())
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "dispatch_unavailable" and "调度服务" in reply.json()["error"]["message"]
