"""``GET /api/campaigns/<c>/report`` (gateway/campaigns_api.py): the daily report as JSON and as the CSV staff
open in Excel, over the ASGI client with a real SQLite campaign store in the test's data dir, worked by the
store the way a dialler would."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from sanic import Sanic

from campaigns.store import Store
from campaigns.targets import Target
from common.web import staff_token
from tests.campaigns.apps import api_store, campaigns_app, forget, private_data_dir
from tests.campaigns.conftest import NORMAL, NOW, make_spec


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from private_data_dir(tmp_path, monkeypatch)


@pytest.fixture
def app() -> Iterator[Sanic]:
    made = campaigns_app("campaigns_report_api")
    yield made
    forget(made)


@pytest.fixture
def store() -> Iterator[Store]:
    """The API's store (the same file), used here as operators and a dialler would."""
    yield from api_store()


async def get(app: Sanic, path: str, headers: dict[str, str] | None = None) -> Any:
    auth = {"Authorization": f"Bearer {staff_token()}"} if headers is None else headers
    _request, response = await app.asgi_client.get(path, headers=auth)
    return response


def one_day(store: Store) -> int:
    """Two residents of 东湖社区 at 09:00: one answers normally, one is busy (and the day goes on)."""
    config = store.config
    row = store.create_campaign(make_spec(config, schedule={"times": ["09:00"], "window": ["08:30", "20:00"]}), NOW)
    store.add_targets(row["id"], [Target(row=i + 2, name=name, phone=f"+861390013900{i}", community="东湖社区",
                                         grid="一网格") for i, name in enumerate(("甲", "乙"))], NOW)
    store.set_state(row["id"], "start", NOW)
    for claim, outcome in zip(store.claim_due(NOW, "d1", 2), ("answered", "busy"), strict=True):
        store.mark_dialing(claim.attempt_id, "d1", NOW)
        store.record_outcome(claim.attempt_id, outcome, NORMAL if outcome == "answered" else {}, NOW,
                             dialler_id="d1")
    return int(row["id"])


async def test_the_report_as_json_and_as_csv(app: Sanic, store: Store) -> None:
    campaign = one_day(store)
    shown = await get(app, f"/api/campaigns/{campaign}/report")
    assert shown.status == 200, shown.text
    assert shown.json["day"] == "2026-03-02"  # today in the campaign's zone
    assert {k: shown.json["totals"][k] for k in ("slots", "reached", "normal", "in_progress")} == {
        "slots": 2, "reached": 1, "normal": 1, "in_progress": 1}
    [community] = shown.json["communities"]
    assert community["community"] == "东湖社区" and [g["grid"] for g in community["grids"]] == ["一网格"]
    name = quote(store.get_campaign(campaign)["name"])
    by_name = await get(app, f"/api/campaigns/{name}/report?day=2026-03-02")
    assert by_name.json == shown.json
    exported = await get(app, f"/api/campaigns/{campaign}/report?day=2026-03-02&format=csv")
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.body.startswith(b"\xef\xbb\xbf")
    disposition = exported.headers["content-disposition"]
    assert "attachment" in disposition and "日报-" in unquote(disposition) and "2026-03-02" in disposition
    rows = list(csv.reader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert [row[:4] for row in rows[1:]] == [["2026-03-02", "东湖社区", "一网格", "2"],
                                             ["2026-03-02", "东湖社区", "小计", "2"], ["2026-03-02", "合计", "", "2"]]


async def test_bad_report_requests_name_the_field(app: Sanic, store: Store) -> None:
    campaign = one_day(store)
    assert (await get(app, f"/api/campaigns/{campaign}/report", headers={})).status == 401
    bad_day = await get(app, f"/api/campaigns/{campaign}/report?day=2026-02-30")
    assert bad_day.status == 400 and bad_day.json["error"]["field"] == "day"
    bad_format = await get(app, f"/api/campaigns/{campaign}/report?format=xlsx")
    assert bad_format.status == 400 and bad_format.json["error"]["field"] == "format"
    missing = await get(app, "/api/campaigns/999/report")
    assert missing.status == 404 and missing.json["error"]["field"] == "campaign"
