"""Call-back ratings to their cases (campaigns/ratings.py): a real SQLite campaign store, the real outbox and
Open311 client, and the embedded dispatch server as a real process (tests/dispatch/embedded.py) — also down."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from campaigns.callbacks import CallbackConfig, add_callback
from campaigns.ratings import ALREADY_RATED, NO_RATING, PENDING, SENT, RatingConfig, RatingPoster
from campaigns.store import Store
from common import settings
from common.typed_settings import SettingsError
from dispatch.open311_client import Open311Client
from dispatch.outbox import Outbox, TicketDraft, make_engine
from tests.dispatch.embedded import Embedded, wait_for

CALLBACKS = CallbackConfig.load(dict(settings.load(environ={})["campaigns"]))
CAMPAIGNS = dict(settings.load(environ={})["campaigns"])
CALL_AT = datetime(2026, 3, 2, 2, 5, tzinfo=timezone.utc)  # 10:05 Asia/Shanghai: the call-back's first time
DIALLER = "test-dialler"
WAIT_S = 20


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def needs_server() -> None:
    from common.services import APP_PYTHON

    if importlib.util.find_spec("dispatch.server") is None or not APP_PYTHON.exists():
        pytest.skip("the embedded dispatch server is not there")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    needs_server()
    embedded = Embedded(tmp_path_factory.mktemp("dispatch")).start()
    yield embedded
    embedded.stop()


def outbox_for(server: Embedded, tmp_path: Path) -> Outbox:
    conf = {**settings.section("dispatch"), "client_base_url": "", "submit_timeout_s": 5.0, "status_poll": "never"}
    client = Open311Client(server.base_url, server.api_key, "govbot.local", timeout_s=5.0)
    return Outbox(make_engine(f"sqlite:///{tmp_path}/outbox-{uuid.uuid4().hex[:6]}.sqlite3"), client, conf)


def closed_case(server: Embedded, outbox: Outbox, phone: str) -> str:
    receipt = outbox.submit(TicketDraft(service_code="drainage", description="小区门口下水道堵了",
                                        address_string="幸福路 12 号", phone=phone, sender_id="web-r", channel="rest"))
    assert not receipt.provisional, receipt
    for action, body in (("sign", {}), ("assign", {"department": "government"}), ("close", {"result": "已疏通"})):
        server.staff(receipt.reference, action, **body)
    return receipt.reference


def call_back(store: Store, case: str, phone: str, answers: dict[str, Any], outcome: str = "answered",
              at: datetime = CALL_AT) -> dict[str, Any]:
    """The closed case's resident becomes a target, is called and answers; returns the slot as recorded."""
    event = {"service_request_id": case, "status": "closed", "phone": phone, "service_name": "排水"}
    assert add_callback(store, event, at, CALLBACKS) in ("added", "already")
    [claim] = store.claim_due(at, DIALLER, 1)
    assert store.mark_dialing(claim.attempt_id, DIALLER, at)
    return store.record_outcome(claim.attempt_id, outcome, answers, at, dialler_id=DIALLER)


def poster_for(store: Store, outbox: Outbox, clock: Clock) -> RatingPoster:
    return RatingPoster(store, outbox, RatingConfig.load(CAMPAIGNS, rating_retry_base_s=30.0), clock=clock)


def ratings_of(server: Embedded, case: str) -> list[dict[str, Any]]:
    return server.details(case)["ratings"]


@pytest.mark.e2e
def test_a_completed_call_back_rates_its_case_with_the_other_answers_as_comment(
        store: Store, server: Embedded, tmp_path: Path) -> None:
    outbox = outbox_for(server, tmp_path)
    case = closed_case(server, outbox, "13800138001")
    spoken = {"value": "希望处理快一点", "text": "希望处理快一点"}
    slot = call_back(store, case, "13800138001", {"satisfaction": "basic", "resolved": "no", "comment": spoken})
    assert slot["state"] == "completed"
    poster = poster_for(store, outbox, Clock(CALL_AT))
    result = poster.pass_once()
    assert (result.collected, result.sent) == (1, 1)
    [rating] = ratings_of(server, case)
    assert rating["score"] == 3
    assert rating["comment"] == "电话回访：问题已解决：否；意见建议：希望处理快一点"
    [row] = poster.rows()
    assert row["state"] == SENT and row["attempt_id"] == store.attempts_of(slot["id"])[0]["id"]
    again = poster.pass_once()  # nothing new, nothing due: the case is not rated twice
    assert (again.collected, again.sent) == (0, 0) and len(ratings_of(server, case)) == 1


@pytest.mark.e2e
def test_dispatch_down_keeps_the_rating_and_posts_it_when_back(store: Store, tmp_path: Path) -> None:
    needs_server()
    server = Embedded(tmp_path / "dispatch").start()
    try:
        outbox = outbox_for(server, tmp_path)
        case = closed_case(server, outbox, "13800138002")
    finally:
        server.stop()
    call_back(store, case, "13800138002", {"satisfaction": "satisfied", "resolved": "yes"})
    clock = Clock(CALL_AT)
    poster = poster_for(store, outbox, clock)
    down = poster.pass_once()
    assert (down.collected, down.sent, down.unavailable) == (1, 0, 1)
    [row] = poster.rows()
    assert row["state"] == PENDING and row["tries"] == 1 and row["next_at"] == CALL_AT + timedelta(seconds=30)
    clock.now += timedelta(seconds=10)
    assert poster.pass_once().unavailable == 0  # in backoff: not tried again yet
    server.start()
    try:
        clock.now += timedelta(seconds=30)
        assert poster.pass_once().sent == 1
        [rating] = ratings_of(server, case)
        assert rating["score"] == 5 and rating["comment"] == "电话回访：问题已解决：是"
        assert poster.rows()[0]["state"] == SENT
    finally:
        server.stop()


@pytest.mark.e2e
def test_a_case_rated_meanwhile_ends_as_already_rated(store: Store, server: Embedded, tmp_path: Path) -> None:
    outbox = outbox_for(server, tmp_path)
    case = closed_case(server, outbox, "13800138003")
    assert outbox.rate(case, 4, "网上评价")  # the resident rated it in the chat before the call
    call_back(store, case, "13800138003", {"satisfaction": "unsatisfied"})
    poster = poster_for(store, outbox, Clock(CALL_AT))
    result = poster.pass_once()
    assert (result.sent, result.already_rated) == (0, 1)
    assert poster.rows()[0]["state"] == ALREADY_RATED
    assert [r["score"] for r in ratings_of(server, case)] == [4]


class Recording:
    """An outbox stand-in for the tests that never reach the backend (what would have been sent)."""

    def __init__(self) -> None:
        self.backend = self
        self.sent: list[tuple[str, int, str]] = []

    def resolve(self, reference: str) -> str:
        return reference

    def rate(self, srid: str, score: int, comment: str = "") -> None:
        self.sent.append((srid, score, comment))


def test_a_resident_who_rated_and_hung_up_is_rated_once_the_slot_is_settled(store: Store) -> None:
    outbox, clock = Recording(), Clock(CALL_AT)
    poster = poster_for(store, outbox, clock)
    slot = call_back(store, "GB20260302-0007", "13800138004", {"satisfaction": "satisfied"}, outcome="hung_up_early")
    assert slot["state"] == "retry"
    assert poster.pass_once().collected == 0  # the next attempt asks for the rest
    later = CALL_AT + timedelta(hours=1)
    [claim] = store.claim_due(later, DIALLER, 1)
    assert store.mark_dialing(claim.attempt_id, DIALLER, later)
    assert store.record_outcome(claim.attempt_id, "answered", {"resolved": "yes", "comment": "谢谢"}, later,
                                dialler_id=DIALLER)["state"] == "completed"
    clock.now = later
    assert poster.pass_once().sent == 1
    assert outbox.sent == [("GB20260302-0007", 5, "电话回访：问题已解决：是；意见建议：谢谢")]
    first_attempt = store.attempts_of(slot["id"])[0]["id"]
    assert poster.rows()[0]["attempt_id"] == first_attempt  # the attempt whose answer the rating is


def test_a_call_back_without_a_rating_answer_is_never_sent(store: Store) -> None:
    outbox = Recording()
    poster = poster_for(store, outbox, Clock(CALL_AT))
    call_back(store, "GB20260302-0008", "13800138005", {}, outcome="refused")
    call_back(store, "GB20260302-0010", "13800138007", {"satisfaction": "unsatisfied"})
    assert poster.pass_once().collected == 2  # both in one batch
    assert [row["state"] for row in poster.rows()] == [NO_RATING, SENT]
    assert poster.pass_once().collected == 0 and outbox.sent == [("GB20260302-0010", 1, "")]


def test_other_kinds_of_campaign_are_not_rated(store: Store, config: Any) -> None:
    from tests.campaigns.conftest import NOW, running_campaign

    running_campaign(store, config, 1)
    [claim] = store.claim_due(NOW, DIALLER, 1)
    store.mark_dialing(claim.attempt_id, DIALLER, NOW)
    store.record_outcome(claim.attempt_id, "refused", {}, NOW, dialler_id=DIALLER)
    poster = poster_for(store, Recording(), Clock(NOW))
    assert poster.pass_once().collected == 0 and poster.rows() == []


async def test_the_loop_posts_at_once_when_woken(store: Store) -> None:
    outbox = Recording()
    poster = RatingPoster(store, outbox, RatingConfig.load(CAMPAIGNS, rating_poll_s=3600.0), clock=Clock(CALL_AT))
    stop = asyncio.Event()
    loop = asyncio.create_task(poster.run(stop))
    try:
        await asyncio.to_thread(call_back, store, "GB20260302-0009", "13800138006", {"satisfaction": "basic"})
        poster.wake()
        await asyncio.to_thread(wait_for, lambda: outbox.sent, WAIT_S, "the woken rating pass")
        assert outbox.sent == [("GB20260302-0009", 3, "")]
    finally:
        stop.set()
        await asyncio.wait_for(loop, WAIT_S)


@pytest.mark.parametrize("scores", [{}, {"satisfied": 6}, {"satisfied": True}, ["satisfied"]])
def test_bad_rating_scores_fail_at_start(scores: Any) -> None:
    with pytest.raises(SettingsError, match="rating_scores"):
        RatingConfig.load(CAMPAIGNS, rating_scores=scores)


@pytest.mark.postgres
def test_two_posters_on_postgresql_send_each_rating_once(pg_url: str, config: Any) -> None:
    store = Store(config, pg_url)
    try:
        for i in range(3):
            call_back(store, f"GB20260302-01{i:02d}", f"1380013810{i}", {"satisfaction": "satisfied"})
        outbox = Recording()
        first, second = (poster_for(Store(config, pg_url), outbox, Clock(CALL_AT)) for _ in range(2))
        assert first.pass_once().collected == 3
        assert second.pass_once().collected == 0  # already queued (and sent) by the first
        assert sorted(srid for srid, _, _ in outbox.sent) == ["GB20260302-0100", "GB20260302-0101",
                                                             "GB20260302-0102"]
        for poster in (first, second):
            poster.store.close()
    finally:
        store.close()
