"""Kinds called once (satisfaction call-backs, notices): one slot per target in all, not one per day."""

from __future__ import annotations

from datetime import timedelta

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from tests.campaigns.conftest import NOW, residents, running_campaign

TIMES = {"times": ["09:00", "16:00"], "window": ["08:30", "20:00"]}


def _slots(store: Store, campaign_id: int) -> list[tuple[int, str, str]]:
    from sqlalchemy import select

    from campaigns.store.schema import slots

    with store._tx() as conn:
        query = select(slots.c.target_id, slots.c.day, slots.c.time).where(slots.c.campaign_id == campaign_id)
        return sorted((row[0], row[1].isoformat(), row[2]) for row in conn.execute(query))


def test_a_callback_target_gets_one_slot_and_is_not_planned_again_next_day(store: Store,
                                                                           config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 2, kind="satisfaction_callback", schedule=TIMES)
    claims = store.claim_due(NOW, "d1", 10)
    assert len(claims) == 2 and {c.time for c in claims} == {"09:00"}  # the next time only, not 16:00 too
    for claim in claims:
        store.mark_dialing(claim.attempt_id, "d1", NOW)
        store.record_outcome(claim.attempt_id, "answered", {}, NOW, dialler_id="d1")
    tomorrow = NOW + timedelta(days=1)
    assert store.claim_due(tomorrow, "d1", 10) == []
    assert len(_slots(store, campaign)) == 2


def test_a_callback_target_added_later_gets_its_own_single_slot(store: Store, config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1, kind="satisfaction_callback", schedule=TIMES)
    store.claim_due(NOW, "d1", 10)
    store.add_targets(campaign, [residents(2)[1]], NOW)
    tomorrow = NOW + timedelta(days=1)
    store.claim_due(tomorrow, "d1", 10)
    planned = _slots(store, campaign)
    assert [t for t, _day, _time in planned].count(planned[0][0]) == 1  # the first target: still one slot
    assert len(planned) == 2


def test_a_health_check_target_is_still_planned_every_day_at_every_time(store: Store,
                                                                        config: CampaignsConfig) -> None:
    campaign = running_campaign(store, config, 1, schedule=TIMES)
    store.claim_due(NOW, "d1", 10)
    store.claim_due(NOW + timedelta(days=1), "d1", 10)
    days = {day for _t, day, _time in _slots(store, campaign)}
    assert len(days) == 2 and len(_slots(store, campaign)) == 4  # both times, both days
