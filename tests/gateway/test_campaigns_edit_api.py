"""``PATCH /api/campaigns/<c>`` and the live ``counts`` of ``GET /api/campaigns/<c>`` (gateway/campaigns_api.py)
over the ASGI client, with a real SQLite campaign store in the test's data dir, worked by the store the way a
dialler would. The API's clock is the campaign tests' ``NOW`` (Monday 09:05 Asia/Shanghai)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sanic import Sanic

from campaigns.store import Store
from common.web import staff_token
from tests.campaigns.apps import api_store, campaigns_app, forget, private_data_dir
from tests.campaigns.conftest import FEVER, NORMAL, NOW, make_spec, residents


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from private_data_dir(tmp_path, monkeypatch)


@pytest.fixture
def app() -> Iterator[Sanic]:
    made = campaigns_app("campaigns_edit_api")
    yield made
    forget(made)


@pytest.fixture
def store() -> Iterator[Store]:
    """The API's store (the same file), used here as a dialler would."""
    yield from api_store()


async def call(app: Sanic, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
               **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {staff_token()}"} if headers is None else headers
    if body is not None:
        kwargs["content"] = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {**headers, "Content-Type": "application/json"}
    _request, response = await getattr(app.asgi_client, method)(path, headers=headers, **kwargs)
    return response


def a_started_campaign(store: Store, targets: int = 3) -> int:
    row = store.create_campaign(make_spec(store.config), NOW)
    store.add_targets(row["id"], residents(targets), NOW)
    store.set_state(row["id"], "start", NOW)
    return int(row["id"])


async def test_a_partial_edit_returns_the_new_view(app: Sanic, store: Store) -> None:
    campaign = a_started_campaign(store)
    before = (await call(app, "get", f"/api/campaigns/{campaign}")).json
    edited = await call(app, "patch", f"/api/campaigns/{campaign}", {
        "name": "东湖社区健康监测（复查）", "schedule": {"times": ["10:00", "16:00"]}, "retry": {"attempts": 2},
        "updated_at": before["updated_at"]})
    assert edited.status == 200, edited.text
    view = edited.json
    assert view["name"] == "东湖社区健康监测（复查）" and view["state"] == "running" and view["targets"] == 3
    assert view["spec"]["schedule"]["times"] == ["10:00", "16:00"] and view["spec"]["retry"]["attempts"] == 2
    assert view["spec"]["schedule"]["window"] == before["spec"]["schedule"]["window"]
    assert view["updated_at"] != before["updated_at"] and "counts" in view and "progress" in view
    by_name = await call(app, "get", f"/api/campaigns/{quote(view['name'])}")
    assert by_name.json["spec"] == view["spec"]
    stale = await call(app, "patch", f"/api/campaigns/{campaign}", {"max_channels": 2,
                                                                   "updated_at": before["updated_at"]})
    assert stale.status == 409 and stale.json["error"] == {
        "code": "edit_conflict", "field": "updated_at", "message": stale.json["error"]["message"]}
    assert "重新载入" in stale.json["error"]["message"]
    assert store.get_campaign(campaign)["spec"]["max_channels"] == before["spec"]["max_channels"]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"schedule": {"window": ["20:00", "08:00"]}}, 422, "schedule.window"),
    ({"max_channels": 10_000}, 422, "max_channels"),
    ({"kind": "notice"}, 422, "kind"),
    ({"targets": 5}, 422, "targets"),
    ({}, 422, "body"),
    ({"max_channels": 2, "updated_at": "yesterday"}, 400, "updated_at"),
    ({"max_channels": 2, "updated_at": "2026-03-02T01:05:00"}, 400, "updated_at"),  # no zone: not ours
])
async def test_a_bad_edit_names_the_field(app: Sanic, store: Store, body: dict[str, Any], status: int,
                                          field: str) -> None:
    campaign = a_started_campaign(store)
    response = await call(app, "patch", f"/api/campaigns/{campaign}", body)
    assert response.status == status and response.json["error"]["field"] == field, response.text


async def test_edits_that_results_forbid_are_409(app: Sanic, store: Store) -> None:
    campaign = a_started_campaign(store, targets=1)
    [claim] = store.claim_due(NOW, "d1", 1)
    store.mark_dialing(claim.attempt_id, "d1", NOW)
    store.record_outcome(claim.attempt_id, "answered", NORMAL, NOW, dialler_id="d1")
    questions = store.get_campaign(campaign)["spec"]["script"]
    removed = await call(app, "patch", f"/api/campaigns/{campaign}", {"script": questions[1:], "abnormal": []})
    assert removed.status == 409 and removed.json["error"]["code"] == "edit_refused"
    assert removed.json["error"]["field"] == "script" and "temperature" in removed.json["error"]["message"]
    reworded = [{**questions[0], "text": "请说出您今天的体温。"}, *questions[1:]]
    assert (await call(app, "patch", f"/api/campaigns/{campaign}", {"script": reworded})).status == 200
    assert (await call(app, "post", f"/api/campaigns/{campaign}/stop")).status == 200
    stopped = await call(app, "patch", f"/api/campaigns/{campaign}", {"max_channels": 2})
    assert stopped.status == 409 and stopped.json["error"]["field"] == "state"
    other = store.create_campaign(make_spec(store.config, name="西湖社区居家健康监测"), NOW)
    taken = await call(app, "patch", f"/api/campaigns/{other['id']}", {"name": store.get_campaign(campaign)["name"]})
    assert taken.status == 409 and taken.json["error"]["field"] == "name"


async def test_unknown_campaign_no_token_and_not_json(app: Sanic) -> None:
    missing = await call(app, "patch", "/api/campaigns/42", {"max_channels": 2})
    assert missing.status == 404 and missing.json["error"]["field"] == "campaign"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = await call(app, "patch", "/api/campaigns/42", {"max_channels": 2}, headers=headers)
        assert refused.status == 401
    form = await call(app, "patch", "/api/campaigns/42", headers={"Authorization": f"Bearer {staff_token()}",
                                                                  "Content-Type": "text/plain"}, content=b"x")
    assert form.status == 415


async def test_the_view_counts_exactly(app: Sanic, store: Store) -> None:
    campaign = a_started_campaign(store)
    claims = store.claim_due(NOW, "d1", 3)
    for claim, (outcome, answers) in zip(claims, [("answered", FEVER), ("busy", {})], strict=False):
        store.mark_dialing(claim.attempt_id, "d1", NOW)
        store.record_outcome(claim.attempt_id, outcome, answers, NOW, dialler_id="d1")
    store.mark_dialing(claims[2].attempt_id, "d1", NOW)
    view = (await call(app, "get", f"/api/campaigns/{campaign}")).json
    assert view["counts"] == {"placed": 3, "answered": 1, "completed": 1, "abnormal": 1, "unreachable": 0,
                              "retrying": 1, "on_line": 1}
    assert view["counts_day"] is None
    today = (await call(app, "get", f"/api/campaigns/{campaign}?day=2026-03-02")).json
    assert today["counts"] == view["counts"] and today["counts_day"] == "2026-03-02"
    tomorrow = (await call(app, "get", f"/api/campaigns/{campaign}?day=2026-03-03")).json
    assert set(tomorrow["counts"].values()) == {0}
    bad = await call(app, "get", f"/api/campaigns/{campaign}?day=03-02")
    assert bad.status == 400 and bad.json["error"]["field"] == "day"
