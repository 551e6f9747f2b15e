"""The daily report (campaigns/store/report.py) on a real SQLite store: every way a day's call ends, counted
by community and grid, and the CSV staff open in Excel (campaigns/export.py)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from campaigns import export
from campaigns.config import CampaignsConfig
from campaigns.store import NotFound, Store
from campaigns.targets import Target
from tests.campaigns.conftest import FEVER, NORMAL, NOW, make_spec

DAY = date(2026, 3, 2)
AFTER_WINDOW = NOW + timedelta(hours=11)  # 20:05 local: the day's only slot is over
# name → (community, grid); the order is the order they are claimed in
RESIDENTS = {"甲": ("东湖社区", "一网格"), "乙": ("东湖社区", "一网格"), "丙": ("东湖社区", "二网格"),
             "丁": ("西湖社区", ""), "戊": ("西湖社区", "三网格"), "己": ("西湖社区", "三网格")}


def day_of_calls(store: Store, config: CampaignsConfig) -> int:
    """One 09:00 slot each: 甲 normal, 乙 fever, 丙 opts out on the call, 丁 busy (then the day ends), 戊 never
    called, 己 on the do-not-call list before the day was planned."""
    row = store.create_campaign(make_spec(config, schedule={"times": ["09:00"], "window": ["08:30", "20:00"]}), NOW)
    targets = [Target(row=i + 2, name=name, phone=f"+86139001390{i:02d}", address=f"幸福路{i}号", community=c, grid=g)
               for i, (name, (c, g)) in enumerate(RESIDENTS.items())]
    store.add_targets(row["id"], targets, NOW)
    store.add_dnc("health_check", "13900139005", NOW)
    store.set_state(row["id"], "start", NOW)
    claims = store.claim_due(NOW, "d1", 4)
    for claim, (outcome, answers) in zip(claims, [("answered", NORMAL), ("answered", FEVER), ("dnc", {}),
                                                  ("busy", {})], strict=True):
        store.mark_dialing(claim.attempt_id, "d1", NOW)
        store.record_outcome(claim.attempt_id, outcome, answers, NOW, dialler_id="d1")
    return int(row["id"])


def test_the_day_is_counted_by_community_and_grid(store: Store, config: CampaignsConfig) -> None:
    campaign = day_of_calls(store, config)
    report = store.daily_report(campaign, AFTER_WINDOW)
    assert report["day"] == "2026-03-02" and report["campaign"]["id"] == campaign
    totals = report["totals"]
    assert {k: totals[k] for k in ("slots", "residents", "reached", "normal", "abnormal", "unreachable",
                                    "opted_out", "not_called", "in_progress")} == {
        "slots": 6, "residents": 6, "reached": 3, "normal": 1, "abnormal": 1, "unreachable": 1, "opted_out": 2,
        "not_called": 1, "in_progress": 0}
    east, west = report["communities"]
    assert (east["community"], east["reached"], east["opted_out"]) == ("东湖社区", 3, 1)
    assert [(g["grid"], g["slots"], g["normal"], g["abnormal"]) for g in east["grids"]] == [
        ("一网格", 2, 1, 1), ("二网格", 1, 0, 0)]
    assert (west["community"], west["reached"], west["unreachable"], west["not_called"], west["opted_out"]) == (
        "西湖社区", 0, 1, 1, 1)
    assert [(g["grid"], g["slots"]) for g in west["grids"]] == [("", 1), ("三网格", 2)]


def test_during_the_day_open_calls_are_in_progress(store: Store, config: CampaignsConfig) -> None:
    campaign = day_of_calls(store, config)
    totals = store.daily_report(campaign, NOW)["totals"]  # default day: today in the campaign's zone
    assert (totals["in_progress"], totals["unreachable"], totals["not_called"], totals["reached"]) == (2, 0, 0, 3)


def test_a_day_without_calls_and_an_unknown_campaign(store: Store, config: CampaignsConfig) -> None:
    campaign = day_of_calls(store, config)
    empty = store.daily_report(campaign, AFTER_WINDOW, day=DAY - timedelta(days=1))
    assert empty["communities"] == [] and empty["totals"]["slots"] == 0
    with pytest.raises(NotFound):
        store.daily_report(999, NOW)


def test_the_csv_has_a_row_per_grid_a_subtotal_per_community_and_the_total(store: Store,
                                                                          config: CampaignsConfig) -> None:
    report = store.daily_report(day_of_calls(store, config), AFTER_WINDOW)
    text = export.report_csv(report)
    assert text.startswith(export.CSV_BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(export.CSV_BOM))))
    header = rows[0]
    assert header[:6] == ["日期", "社区", "网格", "时段数", "人数", "已接通"]
    places = [(row[1], row[2]) for row in rows[1:]]
    assert places == [("东湖社区", "一网格"), ("东湖社区", "二网格"), ("东湖社区", "小计"), ("西湖社区", "未填写"),
                      ("西湖社区", "三网格"), ("西湖社区", "小计"), ("合计", "")]
    total = dict(zip(header, rows[-1], strict=True))
    counts = [total[label] for label in ("时段数", "异常", "未接通", "免打扰", "未拨打")]
    assert counts == ["6", "1", "1", "2", "1"]


def test_a_community_named_like_a_formula_stays_text(store: Store, config: CampaignsConfig) -> None:
    row = store.create_campaign(make_spec(config), NOW)
    store.add_targets(row["id"], [Target(row=2, name="甲", phone="+8613900139000", community="=1+1")], NOW)
    store.set_state(row["id"], "start", NOW)
    store.claim_due(NOW, "d1", 0)  # plans the day
    rows = list(csv.reader(io.StringIO(export.report_csv(store.daily_report(row["id"], NOW), bom=False))))
    assert rows[1][1] == "'=1+1"
