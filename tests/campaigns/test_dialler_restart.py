"""kill -9 the dialler process mid-campaign and start it again: the campaign resumes from the store.

The dialler holds leases on calls in flight when it dies; nothing renews them, so they run out (``lease_s``,
short here) and the store settles them as ``lost`` — used attempts, never redialled at once — while the
restarted process claims the residents not yet called. What must hold: every resident in exactly one final
state, no slot dialled twice, and every answer recorded before the kill still in the store, unchanged.
"""

from __future__ import annotations

import asyncio

import pytest

from campaigns.config import CampaignsConfig
from campaigns.states import DIALING, LOST
from campaigns.store import Store
from tests.campaigns.diallers import (
    all_final,
    attempt_rows,
    dialled_twice,
    sipp,
    stack,
    start_campaign,
    start_dialler,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
RESIDENTS = 30
CHANNELS = 6
LEASE_S = 4.0  # a dead dialler's calls are settled this long after its last renewal
RENEW_S = 1.0  # well below LEASE_S, as in settings
RECORDED_BEFORE_KILL = 3  # kill once this many attempts are recorded and at least one call is in flight
PHASE_S = 60.0
__all__ = ["sipp", "stack"]  # fixtures


def recorded(store: Store, campaign_id: int) -> dict[int, tuple[str, str | None]]:
    """Attempt id → (outcome, answers JSON) of every attempt whose result the store holds."""
    return {row["id"]: (row["outcome"], row["answers"]) for row in attempt_rows(store, campaign_id)
            if row["outcome"] and row["state"] != LOST}


def mid_campaign(store: Store, campaign_id: int) -> bool:
    rows = attempt_rows(store, campaign_id)
    return (len(recorded(store, campaign_id)) >= RECORDED_BEFORE_KILL
            and any(row["state"] == DIALING for row in rows))


async def test_a_dialler_killed_mid_campaign_resumes_without_a_double_call_or_a_lost_answer(
        stack, sipp, pg_url: str) -> None:
    store = Store(CampaignsConfig.load(), pg_url)

    def dialler():
        return start_dialler("dialler-a", stack, pg_url, sipp.sip_port, CHANNELS, lease_s=LEASE_S,
                             dialler_renew_s=RENEW_S)

    first = dialler()
    second = None
    try:
        await asyncio.to_thread(first.wait_ready)
        campaign_id = start_campaign(store, store.config, RESIDENTS, CHANNELS)
        await asyncio.to_thread(first.kill9_when, lambda: mid_campaign(store, campaign_id), PHASE_S,
                                "no moment with results recorded and calls in flight")
        before = recorded(store, campaign_id)
        in_flight = {row["id"] for row in attempt_rows(store, campaign_id) if row["state"] == DIALING}
        second = dialler()
        await asyncio.to_thread(second.wait_ready)
        await asyncio.to_thread(wait_until, lambda: all_final(store, campaign_id, RESIDENTS), PHASE_S,
                                "the campaign did not finish after the restart")
        rows = attempt_rows(store, campaign_id)
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.stop()
        store.close()
    after = {row["id"]: (row["outcome"], row["answers"]) for row in rows}
    assert all(after[attempt] == result for attempt, result in before.items()), "a recorded answer changed"
    assert in_flight and {row["id"] for row in rows if row["state"] == LOST} == in_flight  # the lease path
    assert dialled_twice(rows) == [] and len({row["slot_id"] for row in rows}) == RESIDENTS
    lost_slots = {row["slot_id"] for row in rows if row["id"] in in_flight}
    assert [row for row in rows if row["slot_id"] in lost_slots and row["id"] not in in_flight] == []  # not rung again
