"""The live counts of a campaign (campaigns/store/report.py ``live_counts``) on a real SQLite store with every
kind of attempt and slot: attempts placed and answered, slots completed, abnormal, unreachable, retrying, and
calls on the line now — over the campaign and per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from campaigns.store import NotFound, Store
from tests.campaigns.conftest import FEVER, NORMAL, NOW, make_config, running_campaign

LATER = NOW + timedelta(minutes=11)  # past the busy retry interval (10 minutes)
LONG_LEASE_S = 3600  # the call on the line still holds its lease at LATER without renewing


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(make_config(lease_s=LONG_LEASE_S), f"sqlite:///{tmp_path}/campaigns.sqlite3")
    yield made
    made.close()


def a_mixed_morning(store: Store) -> int:
    """Six residents, one 09:00 slot each, two attempts at most: 甲 answers normally, 乙 with a fever, 丙 is busy
    twice, 丁 hangs up early (retry), 戊 is on the line now, 己 is claimed but not dialled yet."""
    campaign = running_campaign(store, store.config, 6, schedule={"times": ["09:00"]}, retry={"attempts": 2})
    claims = store.claim_due(NOW, "d1", 6)
    outcomes = [("answered", NORMAL), ("answered", FEVER), ("busy", {}), ("hung_up_early", {})]
    for claim, (outcome, answers) in zip(claims, outcomes, strict=False):
        assert store.mark_dialing(claim.attempt_id, "d1", NOW)
        store.record_outcome(claim.attempt_id, outcome, answers, NOW, dialler_id="d1")
    assert store.mark_dialing(claims[4].attempt_id, "d1", NOW)
    [again] = store.claim_due(LATER, "d1", 6)  # 丙's second call; 丁's retry is not due yet
    assert again.target_id == claims[2].target_id
    assert store.mark_dialing(again.attempt_id, "d1", LATER)
    store.record_outcome(again.attempt_id, "busy", {}, LATER, dialler_id="d1")
    return campaign


def test_every_figure_is_counted_exactly(store: Store) -> None:
    campaign = a_mixed_morning(store)
    expected = {"placed": 6, "answered": 3, "completed": 2, "abnormal": 1, "unreachable": 1, "retrying": 1,
                "on_line": 1}
    assert store.live_counts(campaign, LATER) == expected
    assert store.live_counts(campaign, LATER, day=date(2026, 3, 2)) == expected
    assert set(store.live_counts(campaign, LATER, day=date(2026, 3, 3)).values()) == {0}
    assert store.live_counts(campaign, NOW + timedelta(seconds=LONG_LEASE_S))["on_line"] == 0  # its lease ran out
    assert store.progress(campaign) == {"completed": 2, "unreachable": 1, "retry": 1, "active": 2}


def test_an_unknown_campaign(store: Store) -> None:
    with pytest.raises(NotFound):
        store.live_counts(99, NOW)
