"""``/api/campaigns`` (gateway/campaigns_api.py) over the ASGI client, with a real SQLite campaign store in the
test's data dir, and the satisfaction call-back a closed case's status webhook creates (gateway/notifications.py
→ campaigns/callbacks.py) on an app that mounts both blueprints, as the gateway does.

The API's clock is the campaign tests' ``NOW`` (Monday 09:05 Asia/Shanghai, inside the example's window), so a
store used as a dialler would (``claim_due``, ``record_outcome``) produces follow-ups at a known time.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sanic import Sanic

from campaigns.callbacks import ticket_of
from campaigns.config import CampaignsConfig
from campaigns.store import Store
from common import settings
from common.web import staff_token
from dispatch.db import make_engine
from dispatch.signing import signature
from gateway.clients import ClientRegistry
from gateway.identity import IdentityGate
from gateway.notifications import NotificationStore
from gateway.notifications import blueprint as notifications_blueprint
from gateway.sessions import ResidentSessions
from tests.campaigns.apps import campaigns_app, forget, private_data_dir
from tests.campaigns.conftest import NOW, example

SECRET = "test-webhook-secret"
SESSION_KEY = "test-session-key"
GOOD_AND_BAD = "姓名,电话,地址\n张三,138 0013 8000,幸福路1号\n李四,12,幸福路2号\n王五,13800138000,幸福路3号\n"
CALLBACKS = "办结回访"
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from private_data_dir(tmp_path, monkeypatch)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Sanic]:
    made = campaigns_app("campaigns_api")
    notifications = NotificationStore(make_engine(f"sqlite:///{tmp_path}/notifications.sqlite3"))
    made.blueprint(notifications_blueprint(store=notifications, secret=SECRET, recipients=lambda _srid: []))
    made.ctx.identity = IdentityGate(ResidentSessions(SESSION_KEY, 3600), ClientRegistry(tmp_path / "clients", []))
    yield made
    forget(made)


@pytest.fixture
def dialler() -> Iterator[Store]:
    """The same store as the API's, used the way a dialler process would."""
    store = Store(CampaignsConfig.load())
    yield store
    store.close()


def staff() -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token()}"}


async def call(app: Sanic, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
               **kwargs: Any) -> Any:
    headers = staff() if headers is None else headers
    if body is not None:
        kwargs["content"] = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {**headers, "Content-Type": "application/json"}
    _request, response = await getattr(app.asgi_client, method)(path, headers=headers, **kwargs)
    return response


async def created(app: Sanic, **changes: Any) -> int:
    response = await call(app, "post", "/api/campaigns", example(**changes))
    assert response.status == 201, response.text
    return int(response.json["id"])


async def closed_case(app: Sanic, srid: str, phone: str | None) -> Any:
    event = {"event": "status_changed", "service_request_id": srid, "status": "closed", "detailed_status": "closed",
             "status_notes": "已办结", "result": "已清理", "service_name": "排水/污水",
             "updated_datetime": "2026-03-02T09:00:00+08:00", "sender_id": f"resident:{srid}", "channel": "rest",
             "phone": phone}
    data = json.dumps(event, ensure_ascii=False).encode("utf-8")
    response = await call(app, "post", "/hooks/dispatch", headers={
        "Content-Type": "application/json", "X-Dispatch-Signature": signature(data, SECRET)}, content=data)
    assert response.status == 200, response.text
    return response


async def notifications_of(app: Sanic, sender: str) -> list[dict[str, Any]]:
    session = ResidentSessions(SESSION_KEY, 3600).issue(sender)
    response = await call(app, "get", "/api/notifications", headers={"Authorization": f"Bearer {session}"})
    assert response.status == 200, response.text
    return response.json["notifications"]


@pytest.mark.parametrize("method, path", [
    ("get", "/api/campaigns"), ("post", "/api/campaigns"), ("get", "/api/campaigns/1"), ("patch", "/api/campaigns/1"),
    ("post", "/api/campaigns/1/start"), ("post", "/api/campaigns/1/targets"), ("get", "/api/campaigns/1/targets"),
    ("get", "/api/campaigns/1/followups"), ("post", "/api/campaigns/followups/1/done"), ("get", "/api/campaigns/dnc"),
    ("post", "/api/campaigns/dnc"), ("delete", "/api/campaigns/dnc/health_check/13800138000"),
])
async def test_every_route_needs_the_staff_token(app: Sanic, method: str, path: str) -> None:
    resident = ResidentSessions(SESSION_KEY, 3600).issue("resident:1")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {resident}"}):
        response = await call(app, method, path, headers=headers)
        assert response.status == 401 and response.json["error"]["field"] == "authorization"


async def test_create_import_start_follow_up_and_mark_done(app: Sanic, dialler: Store) -> None:
    campaign = await created(app)
    refused = await call(app, "post", f"/api/campaigns/{campaign}/targets",
                         files={"file": ("名单.csv", GOOD_AND_BAD.encode("gbk"), "text/csv")})
    assert refused.status == 422 and refused.json["error"]["code"] == "invalid_rows"
    errors = {(e["row"], e["field"]) for e in refused.json["report"]["errors"]}
    assert errors == {(3, "phone"), (4, "phone")}  # a bad number, and 王五's number repeats 张三's
    assert (await call(app, "get", f"/api/campaigns/{campaign}/targets")).json["count"] == 0  # nothing imported
    imported = await call(app, "post", f"/api/campaigns/{campaign}/targets?valid_only=1&filename=names.csv",
                          content=GOOD_AND_BAD.encode("utf-8"))
    assert imported.status == 201 and imported.json["imported"] == 1 and imported.json["error_count"] == 2
    started = await call(app, "post", f"/api/campaigns/{campaign}/start")
    assert started.status == 200 and started.json["state"] == "running"
    twice = await call(app, "post", f"/api/campaigns/{campaign}/start")
    assert twice.status == 409 and twice.json["error"]["field"] == "state"

    [claim] = dialler.claim_due(NOW, "dialler-1", 10)  # the 09:00 slot; 16:00 is planned, not yet due
    shown = (await call(app, "get", f"/api/campaigns/{quote(example()['name'])}")).json
    assert shown["id"] == campaign and shown["targets"] == 1 and shown["progress"] == {"active": 1, "pending": 1}
    dialler.record_outcome(claim.attempt_id, "answered", {"temperature": {"value": 38.2, "keys": "38*2#"}}, NOW)
    assert (await call(app, "get", f"/api/campaigns/{campaign}")).json["progress"] == {"completed": 1, "pending": 1}

    [item] = (await call(app, "get", f"/api/campaigns/{campaign}/followups")).json["followups"]
    assert item["category"] == "abnormal" and "38.2" in item["reason"] and item["name"] == "张三"
    exported = await call(app, "get", f"/api/campaigns/{campaign}/followups?format=csv")
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel opens it as UTF-8
    header, row = list(csv.reader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert header[:5] == ["编号", "日期", "时段", "姓名", "电话"] and row[3:5] == ["张三", "138 0013 8000"]
    assert row[header.index("类别")] == "异常" and "attachment" in exported.headers["content-disposition"]

    path = f"/api/campaigns/followups/{item['slot_id']}/done"
    assert (await call(app, "post", path, {"note": "已上门"})).json["error"]["field"] == "by"
    done = await call(app, "post", path, {"by": "网格员王五", "note": "已上门"})
    assert done.status == 200 and done.json == {"slot_id": item["slot_id"], "done": True}
    assert (await call(app, "get", f"/api/campaigns/{campaign}/followups")).json["count"] == 0
    listed = (await call(app, "get", f"/api/campaigns/{campaign}/followups?all=1")).json["followups"]
    assert listed[0]["follow_up_done_by"] == "网格员王五"
    missing = await call(app, "post", "/api/campaigns/followups/999/done", {"by": "王五"})
    assert missing.status == 404 and missing.json["error"]["field"] == "slot_id"


async def test_pause_resume_stop_and_list(app: Sanic) -> None:
    campaign = await created(app)
    empty = await call(app, "post", f"/api/campaigns/{campaign}/start")
    assert empty.status == 409 and empty.json["error"]["field"] == "targets"
    await call(app, "post", f"/api/campaigns/{campaign}/targets?filename=a.csv", content=b"name,phone,address\n"
               b"A,13800138000,X\n")
    assert (await call(app, "post", f"/api/campaigns/{campaign}/resume")).status == 409  # a draft is not paused
    for action, state in (("start", "running"), ("pause", "paused"), ("resume", "running"), ("stop", "stopped")):
        response = await call(app, "post", f"/api/campaigns/{campaign}/{action}")
        assert response.status == 200 and response.json["state"] == state
    late = await call(app, "post", f"/api/campaigns/{campaign}/targets?filename=b.csv", content=b"name,phone,address\n"
                      b"B,13800138001,Y\n")
    assert late.status == 409  # a stopped campaign takes no new targets
    [row] = (await call(app, "get", "/api/campaigns")).json["campaigns"]
    assert row["state"] == "stopped" and row["state_label"] == "已结束" and row["targets"] == 1


@pytest.mark.parametrize("body, status, field", [
    (None, 400, "body"),  # invalid JSON (sent raw below)
    ({"kind": "health_check", "schedule": {"times": ["09:00"]}}, 422, "name"),
    ({"name": "x", "kind": "robocall", "schedule": {"times": ["09:00"]}}, 422, "kind"),
    ({"name": "x", "kind": "health_check"}, 422, "schedule"),
    ({"name": "x", "kind": "health_check", "schedule": {"times": ["09:00"], "window": ["20:00", "08:00"]}}, 422,
     "schedule.window"),
    ({"name": "x", "kind": "health_check", "schedule": {"times": ["07:00"]}}, 422, "schedule.times[0]"),
    ({"name": "x", "kind": "health_check", "schedule": {"times": ["09:00"]}, "max_channels": 10_000}, 422,
     "max_channels"),
])
async def test_bad_campaigns_are_refused_naming_the_field(app: Sanic, body: Any, status: int, field: str) -> None:
    if body is None:
        response = await call(app, "post", "/api/campaigns", headers={**staff(), "Content-Type": "application/json"},
                              content=b"{not json")
    else:
        response = await call(app, "post", "/api/campaigns", body)
    assert response.status == status and response.json["error"]["field"] == field, response.text


async def test_duplicate_name_wrong_content_type_and_unknown_campaign(app: Sanic) -> None:
    await created(app)
    again = await call(app, "post", "/api/campaigns", example())
    assert again.status == 409 and again.json["error"]["field"] == "name"
    form = await call(app, "post", "/api/campaigns", headers={**staff(), "Content-Type": "text/plain"}, content=b"x")
    assert form.status == 415 and form.json["error"]["field"] == "content-type"
    for method, path in (("get", "/api/campaigns/42"), ("post", "/api/campaigns/42/start"),
                         ("get", "/api/campaigns/42/followups"), ("get", f"/api/campaigns/{quote('没有这个')}")):
        response = await call(app, method, path)
        assert response.status == 404 and response.json["error"]["field"] == "campaign", path


async def test_bad_uploads_and_query_parameters(app: Sanic, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = await created(app)
    targets = f"/api/campaigns/{campaign}/targets"
    assert (await call(app, "post", targets)).json["error"]["field"] == "file"  # empty body
    no_field = await call(app, "post", targets, files={"list": ("a.csv", b"name,phone\n", "text/csv")})
    assert no_field.status == 400 and no_field.json["error"]["field"] == "file"
    broken = await call(app, "post", f"{targets}?filename=a.xlsx", content=b"PK not a workbook")
    assert broken.status == 422 and broken.json["error"]["code"] == "invalid_file"
    headless = await call(app, "post", f"{targets}?filename=a.csv", content="电话\n13800138000\n".encode())
    assert headless.status == 422 and "姓名" in headless.json["error"]["message"]
    flag = await call(app, "post", f"{targets}?valid_only=maybe&filename=a.csv", content=GOOD_AND_BAD.encode())
    assert flag.status == 400 and flag.json["error"]["field"] == "valid_only"
    followups = f"/api/campaigns/{campaign}/followups"
    assert (await call(app, "get", f"{followups}?day=2026-13-01")).json["error"]["field"] == "day"
    assert (await call(app, "get", f"{followups}?format=xml")).json["error"]["field"] == "format"

    monkeypatch.setenv("GOVBOT__CAMPAIGNS__MAX_IMPORT_BYTES", "20")
    settings.reload()
    big = await call(app, "post", f"{targets}?filename=a.csv", content=GOOD_AND_BAD.encode())
    assert big.status == 413 and big.json["error"]["field"] == "file"


async def test_do_not_call_list(app: Sanic) -> None:
    add = {"kind": "health_check", "phone": "138-0013-8000", "reason": "居民要求"}
    first = await call(app, "post", "/api/campaigns/dnc", add)
    assert first.status == 201 and first.json["added"] is True
    assert (await call(app, "post", "/api/campaigns/dnc", {**add, "phone": 13800138000})).json["added"] is False
    [item] = (await call(app, "get", "/api/campaigns/dnc?kind=health_check")).json["dnc"]
    assert item["phone"] == "+8613800138000" and item["phone_display"] == "138 0013 8000"
    assert item["reason"] == "居民要求"
    assert (await call(app, "get", "/api/campaigns/dnc?kind=notice")).json["count"] == 0
    for body, status, field in (({"kind": "health_check"}, 400, "phone"), ({**add, "kind": "robocall"}, 422, "kind"),
                                ({**add, "phone": "12345"}, 422, "phone")):
        response = await call(app, "post", "/api/campaigns/dnc", body)
        assert response.status == status and response.json["error"]["field"] == field, body
    assert (await call(app, "get", "/api/campaigns/dnc?kind=robocall")).json["error"]["field"] == "kind"
    removed = await call(app, "delete", f"/api/campaigns/dnc/health_check/{quote('+8613800138000')}")
    assert removed.status == 200 and removed.json["removed"] is True
    again = await call(app, "delete", "/api/campaigns/dnc/health_check/13800138000")
    assert again.status == 404 and again.json["error"]["field"] == "phone"


# --- satisfaction call-backs from the status webhook -------------------------------------------------------

async def callback_targets(app: Sanic) -> list[dict[str, Any]]:
    response = await call(app, "get", f"/api/campaigns/{quote(CALLBACKS)}/targets")
    return response.json["targets"] if response.status == 200 else []


async def test_a_closed_case_becomes_one_callback_target(app: Sanic) -> None:
    await closed_case(app, "GB20260302-0001", "138 0013 8000")
    await closed_case(app, "GB20260302-0001", "138 0013 8000")  # the webhook redelivered
    [target] = await callback_targets(app)
    assert target["phone"] == "+8613800138000" and ticket_of(target["notes"]) == "GB20260302-0001"
    shown = (await call(app, "get", f"/api/campaigns/{quote(CALLBACKS)}")).json
    assert shown["kind"] == "satisfaction_callback" and shown["state"] == "running"
    await closed_case(app, "GB20260302-0002", None)  # no number left on the case
    assert len(await callback_targets(app)) == 1
    assert len(await notifications_of(app, "resident:GB20260302-0001")) == 1  # the resident is still told


async def test_a_resident_who_opted_out_gets_no_callback(app: Sanic) -> None:
    opted = {"kind": "satisfaction_callback", "phone": "13900139000", "reason": "不要回访"}
    assert (await call(app, "post", "/api/campaigns/dnc", opted)).status == 201
    await call(app, "post", "/api/campaigns/dnc", {"kind": "health_check", "phone": "13800138000"})  # another kind
    await closed_case(app, "GB20260302-0003", "13900139000")
    await closed_case(app, "GB20260302-0004", "13800138000")
    assert [t["phone"] for t in await callback_targets(app)] == ["+8613800138000"]
    assert len(await notifications_of(app, "resident:GB20260302-0003")) == 1


async def test_a_campaign_store_that_is_down_does_not_stop_the_notification(
        app: Sanic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GOVBOT__CAMPAIGNS__DB_URL", f"sqlite:///{tmp_path}")  # a directory: cannot be opened
    settings.reload()
    response = await closed_case(app, "GB20260302-0005", "13800138000")
    assert response.json["stored"] == 1
    [told] = await notifications_of(app, "resident:GB20260302-0005")
    assert told["kind"] == "closed" and told["rate"] is True
    assert any("call-back for case GB20260302-0005 not recorded" in r.getMessage() for r in caplog.records)
    assert (await call(app, "get", "/api/campaigns")).status == 503


def test_the_gateway_mounts_the_campaigns_api_beside_the_webhook(data_dir: Path) -> None:
    from gateway.app import create_app

    gateway = create_app(f"gateway-campaigns-{next(_names)}")
    try:
        assert {"campaigns", "dispatch_notifications"} <= set(gateway.blueprints)
    finally:
        Sanic._app_registry.pop(gateway.name, None)
