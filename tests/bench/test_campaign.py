"""The campaign bench's figures, from a real store whose attempts are recorded by hand.

A resident left without a final state must count as lost, a slot with two answered attempts as duplicated,
and a key sipp pressed whose answer the store does not hold as sent as an answer lost.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from bench.campaign import figures, residents, spec_data
from bench.campaign_residents import BY_DIGIT, behaviour_of
from campaigns.store import Store
from campaigns.store.schema import attempts
from campaigns.validation import parse_spec
from tests.campaigns.conftest import NOW, make_config

CHANNELS = 2
CALL_S = 4.0


def test_the_slot_at_this_minute_is_at_noon_whatever_the_hour() -> None:
    """At 23:59 in the service's zone the bench's campaign was refused (a time at the window's end) and at 23:58
    it had a minute to dial; in its own zone the slot is at noon, hours from either end of the window."""
    config = make_config(ring_timeout_min_s=5)
    midnight = datetime(2026, 12, 4, tzinfo=timezone.utc)
    for minute in range(0, 24 * 60, 7):
        now = midnight + timedelta(minutes=minute)
        schedule = parse_spec(spec_data(CHANNELS, 5, now), config).schedule
        local = now.astimezone(ZoneInfo(schedule.timezone))
        assert local.hour == 12 and schedule.times == (local.strftime("%H:%M"),), (now, schedule)


def test_figures_count_lost_duplicated_and_answers_lost(tmp_path: Path) -> None:
    config = make_config(ring_timeout_min_s=5)
    store = Store(config, f"sqlite:///{tmp_path}/campaigns.sqlite3")
    now = NOW
    spec = parse_spec(spec_data(CHANNELS, 5, now), config)
    campaign_id = int(store.create_campaign(spec, now)["id"])
    people = residents(4)  # digits 0, 0, 1, 2: answers, answers, answers with a fever, busy
    store.add_targets(campaign_id, people, now)
    store.set_state(campaign_id, "start", now)
    claims = store.claim_due(now, "bench", 10)
    assert len(claims) == CHANNELS  # the campaign's channels bound the claim
    by_phone = {claim.phone: claim for claim in claims}
    normal, also_normal = people[0].phone, people[1].phone
    for claim in claims:
        assert store.mark_dialing(claim.attempt_id, "bench", now)
    full = {q: {"value": v, "keys": ""} for q, v in behaviour_of(normal).answers.items()}
    store.record_outcome(by_phone[normal].attempt_id, "answered", full, now + timedelta(seconds=CALL_S),
                         dialler_id="bench")
    partial = dict(list(full.items())[:2])  # the store holds two of the four answers pressed
    store.record_outcome(by_phone[also_normal].attempt_id, "machine", partial, now + timedelta(seconds=CALL_S),
                         dialler_id="bench")
    with store.engine.begin() as conn:  # a second answered attempt in one slot: what the store must never allow
        row = dict(conn.execute(select(attempts).where(attempts.c.id == by_phone[normal].attempt_id)).mappings().one())
        row.pop("id")
        conn.execute(insert(attempts).values({**row, "seq": row["seq"] + 1}))
    pressed = {normal.removeprefix("+86"): [BY_DIGIT["0"].keys], also_normal.removeprefix("+86"): [BY_DIGIT["0"].keys]}
    result = figures(store, campaign_id, argparse.Namespace(channels=CHANNELS, ring_timeout=5, originate_interval=0.2),
                     pressed)
    store.close()
    assert result["residents"] == 4 and result["attempts"] == 3
    assert result["final_states"] == {"completed": 1, "unreachable": 1, "pending": 2}
    assert result["lost"] == 2  # the fever and the busy resident were never called
    assert result["duplicated"] == 1
    assert result["unexpected_outcomes"] == 1  # a resident who answers recorded as an answering machine
    assert result["answers_sent"] == 8 and result["answers_lost"] == 2
    assert result["floor_seconds"] == 3 * CALL_S / CHANNELS
    assert result["seconds"] == CALL_S
