"""The ticket backend interface: the setting picks the module, the backend owns its number syntax and its
categories, and the outbox works the same in front of a system that is not Open311 at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common import settings
from dispatch.backends import from_settings, reference_syntax
from dispatch.backends.base import find_reference
from dispatch.backends.open311 import Open311Backend
from dispatch.open311_client import Open311Client
from dispatch.outbox import OWNER, PUBLIC, VERIFIED, Asker, Outbox, TicketDraft
from tests.dispatch.ledger_backend import LedgerBackend
from tests.dispatch.open311_peer import Peer


def conf(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    base = settings.section("dispatch")
    base.update(outbox_db_url=f"sqlite:///{tmp_path}/outbox.sqlite3", status_poll="never", **overrides)
    return base


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer().start()
    yield server
    server.stop()


def test_the_setting_names_the_backend_module(tmp_path: Path) -> None:
    assert isinstance(from_settings(conf(tmp_path)), Open311Backend)
    outbox = Outbox.from_settings(conf(tmp_path, backend="tests.dispatch.ledger_backend"))
    assert isinstance(outbox.backend, LedgerBackend)


def test_ticket_numbers_follow_the_backend() -> None:
    pattern, fmt = reference_syntax({"backend": "open311", "ticket_prefix": "GB"})
    backend = Open311Backend(Open311Client("http://127.0.0.1:9/x"), {"ticket_prefix": "GB"})
    assert (backend.reference_pattern.pattern, backend.reference_format) == (pattern.pattern, fmt)
    assert find_reference("查询GB20261123-0001", backend) == "GB20261123-0001"
    assert find_reference("GB202611230001", backend) == "GB20261123-0001"  # a dash lost in speech
    other = Open311Backend(Open311Client("http://127.0.0.1:9/x"), {
        "client_base_url": "http://centre", "client_reference_pattern": r"12345-(?P<year>\d{4})-(?P<n>\d{5})",
        "client_reference_format": "12345-{year}-{n}"})
    assert find_reference("工单12345-2026-00042", other) == "12345-2026-00042"
    assert find_reference("GB20261123-0001", other) is None
    assert find_reference("L000007", LedgerBackend()) == "L-000007"


def test_an_open311_server_without_our_extensions(peer: Peer, tmp_path: Path) -> None:
    backend = Open311Backend(Open311Client(peer.base_url, peer.api_key), conf(tmp_path, client_base_url=peer.base_url,
                                                                              client_contact_filter="false"))
    assert [s.code for s in backend.services()] == ["noise", "road", "drainage"]
    number = backend.submit({"service_code": "noise", "address_string": "x", "phone": "13800138000"}, {}, "k1")
    assert number.service_request_id == "GB000001"
    assert backend.contact("GB000001") is None  # it does not say who reported the case: unknown, not an error
    assert backend.cases_for("web-1", None) is None and not backend.pushes_updates


def test_the_outbox_in_front_of_a_system_that_is_not_open311(tmp_path: Path) -> None:
    outbox = Outbox.from_settings(conf(tmp_path, backend="tests.dispatch.ledger_backend"))
    ledger: LedgerBackend = outbox.backend  # type: ignore[assignment]
    receipt = outbox.submit(TicketDraft(service_code="pothole", description="路口有个大坑", address_string="人民路口",
                                        phone="13800138000", sender_id="web:alice", channel="rest"))
    assert receipt.reference == "L-000001" and not receipt.provisional
    assert outbox.lookup("L-000001", Asker(sender_id="web:alice")).access == OWNER
    stranger = outbox.lookup("L-000001", Asker(sender_id="web:bob"))
    assert stranger.access == PUBLIC and "description" not in stranger.case and "status_notes" not in stranger.case
    assert outbox.lookup("L-000001", Asker(sender_id="web:bob", phone_last4="8000")).access == VERIFIED
    assert outbox.rate_as("L-000001", 5, "", Asker(sender_id="web:alice")) == "not_closed"
    ledger.finish("L-000001", "已填平")
    assert outbox.status("L-000001")["status"] == "closed"
    assert outbox.rate_as("L-000001", 5, "", Asker(sender_id="web:bob")) == "not_reporter"
    assert outbox.rate_as("L-000001", 5, "", Asker(verified_phone="+86 138 0013 8000")) == "rated"
    assert outbox.rate_as("L-000001", 4, "", Asker(sender_id="web:alice")) == "already_rated"
    assert ledger.ratings == {"L-000001": 5}
    with pytest.raises(Exception, match="unknown category"):
        outbox.submit(TicketDraft(service_code="noise", address_string="x"))
