"""The do-not-call list: per kind, never claimed, added by the resident's own "don't call me again"."""

from __future__ import annotations

import pytest

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from tests.campaigns.conftest import NOW, running_campaign


def test_a_number_on_the_list_is_never_claimed_and_goes_to_staff(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 2)
    opted_out = store.list_targets(campaign)[0]["phone"]
    assert store.add_dnc("health_check", "138-0013-0000", NOW, reason="本人来电要求") is True
    assert store.add_dnc("health_check", opted_out, NOW) is False  # already there, in another form
    claims = store.claim_due(NOW, "d1", 10)
    assert [c.phone for c in claims] == [store.list_targets(campaign)[1]["phone"]]
    [entry] = store.list_dnc("health_check")
    assert entry["phone"] == opted_out and entry["reason"] == "本人来电要求"
    assert any(item["state"] == "dnc" and "不再来电" in item["reason"] for item in store.followups(campaign, NOW))


def test_the_list_is_per_kind_and_removable(store: Store, config: CampaignsConfig) -> None:
    store.add_dnc("satisfaction_callback", "13800130000", NOW)
    campaign = running_campaign(store, config, 1)  # a health check: the call-back opt-out does not apply
    assert len(store.claim_due(NOW, "d1", 10)) == 1
    assert store.remove_dnc("satisfaction_callback", "+8613800130000") is True
    assert store.remove_dnc("satisfaction_callback", "+8613800130000") is False
    assert store.list_dnc() == [] and campaign


def test_a_resident_who_opts_out_on_the_call_is_added(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 10)
    slot = store.record_outcome(claim.attempt_id, "dnc", {}, NOW)
    assert slot["state"] == "dnc"
    assert [e["phone"] for e in store.list_dnc("health_check")] == [claim.phone]


def test_bad_kind_or_number_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="kind"):
        store.add_dnc("sales", "13800138000", NOW)
    with pytest.raises(ValueError, match="号码无效"):
        store.add_dnc("notice", "1380013800", NOW)
