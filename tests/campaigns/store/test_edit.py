"""Editing a campaign (campaigns/store/campaigns.py ``update_campaign``, campaigns/store/edits.py) on a real
SQLite store, and once on the local PostgreSQL: field-by-field changes validated like a new campaign, the rules
that keep recorded answers and calls on the line meaningful, today's slots after a schedule change, and two
edits at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.config import CampaignsConfig
from campaigns.states import TransitionError
from campaigns.store import DuplicateName, EditConflict, EditRefused, Store
from campaigns.store.schema import slots
from campaigns.validation import SpecError
from tests.campaigns.conftest import NOW, make_spec, running_campaign

DAY = date(2026, 3, 2)
NORMAL = {"temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}
SHANGHAI_NOON_UTC = datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)  # 12:00 Asia/Shanghai


def script(store: Store, campaign: int) -> list[dict[str, Any]]:
    return [dict(question) for question in store.get_campaign(campaign)["spec"]["script"]]


def slot_rows(store: Store, campaign: int) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        query = select(slots).where(slots.c.campaign_id == campaign).order_by(slots.c.time, slots.c.target_id)
        return [dict(row) for row in conn.execute(query).mappings()]


def call(store: Store, outcome: str, answers: dict[str, Any] | None = None, at: datetime = NOW) -> None:
    """One due attempt dialled and recorded with ``outcome``."""
    [claim] = store.claim_due(at, "d1", 1)
    assert store.mark_dialing(claim.attempt_id, "d1", at)
    store.record_outcome(claim.attempt_id, outcome, answers or {}, at, dialler_id="d1")


def test_a_campaign_is_edited_field_by_field(store: Store, config: CampaignsConfig) -> None:
    row = store.create_campaign(make_spec(config), NOW)
    changes = {"name": "东湖社区健康监测（第二周）", "opening": "您好，这里是东湖社区。",
               "schedule": {"times": ["10:00"]}, "retry": {"attempts": 5}, "max_channels": 3, "ring_timeout_s": 20,
               "caller_id": "01012345678",
               "kind": "health_check",  # the same kind again (a whole file sent back) is no change
               "abnormal": [{"question": "temperature", "op": ">=", "value": 37.5}]}
    edited = store.update_campaign(row["id"], changes, NOW)
    spec = edited["spec"]
    assert edited["name"] == spec["name"] == "东湖社区健康监测（第二周）"
    assert spec["schedule"]["times"] == ["10:00"] and spec["schedule"]["window"] == ["08:30", "20:00"]  # merged
    assert spec["retry"]["attempts"] == 5 and spec["retry"]["busy_interval_minutes"] == 10  # merged
    assert (spec["max_channels"], spec["ring_timeout_s"], spec["caller_id"]) == (3, 20, "01012345678")
    assert spec["abnormal"] == [{"question": "temperature", "op": ">=", "value": 37.5}]
    assert spec["opening"] == "您好，这里是东湖社区。" and spec["kind"] == "health_check"
    assert edited["updated_at"] > row["updated_at"]  # the version moves even within one clock tick
    assert store.get_campaign("东湖社区健康监测（第二周）")["id"] == row["id"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"kind": "notice"}, "kind"),
    ({"opt_out_key": "8"}, "opt_out_key"),
    ({"state": "running"}, "state"),
    ({}, "body"),
    ({"retry": None}, "retry"),
    ({"schedule": {"window": ["20:00", "08:00"]}}, "schedule.window"),
    ({"schedule": {"times": ["07:00"]}}, "schedule.times[0]"),
    ({"max_channels": 999}, "max_channels"),
    ({"script": [{"id": "cough", "text": "咳嗽吗？", "type": "yes_no", "keys": {"1": "yes", "2": "no"}}]},
     "abnormal[0].question"),  # the rule still names the temperature question the new script dropped
])
def test_an_invalid_edit_names_the_field_and_changes_nothing(store: Store, config: CampaignsConfig,
                                                             changes: dict[str, Any], field: str) -> None:
    row = store.create_campaign(make_spec(config), NOW)
    with pytest.raises(SpecError) as refused:
        store.update_campaign(row["id"], changes, NOW)
    assert refused.value.field == field
    assert store.get_campaign(row["id"]) == row


def test_another_campaigns_name_and_a_stopped_campaign_are_refused(store: Store, config: CampaignsConfig) -> None:
    first = store.create_campaign(make_spec(config), NOW)
    second = store.create_campaign(make_spec(config, name="西湖社区居家健康监测"), NOW)
    with pytest.raises(DuplicateName):
        store.update_campaign(second["id"], {"name": first["name"]}, NOW)
    store.set_state(second["id"], "stop", NOW)
    with pytest.raises(TransitionError) as stopped:
        store.update_campaign(second["id"], {"max_channels": 2}, NOW)
    assert stopped.value.code == "campaign_state" and "已结束" in stopped.value.message


def test_an_edit_based_on_an_old_version_is_refused(store: Store, config: CampaignsConfig) -> None:
    row = store.create_campaign(make_spec(config), NOW)
    first = store.update_campaign(row["id"], {"max_channels": 2}, NOW, expected_updated_at=row["updated_at"])
    with pytest.raises(EditConflict, match="updated_at"):
        store.update_campaign(row["id"], {"max_channels": 7}, NOW, expected_updated_at=row["updated_at"])
    assert store.get_campaign(row["id"])["spec"]["max_channels"] == 2
    store.update_campaign(row["id"], {"max_channels": 7}, NOW, expected_updated_at=first["updated_at"])
    assert store.get_campaign(row["id"])["spec"]["max_channels"] == 7


def test_questions_with_recorded_answers_stay_but_may_be_reworded(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1)
    call(store, "answered", NORMAL)
    questions = script(store, campaign)
    with pytest.raises(EditRefused) as removed:
        store.update_campaign(campaign, {"script": questions[:3],
                                         "abnormal": store.get_campaign(campaign)["spec"]["abnormal"][:3]}, NOW)
    assert removed.value.field == "script" and "needs" in removed.value.message
    retyped = [*questions[:1], {**questions[1], "type": "free", "keys": {}}, *questions[2:]]
    with pytest.raises(EditRefused) as typed:
        store.update_campaign(campaign, {"script": retyped, "abnormal": []}, NOW)
    assert typed.value.field == "script[1].type" and "cough" in typed.value.message
    sleep = {"id": "sleep", "label": "睡眠", "text": "昨晚睡得好吗？好请按1，不好请按2。", "type": "yes_no",
             "keys": {"1": "yes", "2": "no"}}
    cough = {**questions[1], "text": "今天咳嗽吗？咳请按1，不咳请按2。", "keys": {"3": "yes", "4": "no"}}
    reworded = [*questions[:1], cough, *questions[2:], sleep]
    store.update_campaign(campaign, {"script": reworded}, NOW)
    assert [q["id"] for q in script(store, campaign)][-1] == "sleep"
    assert script(store, campaign)[1]["text"].startswith("今天咳嗽吗")
    store.update_campaign(campaign, {"script": reworded[:-1]}, NOW)  # never answered: may go again
    assert [q["id"] for q in script(store, campaign)] == ["temperature", "cough", "other_symptoms", "needs"]


def test_a_call_on_the_line_keeps_what_its_questions_accept(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 1)
    assert store.mark_dialing(claim.attempt_id, "d1", NOW)
    questions = script(store, campaign)
    narrower = [{**questions[0], "max": 40.0}, *questions[1:]]
    with pytest.raises(EditRefused) as narrowed:
        store.update_campaign(campaign, {"script": narrower}, NOW)
    assert narrowed.value.field == "script[0]" and "正在进行" in narrowed.value.message
    wider = [{**questions[0], "max": 45.0, "text": "请说出您的体温。"}, *questions[1:]]
    store.update_campaign(campaign, {"script": wider}, NOW)  # widened and reworded: the call's answers still fit
    store.record_outcome(claim.attempt_id, "answered", {**NORMAL, "temperature": 44.0}, NOW, dialler_id="d1")
    store.update_campaign(campaign, {"script": narrower}, NOW)  # nobody on the line now, and the type is kept
    assert script(store, campaign)[0]["max"] == 40.0


def test_a_removed_daily_time_cancels_todays_pending_slots_and_calls_on_the_line_finish(
        store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 3, max_channels=1)  # 09:00 and 16:00 daily
    [claim] = store.claim_due(NOW, "d1", 10)  # 09:00 of the first resident; the day is planned
    assert store.mark_dialing(claim.attempt_id, "d1", NOW)
    store.update_campaign(campaign, {"schedule": {"times": ["12:00", "16:00"]}}, NOW)
    morning = [s for s in slot_rows(store, campaign) if s["time"] == "09:00"]
    assert [(s["target_id"] == claim.target_id, s["state"]) for s in morning] == [
        (True, "active"), (False, "cancelled"), (False, "cancelled")]
    assert morning[0]["deadline_at"] == SHANGHAI_NOON_UTC  # its retries end when the new 12:00 call is due
    store.record_outcome(claim.attempt_id, "busy", {}, NOW, dialler_id="d1")
    assert store.claim_due(NOW, "d1", 10) == []  # the retry is not due yet; plans today's new time
    by_time = {time: sorted(s["state"] for s in slot_rows(store, campaign) if s["time"] == time)
               for time in ("09:00", "12:00", "16:00")}
    assert by_time == {"09:00": ["cancelled", "cancelled", "retry"], "12:00": ["pending"] * 3,
                       "16:00": ["pending"] * 3}
    assert store.claim_due(SHANGHAI_NOON_UTC, "d1", 10)[0].time == "12:00"  # the 09:00 retry ran out first


def test_fewer_attempts_end_a_slot_that_used_them_all(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1, schedule={"times": ["09:00"]})
    call(store, "busy")
    store.update_campaign(campaign, {"retry": {"attempts": 1}}, NOW)
    [slot] = slot_rows(store, campaign)
    assert slot["state"] == "unreachable" and "1 次拨打均未完成" in slot["follow_up"]
    assert [f["slot_id"] for f in store.followups(campaign, NOW)] == [slot["id"]]
    assert store.claim_due(NOW + timedelta(minutes=11), "d1", 10) == []  # not called a second time


def test_a_kind_called_once_keeps_its_pending_slot(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1, kind="notice", opening="明天上午停水，请提前储水。", abnormal=[],
                                script=[{"id": "heard", "text": "听清了请按1，没听清请按2。", "type": "yes_no",
                                         "keys": {"1": "yes", "2": "no"}}])
    assert store.claim_due(NOW, "planner", 0) == []  # plans the one call: today's 09:00
    store.update_campaign(campaign, {"schedule": {"times": ["16:00"]}}, NOW)
    [slot] = slot_rows(store, campaign)
    assert (slot["time"], slot["state"]) == ("09:00", "pending")  # cancelled, the resident would never be told
    assert len(store.claim_due(NOW, "d1", 10)) == 1


def edit_race(url: str, config: CampaignsConfig) -> list[str]:
    """Two editors (two stores, as two API processes) save at once from the same version: what each got."""
    stores = [Store(config, url) for _ in range(2)]
    try:
        row = stores[0].create_campaign(make_spec(config), NOW)
        together = threading.Barrier(2)

        def save(store: Store, channels: int) -> str:
            together.wait()
            try:
                store.update_campaign(row["id"], {"max_channels": channels}, NOW,
                                      expected_updated_at=row["updated_at"])
            except EditConflict:
                return "conflict"
            return f"saved {channels}"

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(save, stores, [2, 3]))
        saved = stores[0].get_campaign(row["id"])["spec"]["max_channels"]
        assert f"saved {saved}" in results
        return sorted(result.split()[0] for result in results)
    finally:
        for store in stores:
            store.close()


def test_two_edits_at_once_one_is_refused(sqlite_url: str, config: CampaignsConfig) -> None:
    assert edit_race(sqlite_url, config) == ["conflict", "saved"]


@pytest.mark.postgres
def test_two_edits_at_once_on_postgresql_one_is_refused(pg_url: str, config: CampaignsConfig) -> None:
    assert edit_race(pg_url, config) == ["conflict", "saved"]
    store = Store(config, pg_url)
    try:  # and the schedule rules on PostgreSQL: a removed time's pending slots are cancelled
        campaign = running_campaign(store, config, 2, name="西湖社区居家健康监测")
        assert store.claim_due(NOW, "planner", 0) == []
        store.update_campaign(campaign, {"schedule": {"times": ["16:00"]}}, NOW)
        states = {(s["time"], s["state"]) for s in slot_rows(store, campaign)}
        assert states == {("09:00", "cancelled"), ("16:00", "pending")}
    finally:
        store.close()
