"""Status webhook in, per-resident notifications out (gateway/notifications.py), over the ASGI client,
plus the outbox poller's signed POST against the blueprint served on a real port. Notifications are read
with the resident's own session (or a trusted client's credential), as the gateway's identity gate says."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from sanic import Sanic

from common.net import free_port
from common.web import install_error_handlers
from dispatch.db import make_engine
from dispatch.signing import signature
from gateway.clients import ClientRegistry
from gateway.identity import IdentityGate
from gateway.notifications import NotificationStore, blueprint, message
from gateway.sessions import ResidentSessions

SECRET = "test-webhook-secret"
SESSION_KEY = "test-session-key"
_names = itertools.count(1)


def event(**overrides: Any) -> dict[str, Any]:
    body = {"event": "status_changed", "service_request_id": "GB20261123-0007", "status": "closed",
            "detailed_status": "closed", "status_notes": "已办结", "result": "已清理堵塞的下水道。",
            "service_name": "排水/污水", "updated_datetime": "2026-11-23T10:00:00+08:00",
            "sender_id": "resident:web-1", "channel": "rest", "phone": "13800138000"}
    body.update(overrides)
    return body


def make_app(tmp_path: Path, lookup: Any = None) -> Sanic:
    app = Sanic(f"notifications_{next(_names)}")
    app.config.TOUCHUP = False
    store = NotificationStore(make_engine(f"sqlite:///{tmp_path}/notifications.sqlite3"))
    app.blueprint(blueprint(store=store, secret=SECRET, recipients=lookup or (lambda _srid: [])))
    install_error_handlers(app)
    app.ctx.identity = IdentityGate(ResidentSessions(SESSION_KEY, 3600), ClientRegistry(tmp_path / "clients",
                                                                                         ["phone"]))
    return app


def session(sender: str) -> dict[str, str]:
    """The resident's own credential, as the gateway issued it on their first chat."""
    return {"Authorization": f"Bearer {ResidentSessions(SESSION_KEY, 3600).issue(sender)}"}


async def read(app: Sanic, headers: dict[str, str], **params: str) -> Any:
    app.asgi_client.cookies.clear()
    _request, response = await app.asgi_client.get("/api/notifications", params=params, headers=headers)
    return response


async def post(app: Sanic, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json",
               **({"X-Dispatch-Signature": signature(data, SECRET)} if headers is None else headers)}
    _request, response = await app.asgi_client.post("/hooks/dispatch", content=data, headers=headers)
    return response


async def take(app: Sanic, sender: str) -> list[dict[str, Any]]:
    response = await read(app, session(sender))
    assert response.status == 200, response.text
    return response.json["notifications"]


async def test_closed_case_notifies_once_with_rating_invitation(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    response = await post(app, event())
    assert response.status == 200 and response.json == {"stored": 1, "recipients": 1}
    assert (await post(app, event())).json["stored"] == 0  # the webhook retried: stored once
    items = await take(app, "resident:web-1")
    assert [i["text"] for i in items] == [
        "您的工单 GB20261123-0007 已办结：已清理堵塞的下水道。请对处理结果评价（1-5分）。"]
    assert items[0]["rate"] is True and items[0]["service_request_id"] == "GB20261123-0007"
    assert await take(app, "resident:web-1") == []  # delivered once
    assert await take(app, "resident:someone-else") == []


async def test_progress_and_silent_events(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    await post(app, event(status="open", detailed_status="assigned", status_notes="已派至区水务局", result=None))
    await post(app, event(status="open", detailed_status="signed", status_notes="", result=None))
    items = await take(app, "resident:web-1")
    assert [(i["kind"], i["text"]) for i in items] == [
        ("progress", "您的工单 GB20261123-0007 有新进展：已派至区水务局。")]


async def test_bearer_secret_is_accepted_and_bad_credentials_are_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    data_headers = {"Authorization": f"Bearer {SECRET}"}
    assert (await post(app, event(), data_headers)).status == 200
    assert (await post(app, event(), {})).status == 401
    assert (await post(app, event(), {"Authorization": "Bearer wrong"})).status == 401
    assert (await post(app, event(), {"X-Dispatch-Signature": "sha256=00"})).status == 401
    response = await post(app, {"status": "closed"})
    assert response.status == 400 and response.json["error"]["field"] == "service_request_id"


async def test_recipients_from_the_event_list_or_the_outbox(tmp_path: Path) -> None:
    looked_up: list[str] = []

    def lookup(srid: str) -> list[dict[str, str]]:
        looked_up.append(srid)
        return [{"sender_id": "resident:voice-2", "channel": "voice"}]

    app = make_app(tmp_path, lookup)
    await post(app, event(sender_id=None, reporters=[{"sender_id": "resident:web-3"},
                                                     {"sender_id": "resident:web-4"}]))
    assert looked_up == []
    await post(app, event(service_request_id="GB2", sender_id=None))
    assert looked_up == ["GB2"]
    assert [len(await take(app, s)) for s in ("resident:web-3", "resident:web-4", "resident:voice-2")] == [1, 1, 1]


async def test_no_credential_reads_nothing_and_consumes_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    await post(app, event())
    for params in ({}, {"sender": "resident:web-1"}):
        response = await read(app, {}, **params)
        assert response.status == 401 and response.json["error"]["field"] == "authorization"
    forged = await read(app, {"Authorization": "Bearer " + session("resident:web-1")["Authorization"][-20:]})
    assert forged.status == 401
    assert len(await take(app, "resident:web-1")) == 1  # still there for its owner


async def test_another_residents_session_cannot_read_or_consume(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    await post(app, event())
    mallory = session("resident:mallory")
    refused = await read(app, mallory, sender="resident:web-1")
    assert refused.status == 403 and refused.json["error"]["field"] == "sender"
    own = await read(app, mallory)
    assert own.status == 200 and own.json["notifications"] == []  # her own: none
    assert len(await take(app, "resident:web-1")) == 1


async def test_a_trusted_client_reads_its_own_namespace_only(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    await post(app, event(sender_id="phone:c-1"))
    await post(app, event(service_request_id="GB2"))  # a web resident's
    phone = {"Authorization": f"Bearer {(tmp_path / 'clients' / 'phone').read_text().strip()}"}
    assert (await read(app, phone)).status == 400  # a client must say which of its callers
    mine = await read(app, phone, sender="c-1")
    assert [n["service_request_id"] for n in mine.json["notifications"]] == ["GB20261123-0007"]
    theirs = await read(app, phone, sender="resident:web-1")  # read as phone:resident:web-1: nobody's
    assert theirs.status == 200 and theirs.json["notifications"] == []
    assert len(await take(app, "resident:web-1")) == 1


def test_message_texts() -> None:
    assert message(event(result="", status_notes="")) == (
        "closed", "您的工单 GB20261123-0007 已办结，请对处理结果评价（1-5分）。")
    assert message(event(status="open", status_notes="")) is None


async def test_outbox_poller_posts_a_signed_event_the_gateway_accepts(tmp_path: Path, monkeypatch: Any) -> None:
    """The outbox's notify() (urllib, HMAC, secret file) against the blueprint served on a real port."""
    from common import settings
    from dispatch.open311_client import Open311Client
    from dispatch.outbox import Outbox

    port = free_port()
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    settings.reload()
    try:
        secret = settings.read_or_create_secret(settings.section("dispatch")["webhook_secret_file"])
        app = Sanic(f"notifications_{next(_names)}")
        app.config.TOUCHUP = False
        store = NotificationStore(make_engine(f"sqlite:///{tmp_path}/n.sqlite3"))
        app.blueprint(blueprint(store=store, secret=secret, recipients=lambda _srid: []))
        conf = {**settings.section("dispatch"), "notify_url": f"http://127.0.0.1:{port}/hooks/dispatch",
                "outbox_db_url": f"sqlite:///{tmp_path}/o.sqlite3"}
        outbox = Outbox(make_engine(conf["outbox_db_url"]), Open311Client("http://127.0.0.1:9/x"), conf)
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            await asyncio.to_thread(outbox.notify, event(sender_id="cli-7"))
        finally:
            await server.before_stop()
            await server.close()
            await server.after_stop()
    finally:
        monkeypatch.undo()
        settings.reload()
    assert [i["kind"] for i in store.take("cli-7")] == ["closed"]


@pytest.fixture(autouse=True)
def _forget_apps() -> Any:
    yield
    Sanic._app_registry.clear()
