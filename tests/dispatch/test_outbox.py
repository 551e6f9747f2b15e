"""The durable outbox against real HTTP peers: a GeoReport v2 server that is up, down, slow, failing or
refusing, a drain process killed mid-way, and PostgreSQL. Runs in both environments:

    PYTHONPATH=. .venv-app/bin/python -m pytest tests/dispatch/test_outbox.py
    PYTHONPATH=. .venv-rasa/bin/python -m pytest tests/dispatch/test_outbox.py
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common import settings
from dispatch.open311_client import Open311Client, Open311Rejected
from dispatch.outbox import Outbox, TicketDraft, engine_url, is_provisional, make_engine
from tests.dispatch.embedded import Embedded, wait_for
from tests.dispatch.open311_peer import Peer

ROOT = settings.ROOT
PG_URL = os.environ.get("GOVBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres")


class Clock:
    """A clock the test moves (backoff is measured in it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def conf(**overrides: Any) -> dict[str, Any]:
    base = settings.section("dispatch")
    base.update(submit_timeout_s=0.5, client_timeout_s=2.0, outbox_workers=2, outbox_batch=100,
                outbox_backoff_base_s=2.0, outbox_backoff_max_s=60.0, outbox_claim_s=30.0,
                client_base_url="http://peer", status_poll="never", client_contact_filter="true")
    base.update(overrides)
    return base


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_outbox(url: str, base_url: str, clock: Clock | None = None, **overrides: Any) -> Outbox:
    client = Open311Client(base_url, "peer-key", "govbot.local", timeout_s=2.0)
    kwargs: dict[str, Any] = {"rng": lambda: 1.0}
    if clock is not None:
        kwargs["clock"] = clock
    return Outbox(make_engine(url), client, conf(**overrides), **kwargs)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/outbox.sqlite3"


def draft(**kwargs: Any) -> TicketDraft:
    values: dict[str, Any] = {"service_code": "noise", "description": "楼下 KTV 每晚吵到两点",
                              "address_string": "幸福路 12 号", "phone": "138-0013-8000", "sender_id": "web-1",
                              "channel": "rest", "transcript": "居民：楼下太吵了"}
    values.update(kwargs)
    return TicketDraft(**values)


# -- submit ---------------------------------------------------------------------------------------------------------


def test_submit_with_backend_up_gives_the_real_number(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    receipt = outbox.submit(draft())
    assert not receipt.provisional and receipt.reference == "GB000001"
    assert receipt.expected_datetime and receipt.service_name == "噪音扰民"
    form = peer.tickets["GB000001"]["_form"]
    assert form["phone"] == ["13800138000"] and form["sender_id"] == ["web-1"] and form["channel"] == ["rest"]
    assert form["transcript"] == ["居民：楼下太吵了"] and form["idempotency_key"][0]
    assert outbox.status("GB000001")["status"] == "open"


def test_backend_down_gives_a_provisional_reference_that_resolves(db_url: str, peer: Peer, clock: Clock) -> None:
    peer.stop()
    outbox = make_outbox(db_url, peer.base_url, clock)
    receipt = outbox.submit(draft())
    assert receipt.provisional and is_provisional(receipt.reference) and receipt.service_name == "噪音扰民"
    pending = outbox.status(receipt.reference)
    assert pending["status"] == "pending" and pending["provisional"] and "正在提交" in pending["status_notes"]
    assert outbox.resolve(receipt.reference) is None
    assert outbox.rate(receipt.reference, 5) is False  # nothing to rate yet
    assert outbox.cases_for(sender_id="web-1")[0]["reference"] == receipt.reference

    peer.start()
    assert outbox.drain().sent == 0  # still in backoff
    clock.now += 2.0
    assert outbox.drain().sent == 1
    assert outbox.resolve(receipt.reference) == "GB000001"
    resolved = outbox.status(receipt.reference)
    assert resolved["reference"] == "GB000001" and not resolved["provisional"] and resolved["status"] == "open"
    assert len(peer.tickets) == 1


def test_slow_backend_answer_lost_then_original_ticket_returned(db_url: str, peer: Peer, clock: Clock) -> None:
    outbox = make_outbox(db_url, peer.base_url, clock)
    outbox.backend._definition("noise", None)  # the service definition is fetched once; this test is about the POST
    peer.delay_s = 1.0  # creates the ticket, answers after the 0.5 s submit timeout
    receipt = outbox.submit(draft())
    assert receipt.provisional
    peer.delay_s = 0.0
    clock.now += 10
    assert outbox.drain().sent == 1
    assert len(peer.tickets) == 1 and peer.replays == 1 and peer.posts == 2
    assert outbox.resolve(receipt.reference) == "GB000001"


def test_500_backs_off_exponentially_and_then_sends(db_url: str, peer: Peer, clock: Clock) -> None:
    peer.mode = "500"
    outbox = make_outbox(db_url, peer.base_url, clock)
    reference = outbox.submit(draft()).reference
    waits = []
    for _ in range(7):
        row = next(iter(outbox.rows()))
        waits.append(round(row["next_attempt_at"] - clock.now))
        clock.now = row["next_attempt_at"]
        assert outbox.drain().unavailable == 1
    assert waits == [2, 4, 8, 16, 32, 60, 60]  # base 2 s, doubled, capped at 60 s (jitter pinned to 1)
    peer.mode = "ok"
    clock.now = next(iter(outbox.rows()))["next_attempt_at"]
    assert outbox.drain().sent == 1 and outbox.resolve(reference) == "GB000001"


def test_a_success_makes_waiting_tickets_due_at_once(db_url: str, peer: Peer, clock: Clock) -> None:
    peer.stop()
    outbox = make_outbox(db_url, peer.base_url, clock)
    first = outbox.submit(draft())
    for _ in range(4):  # the first ticket's backoff grows to 32 s
        clock.now = next(iter(outbox.rows()))["next_attempt_at"]
        outbox.drain()
    second = outbox.submit(draft(description="路灯不亮", service_code="road"))
    peer.start()
    clock.now += 2  # only the second is due; the first waits in its backoff until the second gets through
    assert outbox.drain().sent == 1
    assert outbox.drain().sent == 1
    assert outbox.resolve(first.reference) and outbox.resolve(second.reference)


def test_4xx_on_submit_raises_and_is_never_retried(db_url: str, peer: Peer, clock: Clock) -> None:
    peer.mode = "400"
    outbox = make_outbox(db_url, peer.base_url, clock)
    with pytest.raises(Open311Rejected):
        outbox.submit(draft())
    row = next(iter(outbox.rows()))
    assert row["state"] == "rejected" and "缺少必填属性" in row["last_error"]
    status = outbox.status(row["reference"])
    assert status["status"] == "rejected" and "12345" in status["status_notes"]
    peer.mode = "ok"
    clock.now += 3600
    posts = [r for r in peer.requests if r[0] == "POST"]
    assert outbox.drain().claimed == 0 and len(posts) == 1  # refused once, never sent again


def test_4xx_while_draining_marks_rejected(db_url: str, peer: Peer, clock: Clock) -> None:
    outbox = make_outbox(db_url, peer.base_url, clock)
    outbox.enqueue(draft(service_code="nope"))
    assert outbox.drain().rejected == 1 and outbox.pending_count() == 0


def test_same_idempotency_key_is_one_ticket(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    first = outbox.submit(draft(idempotency_key="conv-1:complaint"))
    again = outbox.submit(draft(idempotency_key="conv-1:complaint"))
    assert first.reference == again.reference == "GB000001"
    assert len(list(outbox.rows())) == 1 and len(peer.tickets) == 1


def test_drafts_are_validated_before_storing(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    for bad in (draft(service_code=""), draft(address_string=""), draft(lat=31.2), draft(lat=91, long=0,
                                                                                          address_string="")):
        with pytest.raises(ValueError):
            outbox.submit(bad)
    assert list(outbox.rows()) == [] and peer.posts == 0
    outbox.submit(draft(description="很" * 5000))
    assert len(peer.tickets["GB000001"]["_form"]["description"][0]) == 4000


def test_batch_server_token_resolves_later(db_url: str, peer: Peer, clock: Clock) -> None:
    peer.batch = True
    outbox = make_outbox(db_url, peer.base_url, clock)
    receipt = outbox.submit(draft())
    assert receipt.provisional and outbox.status(receipt.reference)["status"] == "pending"
    clock.now += 2
    assert outbox.drain().unavailable == 1  # token not assigned yet
    peer.tokens["TGB000001"] = "GB000001"
    clock.now += 10
    assert outbox.drain().sent == 1 and outbox.resolve(receipt.reference) == "GB000001"


# -- reading --------------------------------------------------------------------------------------------------------


def test_cases_rating_and_unknown_numbers(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    mine = outbox.submit(draft()).reference
    other = Outbox(outbox.engine, Open311Client(f"http://127.0.0.1:{closed_port()}/x"), conf())
    queued = other.submit(draft(phone="+86 138 0013 8000", sender_id="voice-9")).reference
    by_phone = {c["reference"] for c in outbox.cases_for(phone="13800138000")}
    assert by_phone == {mine, queued}
    assert [c["reference"] for c in outbox.cases_for(sender_id="web-1")] == [mine]
    assert outbox.cases_for() == []
    assert outbox.status("GB999999") is None and outbox.status("TMP-20200101-FFFF") is None
    peer.close(mine, "已协调 KTV 限时营业")
    closed = outbox.status(mine)
    assert closed["status"] == "closed" and closed["status_notes"] == "已协调 KTV 限时营业"
    assert outbox.rate(mine, 4, "还可以") and peer.ratings[-1]["score"] == 4
    assert outbox.rate(mine, 6) is False and outbox.rate(mine, 0) is False


def test_status_falls_back_to_the_last_known_state(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    reference = outbox.submit(draft()).reference
    peer.stop()
    assert outbox.status(reference)["status"] == "open"


def test_polling_reports_each_change_once(db_url: str, peer: Peer) -> None:
    outbox = make_outbox(db_url, peer.base_url)
    reference = outbox.submit(draft()).reference
    events: list[dict[str, Any]] = []
    assert outbox.poll_statuses(events.append) == 0
    peer.close(reference, "已处理")
    assert outbox.poll_statuses(events.append) == 1
    assert outbox.poll_statuses(events.append) == 0
    assert events[0]["service_request_id"] == reference and events[0]["status"] == "closed"
    assert events[0]["sender_id"] == "web-1" and events[0]["status_notes"] == "已处理"

    def broken(_event: dict[str, Any]) -> None:
        raise OSError("gateway down")

    second = outbox.submit(draft()).reference
    peer.close(second, "已处理")
    assert outbox.poll_statuses(broken) == 0
    assert outbox.poll_statuses(events.append) == 1  # retried, not lost


def test_engine_url_picks_the_installed_driver() -> None:
    import importlib.util

    url = engine_url("postgresql://u@127.0.0.1/db")
    if importlib.util.find_spec("psycopg") and not url.endswith("psycopg2://u@127.0.0.1/db"):
        assert url == "postgresql+psycopg://u@127.0.0.1/db"
    else:
        assert url == "postgresql+psycopg2://u@127.0.0.1/db"
    assert engine_url("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"


# -- crash and restart ----------------------------------------------------------------------------------------------


def drainer(db_url: str, base_url: str, api_key: str, data_dir: Path) -> subprocess.Popen[bytes]:
    """``python -m dispatch.outbox drain`` in this environment's Python, as the "outbox" service runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVBOT__PATHS__DATA_DIR": str(data_dir),
           "GOVBOT__DISPATCH__OUTBOX_DB_URL": db_url, "GOVBOT__DISPATCH__CLIENT_BASE_URL": base_url,
           "GOVBOT__DISPATCH__CLIENT_API_KEY": api_key, "GOVBOT__DISPATCH__OUTBOX_CLAIM_S": "2",
           "GOVBOT__DISPATCH__OUTBOX_BATCH": "10", "GOVBOT__DISPATCH__STATUS_POLL": "never",
           "GOVBOT__DISPATCH__OUTBOX_BACKOFF_BASE_S": "0.2"}
    return subprocess.Popen([sys.executable, "-m", "dispatch.outbox", "drain"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_and_restart(db_url: str, base_url: str, api_key: str, data_dir: Path, n: int,
                     started: Any, outbox: Outbox) -> set[str]:
    """Queue n tickets, start a drainer, SIGKILL it once ``started()``, restart it until the queue is
    empty. Returns the idempotency keys queued."""
    keys = set()
    for i in range(n):
        key = f"{uuid.uuid4().hex}-{i}"
        keys.add(key)
        outbox.enqueue(draft(idempotency_key=key, description=f"第 {i} 件：井盖缺失", service_code="drainage",
                             address_string=f"{i} 号楼", lat=30 + i * 0.01, long=120.0, sender_id=f"kill-{n}"))
    first = drainer(db_url, base_url, api_key, data_dir)
    try:
        wait_for(started, 60, "the first drainer to get going")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert outbox.pending_count() > 0, "the drainer finished before it was killed"
        second = drainer(db_url, base_url, api_key, data_dir)
        try:
            wait_for(lambda: outbox.pending_count() == 0, 120, "the queue to empty")
        finally:
            second.terminate()
            assert second.wait(10) == 0, second.stderr.read().decode() if second.stderr else ""
    finally:
        if first.poll() is None:
            first.kill()
    return keys


def test_killed_drainer_loses_nothing_and_duplicates_nothing(tmp_path: Path, db_url: str, peer: Peer) -> None:
    n = 60
    outbox = make_outbox(db_url, peer.base_url)
    peer.delay_s = 0.05  # each ticket is created, then answered 50 ms later: a kill lands in between
    keys = kill_and_restart(db_url, peer.base_url, peer.api_key, tmp_path, n, lambda: peer.posts >= n // 3, outbox)
    rows = list(outbox.rows())
    assert len(rows) == n and len(peer.tickets) == n and set(peer.by_key) == keys
    assert all(r["state"] == "sent" and r["service_request_id"] == peer.by_key[r["idempotency_key"]] for r in rows)
    assert peer.replays >= 1  # a ticket created before the kill was sent again and answered with the original


# -- PostgreSQL -----------------------------------------------------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"outbox_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_engine(engine_url(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, no driver
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_postgresql_store(pg_url: str, peer: Peer, clock: Clock) -> None:
    peer.stop()
    outbox = make_outbox(pg_url, peer.base_url, clock)
    receipt = outbox.submit(draft(idempotency_key="pg-1"))
    assert receipt.provisional and outbox.submit(draft(idempotency_key="pg-1")).reference == receipt.reference
    peer.start()
    clock.now += 5
    assert outbox.drain().sent == 1 and outbox.resolve(receipt.reference) == "GB000001"
    assert [c["reference"] for c in outbox.cases_for(phone="13800138000")] == ["GB000001"]
    outbox.engine.dispose()


# -- the embedded server (dispatch.server, run by the application environment's Python) -------------------------


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    import importlib.util

    from common.services import APP_PYTHON

    if importlib.util.find_spec("dispatch.server") is None or not APP_PYTHON.exists():
        pytest.skip("the embedded dispatch server is not there")
    server = Embedded(tmp_path_factory.mktemp("embedded")).start()
    yield server
    server.stop()


def embedded_outbox(db_url: str, server: Embedded, clock: Clock | None = None) -> Outbox:
    client = Open311Client(server.base_url, server.api_key, "govbot.local", timeout_s=10.0)
    return Outbox(make_engine(db_url), client, conf(client_base_url="", submit_timeout_s=5.0),
                  **({"clock": clock} if clock else {}))


@pytest.mark.e2e
def test_embedded_submit_status_cases_and_rating(db_url: str, embedded: Embedded) -> None:
    outbox = embedded_outbox(db_url, embedded)
    sender = f"web-{uuid.uuid4().hex[:8]}"
    receipt = outbox.submit(draft(service_code="policy", description="请问居住证怎么办理", sender_id=sender,
                                  phone="13900139000"))
    assert not receipt.provisional and receipt.reference.startswith("GB"), receipt
    assert receipt.expected_datetime and receipt.service_name
    again = outbox.submit(draft(service_code="policy", description="请问居住证怎么办理", sender_id=sender,
                                idempotency_key=next(iter(outbox.rows()))["idempotency_key"]))
    assert again.reference == receipt.reference
    assert outbox.status(receipt.reference)["status"] == "open"
    assert [c["reference"] for c in outbox.cases_for(sender_id=sender)] == [receipt.reference]
    assert receipt.reference in {c["reference"] for c in outbox.cases_for(phone="139-0013-9000")}
    assert outbox.rate(receipt.reference, 5) is False  # not closed yet: the server refuses
    for action, body in (("sign", {}), ("assign", {"department": "government"}),
                         ("close", {"result": "已电话告知办理流程"})):
        embedded.staff(receipt.reference, action, **body)
    closed = outbox.status(receipt.reference)
    assert closed["status"] == "closed"
    assert outbox.rate(receipt.reference, 5, "很满意") is True


@pytest.mark.e2e
def test_embedded_down_then_back(tmp_path: Path, db_url: str, clock: Clock) -> None:
    import importlib.util

    if importlib.util.find_spec("dispatch.server") is None:
        pytest.skip("the embedded dispatch server is not there")
    server = Embedded(tmp_path / "server")
    outbox = embedded_outbox(db_url, server, clock)
    sender = f"down-{uuid.uuid4().hex[:8]}"
    receipt = outbox.submit(draft(service_code="drainage", description="小区门口下水道堵了", sender_id=sender))
    assert receipt.provisional
    server.start()
    try:
        clock.now += 5
        assert outbox.drain().sent == 1
        status = outbox.status(receipt.reference)
        assert status["reference"].startswith("GB") and status["status"] == "open" and not status["provisional"]
        assert len(outbox.backend.client.get_requests(sender_id=sender)) == 1
    finally:
        server.stop()


@pytest.mark.e2e
def test_embedded_killed_drainer(tmp_path: Path, db_url: str, embedded: Embedded) -> None:
    n = 40
    outbox = embedded_outbox(db_url, embedded)
    sent_before_kill = lambda: len(outbox.backend.client.get_requests(sender_id=f"kill-{n}")) >= n // 4  # noqa: E731
    keys = kill_and_restart(db_url, embedded.base_url, embedded.api_key, tmp_path, n, sent_before_kill, outbox)
    on_server = outbox.backend.client.get_requests(sender_id=f"kill-{n}")
    rows = list(outbox.rows())
    assert len(keys) == n and len(rows) == n and all(r["state"] == "sent" for r in rows)
    assert len(on_server) == n  # the server deduplicated every re-sent ticket by its idempotency key
    assert {r["service_request_id"] for r in rows} == {t["service_request_id"] for t in on_server}
