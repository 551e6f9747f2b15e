"""The scale path on the local PostgreSQL: two dialler processes share one campaign with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import pytest
from sqlalchemy import select

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from campaigns.store.schema import slots
from tests.campaigns.conftest import NOW, running_campaign
from tests.campaigns.store.test_claims import run_claimers

RESIDENTS = 120
WAIT_LIMIT_S = 10  # a claim takes milliseconds; this long means it is blocked


@pytest.mark.postgres
def test_two_dialler_processes_never_get_the_same_slot(pg_url: str, config: CampaignsConfig) -> None:
    store = Store(config, pg_url)
    running_campaign(store, config, RESIDENTS, max_channels=config.max_channels_cap)
    outputs = run_claimers(pg_url, ["dialler-a", "dialler-b"])
    claimed = [slot for out in outputs for slot in out]
    assert len(claimed) == RESIDENTS and len(set(claimed)) == RESIDENTS
    assert all(outputs), "both diallers should have worked the campaign"
    with store.engine.connect() as conn:
        states = set(conn.execute(select(slots.c.state).where(slots.c.time == "09:00")).scalars())
    assert states == {"completed"}
    store.close()


@pytest.mark.postgres
def test_a_slot_row_held_by_another_transaction_is_skipped_not_waited_for(pg_url: str,
                                                                         config: CampaignsConfig) -> None:
    store = Store(config, pg_url)
    running_campaign(store, config, 2)
    assert store.claim_due(NOW, "planner", 0) == []  # plans the day, hands out nothing
    with store.engine.connect() as holder, holder.begin():
        held = holder.execute(select(slots.c.id).where(slots.c.time == "09:00").order_by(slots.c.id)
                              .limit(1).with_for_update()).scalar_one()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(store.claim_due, NOW, "d1", 10)
            done, _ = wait([pending], timeout=WAIT_LIMIT_S)  # without SKIP LOCKED it waits for the holder
            holder.rollback()
        assert done, "claim_due waited for a locked slot row"
    claims = pending.result()
    assert [c.slot_id for c in claims] != [] and held not in [c.slot_id for c in claims]
    assert len(store.claim_due(NOW, "d1", 10)) == 1  # the skipped one, now free
    store.close()
