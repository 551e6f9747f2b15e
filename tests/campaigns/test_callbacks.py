"""Satisfaction call-backs from closed cases (campaigns/callbacks.py) against a real SQLite store."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from campaigns import callbacks
from campaigns.callbacks import CallbackConfig, add_callback, offer, ticket_of
from campaigns.config import CampaignsConfig
from campaigns.store import Store
from common import settings
from tests.campaigns.conftest import NOW, make_spec

CONF = CallbackConfig.load(dict(settings.load(environ={})["campaigns"]))
BLOCK_TIMEOUT_S = 10  # the blocked store is released long before this; only a broken test waits it out


def closed(srid: str = "GB20260302-0001", phone: Any = "138 0013 8000", **extra: Any) -> dict[str, Any]:
    return {"event": "status_changed", "service_request_id": srid, "status": "closed", "phone": phone,
            "service_name": "排水/污水", **extra}


def test_a_closed_case_creates_the_running_callback_campaign_and_one_target(store: Store) -> None:
    assert add_callback(store, closed(), NOW, CONF) == callbacks.ADDED
    campaign = store.get_campaign(CONF.callback_campaign_name)
    assert campaign["kind"] == "satisfaction_callback" and campaign["state"] == "running"
    assert campaign["spec"]["schedule"]["times"] == list(CONF.callback_times)
    [target] = store.list_targets(campaign["id"])
    assert target["phone"] == "+8613800138000" and target["notes"] == "工单 GB20260302-0001（排水/污水）"
    assert ticket_of(target["notes"]) == "GB20260302-0001"
    assert add_callback(store, closed(), NOW, CONF) == callbacks.ALREADY  # the same case again
    assert add_callback(store, closed("GB20260302-0009"), NOW, CONF) == callbacks.ALREADY  # one call per resident
    assert len(store.list_targets(campaign["id"])) == 1


@pytest.mark.parametrize("event, outcome", [
    (closed(status="open"), callbacks.NOT_CLOSED),
    (closed(phone=None), callbacks.NO_PHONE),
    (closed(phone="12345"), callbacks.BAD_PHONE),
    (closed(phone="4008123123"), callbacks.BAD_PHONE),  # a service number is never rung
])
def test_cases_without_a_callable_resident_add_nothing(store: Store, event: dict[str, Any], outcome: str) -> None:
    assert add_callback(store, event, NOW, CONF) == outcome
    assert store.list_campaigns() == []


def test_a_reporters_number_is_used_when_the_case_has_none(store: Store) -> None:
    event = closed(phone=None, reporters=[{"sender_id": "a"}, {"sender_id": "b", "phone": "010-12345678"}])
    assert add_callback(store, event, NOW, CONF) == callbacks.ADDED
    [target] = store.list_targets(CONF.callback_campaign_name)
    assert target["phone"] == "+861012345678"


def test_an_opt_out_of_callbacks_is_respected_and_other_kinds_do_not_count(store: Store) -> None:
    store.add_dnc("satisfaction_callback", "13800138000", NOW, reason="不要回访")
    store.add_dnc("health_check", "13900139000", NOW)
    assert add_callback(store, closed(), NOW, CONF) == callbacks.OPTED_OUT
    assert add_callback(store, closed("GB2", phone="13900139000"), NOW, CONF) == callbacks.ADDED


def test_a_stopped_or_foreign_campaign_of_that_name_gets_no_targets(store: Store, config: CampaignsConfig) -> None:
    add_callback(store, closed(), NOW, CONF)
    store.set_state(CONF.callback_campaign_name, "stop", NOW)
    assert add_callback(store, closed("GB2", phone="13900139000"), NOW, CONF) == callbacks.STOPPED_CAMPAIGN
    store.create_campaign(make_spec(config, name="健康监测"), NOW)
    other = CallbackConfig.load(dict(settings.load(environ={})["campaigns"]), callback_campaign_name="健康监测")
    assert add_callback(store, closed("GB3", phone="13900139000"), NOW, other) == callbacks.WRONG_KIND
    assert store.list_targets("健康监测") == []


def test_without_autostart_the_campaign_waits_as_a_draft(store: Store) -> None:
    draft = CallbackConfig.load(dict(settings.load(environ={})["campaigns"]), callback_autostart=False)
    assert add_callback(store, closed(), NOW, draft) == callbacks.ADDED
    assert store.get_campaign(draft.callback_campaign_name)["state"] == "draft"


def test_a_concurrent_delivery_that_added_the_resident_first_counts_as_already(store: Store) -> None:
    """The pre-check read nothing, but another delivery's target committed before ours: the store refuses the
    duplicate inside its transaction, and that is the same case arriving twice, not an error."""
    add_callback(store, closed(), NOW, CONF)
    stale = {"reads": 0}
    real = store.existing_phones

    def existing_phones(campaign: int | str) -> set[str]:
        stale["reads"] += 1
        return set() if stale["reads"] == 1 else real(campaign)

    store.existing_phones = existing_phones  # type: ignore[method-assign]
    assert add_callback(store, closed(), NOW, CONF) == callbacks.ALREADY
    assert stale["reads"] == 2


async def test_offer_contains_store_failures_and_masks_the_number(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Store:
        raise RuntimeError("INSERT failed for phone +8613800138000")

    with caplog.at_level(logging.WARNING, logger="campaigns.callbacks"):
        assert await offer(broken, closed(), CONF) is None
    [record] = caplog.records
    assert "GB20260302-0001" in record.getMessage() and "13800138000" not in record.getMessage()
    assert "138****8000" in record.getMessage()


async def test_offer_gives_up_on_a_store_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    released = threading.Event()

    def hanging() -> Store:
        released.wait(BLOCK_TIMEOUT_S)
        raise RuntimeError("released")

    quick = CallbackConfig.load(dict(settings.load(environ={})["campaigns"]), callback_timeout_s=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="campaigns.callbacks"):
            assert await offer(hanging, closed(), quick) is None
    finally:
        released.set()
    assert "TimeoutError" in caplog.records[0].getMessage()  # it gave up waiting; the store never answered


async def test_offer_records_through_the_store(store: Store) -> None:
    assert await offer(lambda: store, closed(), CONF) == callbacks.ADDED
    assert await offer(lambda: store, closed(status="open"), CONF) == callbacks.NOT_CLOSED
    assert [c["name"] for c in store.list_campaigns()] == [CONF.callback_campaign_name]
