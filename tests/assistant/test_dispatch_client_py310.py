"""The assistant's dispatch modules in the Rasa environment (CPython 3.10, SQLAlchemy 1.4, psycopg2):
the actions import dispatch.outbox / open311_client / classify, so they must work here, not only in 3.11.
The full suites (tests/dispatch/test_outbox.py, test_client.py) also pass here with ``--noconftest``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.classify import classify
from dispatch.open311_client import Open311Client
from dispatch.outbox import Outbox, TicketDraft, engine_url, make_engine
from tests.dispatch.open311_peer import Peer


@pytest.fixture
def peer():
    server = Peer().start()
    yield server
    server.stop()


def test_classify() -> None:
    assert classify("楼下KTV半夜太吵了")[0] == "noise"
    assert classify("小区门口下水道堵了，污水冒出来")[0] == "drainage"
    assert classify("今天天气不错") == ("other", "其他")


def test_postgres_urls_use_the_installed_driver() -> None:
    assert engine_url("postgresql://127.0.0.1/x").startswith("postgresql+psycopg2://")


def test_outbox_queues_while_down_and_sends_when_back(tmp_path: Path, peer: Peer) -> None:
    from common import settings

    peer.stop()
    conf = {**settings.section("dispatch"), "client_base_url": peer.base_url, "submit_timeout_s": 1.0,
            "outbox_backoff_base_s": 0.0, "client_contact_filter": "true"}
    outbox = Outbox(make_engine(f"sqlite:///{tmp_path}/outbox.sqlite3"),
                    Open311Client(peer.base_url, peer.api_key, "govbot.local"), conf)
    receipt = outbox.submit(TicketDraft(service_code="noise", description="楼下KTV半夜太吵了",
                                        address_string="幸福路 12 号", phone="13800138000", sender_id="web-1",
                                        channel="rest", transcript="居民：楼下太吵了"))
    assert receipt.provisional and receipt.reference.startswith("TMP-")
    assert outbox.status(receipt.reference)["status"] == "pending"
    peer.start()
    assert outbox.drain().sent == 1
    status = outbox.status(receipt.reference)
    assert status["reference"] == "GB000001" and status["status"] == "open" and not status["provisional"]
    assert [c["reference"] for c in outbox.cases_for(sender_id="web-1")] == ["GB000001"]
    assert outbox.rate("GB000001", 5, "满意") and peer.ratings[0]["score"] == 5
    assert len(peer.tickets) == 1
