"""Lease claims on SQLite: the window, the channel limits, leases that run out, retries and concurrent claimers."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from tests.campaigns.claimer import parse_output
from tests.campaigns.conftest import NOW, ROOT, make_spec, residents, running_campaign


def test_nothing_is_claimed_outside_the_window_or_on_a_blocked_date(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 3, schedule={"times": ["09:00"], "window": ["08:30", "20:00"],
                                                 "blocked_dates": ["2026-03-03"]})
    before_window = NOW.replace(hour=0, minute=0)  # 08:00 local
    assert store.claim_due(before_window, "d1", 10) == []
    blocked_day = NOW + timedelta(days=1)
    assert store.claim_due(blocked_day, "d1", 10) == []
    assert len(store.claim_due(NOW, "d1", 10)) == 3


def test_a_draft_or_paused_campaign_is_not_claimed(store: Store, config: CampaignsConfig) -> None:
    draft = store.create_campaign(make_spec(config), NOW)
    store.add_targets(draft["id"], residents(2), NOW)
    assert store.claim_due(NOW, "d1", 10) == []
    store.set_state(draft["id"], "start", NOW)
    store.set_state(draft["id"], "pause", NOW)
    assert store.claim_due(NOW, "d1", 10) == []
    store.set_state(draft["id"], "resume", NOW)
    assert len(store.claim_due(NOW, "d1", 10)) == 2


def test_campaign_channels_and_the_global_cap_bound_live_attempts(sqlite_url: str) -> None:
    config = CampaignsConfig.load(None, max_channels_cap=5)
    store = Store(config, sqlite_url)
    first = running_campaign(store, config, 10, name="甲", max_channels=3)
    running_campaign(store, config, 10, name="乙", max_channels=4)
    claims = store.claim_due(NOW, "d1", 50)
    per_campaign = [c.campaign_id for c in claims]
    assert per_campaign.count(first) == 3 and len(claims) == 5  # 3 + the 2 the cap leaves for 乙
    assert store.claim_due(NOW, "d2", 50) == []  # every channel is held
    store.mark_dialing(claims[0].attempt_id, "d1", NOW)
    store.record_outcome(claims[0].attempt_id, "answered", {}, NOW, dialler_id="d1")
    again = store.claim_due(NOW, "d2", 50)
    assert len(again) == 1 and again[0].campaign_id == first
    store.close()


def test_an_undialled_lease_that_runs_out_is_handed_out_again(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "dead", 10)
    later = claim.lease_until + timedelta(seconds=1)
    assert store.mark_dialing(claim.attempt_id, "dead", later) is False  # too late to dial on this lease
    [again] = store.claim_due(later, "alive", 10)
    assert again.slot_id == claim.slot_id and again.attempt_number == 1  # nothing was used up
    assert [a["state"] for a in store.attempts_of(claim.slot_id)] == ["released", "claimed"]


def test_a_dialled_lease_that_runs_out_counts_as_used_and_waits_the_no_answer_interval(
        store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "dead", 10)
    assert store.mark_dialing(claim.attempt_id, "dead", NOW)
    after_lease = claim.lease_until + timedelta(seconds=1)
    assert store.claim_due(after_lease, "alive", 10) == []  # never straight away: the call may have gone through
    retry_at = claim.lease_until + timedelta(minutes=make_spec(config).retry.no_answer_interval_minutes)
    [again] = store.claim_due(retry_at, "alive", 10)
    assert again.slot_id == claim.slot_id and again.attempt_number == 2
    assert store.attempts_of(claim.slot_id)[0]["outcome"] == "lost"


def test_a_renewed_lease_holds(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 10)
    store.mark_dialing(claim.attempt_id, "d1", NOW)
    halfway = claim.lease_until - timedelta(seconds=1)
    assert store.renew("d1", [claim.attempt_id], halfway) == [claim.attempt_id]
    assert store.renew("other", [claim.attempt_id], halfway) == []
    assert store.claim_due(claim.lease_until + timedelta(seconds=1), "d2", 10) == []  # still held
    store.record_outcome(claim.attempt_id, "answered", {"cough": "no"}, halfway, dialler_id="d1")
    assert store.slot_answers(claim.slot_id)["cough"]["value"] == "no"


def test_busy_and_no_answer_wait_their_own_intervals(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 2)
    busy, silent = store.claim_due(NOW, "d1", 10)
    spec = make_spec(config)
    assert store.record_outcome(busy.attempt_id, "busy", {}, NOW)["next_at"] == NOW + timedelta(
        minutes=spec.retry.busy_interval_minutes)
    assert store.record_outcome(silent.attempt_id, "no_answer", {}, NOW)["next_at"] == NOW + timedelta(
        minutes=spec.retry.no_answer_interval_minutes)


def test_a_slot_that_exhausts_its_attempts_goes_on_the_follow_up_list(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1)
    spec = make_spec(config)
    now = NOW
    for _ in range(spec.retry.attempts):
        [claim] = store.claim_due(now, "d1", 10)
        slot = store.record_outcome(claim.attempt_id, "no_answer", {}, now)
        now = now + timedelta(minutes=spec.retry.no_answer_interval_minutes)
    assert slot["state"] == "unreachable" and slot["attempts_used"] == spec.retry.attempts
    assert store.claim_due(now, "d1", 10) == []
    [item] = store.followups(campaign, now)
    assert item["category"] == "unreached" and f"{spec.retry.attempts} 次拨打" in item["reason"]


def test_a_retry_past_the_slot_deadline_ends_the_slot(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1, schedule={"times": ["09:00"], "window": ["08:30", "09:20"]})
    [claim] = store.claim_due(NOW, "d1", 10)
    slot = store.record_outcome(claim.attempt_id, "no_answer", {}, NOW)  # +30 min is after 09:20
    assert slot["state"] == "unreachable" and slot["follow_up"]


def test_abnormal_answers_are_flagged_and_listed(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 2)
    fever, well = store.claim_due(NOW, "d1", 10)
    store.record_outcome(fever.attempt_id, "answered", {"temperature": {"value": 38.2, "keys": "38*2#"}}, NOW)
    store.record_outcome(well.attempt_id, "answered", {"temperature": 36.5, "cough": "no"}, NOW)
    [item] = store.followups(campaign, NOW)
    assert item["category"] == "abnormal" and "38.2" in item["reason"] and item["name"] == fever.name
    store.mark_followup_done(item["slot_id"], "网格员王五", NOW, note="已上门")
    assert store.followups(campaign, NOW) == []
    assert store.followups(campaign, NOW, include_done=True)[0]["follow_up_done_by"] == "网格员王五"


def test_answers_the_script_does_not_allow_are_refused_whole(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 10)
    with pytest.raises(ValueError, match=r"answers\.temperature"):
        store.record_outcome(claim.attempt_id, "answered", {"temperature": 99, "cough": "no"}, NOW)
    with pytest.raises(ValueError, match=r"answers\.shoe_size"):
        store.record_outcome(claim.attempt_id, "answered", {"shoe_size": 42}, NOW)
    with pytest.raises(ValueError, match="outcome"):
        store.record_outcome(claim.attempt_id, "lost", {}, NOW)
    assert store.attempts_of(claim.slot_id)[0]["state"] == "claimed"  # nothing stored by the refusals
    store.record_outcome(claim.attempt_id, "answered", {}, NOW)
    with pytest.raises(Exception, match="已结束"):
        store.record_outcome(claim.attempt_id, "answered", {}, NOW)


def test_a_callback_reschedules_without_using_an_attempt(store: Store, config: CampaignsConfig) -> None:
    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, "d1", 10)
    slot = store.record_outcome(claim.attempt_id, "callback", {}, NOW, callback_at=NOW + timedelta(minutes=45))
    assert slot["state"] == "retry" and slot["attempts_used"] == 0 and slot["next_at"] == NOW + timedelta(minutes=45)


def test_starting_twice_or_with_no_targets_is_refused(store: Store, config: CampaignsConfig) -> None:
    row = store.create_campaign(make_spec(config), NOW)
    with pytest.raises(ValueError, match="没有呼叫对象"):
        store.set_state(row["id"], "start", NOW)
    store.add_targets(row["id"], residents(1), NOW)
    store.set_state(row["id"], "start", NOW)
    with pytest.raises(Exception, match="不能启动"):
        store.set_state(row["id"], "start", NOW)


def test_two_claimer_processes_on_sqlite_never_share_an_attempt(store: Store, config: CampaignsConfig,
                                                                sqlite_url: str) -> None:
    running_campaign(store, config, 40, max_channels=config.max_channels_cap)
    outputs = run_claimers(sqlite_url, ["p1", "p2"])
    claimed = [slot for out in outputs for slot in out]
    assert len(claimed) == 40 and len(set(claimed)) == 40


def run_claimers(db_url: str, names: list[str]) -> list[list[int]]:
    """Start one claimer process per name at once; each claims and answers until nothing is due."""
    procs = [subprocess.Popen([sys.executable, "-m", "tests.campaigns.claimer", db_url, name, NOW.isoformat()],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(parse_output(out))
    return outputs
