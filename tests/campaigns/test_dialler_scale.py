"""Two dialler processes on PostgreSQL work one health-check campaign through the real Asterisk and sipp residents.

What must hold (issue 12, scale-out): every resident ends in exactly one final state, no slot is dialled twice,
each resident's outcome is the one its behaviour produces, the answers the residents pressed are all stored,
and both processes placed calls (their leases are in the store under their names).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bench.campaign import figures
from campaigns.config import CampaignsConfig
from campaigns.store import Store
from tests.campaigns.diallers import (
    all_final,
    attempt_rows,
    bench_args,
    dialled_twice,
    sipp,
    stack,
    start_campaign,
    start_dialler,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
RESIDENTS = 40
CHANNELS = 6  # per dialler; the campaign allows both together
FINISH_S = 60.0
__all__ = ["sipp", "stack"]  # fixtures


async def test_two_dialler_processes_share_one_campaign_without_a_double_call(stack, sipp, pg_url: str) -> None:
    store = Store(CampaignsConfig.load(), pg_url)
    diallers = [start_dialler(name, stack, pg_url, sipp.sip_port, CHANNELS) for name in ("dialler-a", "dialler-b")]
    try:
        for dialler in diallers:
            await asyncio.to_thread(dialler.wait_ready)
        campaign_id = start_campaign(store, store.config, RESIDENTS, 2 * CHANNELS)
        await asyncio.to_thread(wait_until, lambda: all_final(store, campaign_id, RESIDENTS), FINISH_S,
                                "the campaign did not finish")
        rows = attempt_rows(store, campaign_id)
        result = figures(store, campaign_id, bench_args(2 * CHANNELS), sipp.pressed())
    finally:
        for dialler in diallers:
            dialler.stop()
        store.close()
    assert result["lost"] == 0 and result["duplicated"] == 0 and dialled_twice(rows) == []
    assert len(rows) == RESIDENTS and result["unexpected_outcomes"] == 0, result["outcomes"]
    assert result["answers_sent"] > 0 and result["answers_lost"] == 0
    by_dialler = Counter(row["dialler_id"] for row in rows)
    assert set(by_dialler) == {"dialler-a", "dialler-b"}, by_dialler
