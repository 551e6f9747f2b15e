"""The Open311 client over real HTTP: a small GeoReport v2 peer on a free port, and the embedded server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dispatch.open311_client import Open311Client, Open311NotFound, Open311Rejected, Open311Unavailable
from tests.dispatch.open311_peer import Peer


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer().start()
    yield server
    server.stop()


def client_for(peer: Peer, **kwargs: object) -> Open311Client:
    return Open311Client(peer.base_url, peer.api_key, "govbot.local", **kwargs)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_services_and_jurisdiction(peer: Peer) -> None:
    services = client_for(peer).services()
    assert [s["service_code"] for s in services] == ["noise", "road", "drainage"]
    assert peer.requests[-1][2]["jurisdiction_id"] == ["govbot.local"]


def test_create_sends_form_idempotency_key_and_attributes(peer: Peer) -> None:
    answer = client_for(peer).create_request(
        {"service_code": "noise", "description": "楼下 KTV 半夜很吵 <b>&", "address_string": "幸福路 1 号",
         "lat": None, "phone": "", "urgent": True},
        attributes={"noise_source": "business", "days": ["mon", "tue"]}, idempotency_key="k-1")
    assert answer["service_request_id"] == "GB000001"
    method, path, form, headers = peer.requests[-1]
    assert (method, path) == ("POST", "/open311/v2/requests.json")
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert headers["Idempotency-Key"] == "k-1" and form["idempotency_key"] == ["k-1"]
    assert form["description"] == ["楼下 KTV 半夜很吵 <b>&"]
    assert form["attribute[noise_source]"] == ["business"] and form["attribute[days][]"] == ["mon", "tue"]
    assert form["urgent"] == ["true"] and "lat" not in form and "phone" not in form  # empty means absent
    assert form["api_key"] == [peer.api_key]


def test_get_request_requests_and_token(peer: Peer) -> None:
    client = client_for(peer)
    srid = client.create_request({"service_code": "noise", "address_string": "x"})["service_request_id"]
    assert client.get_request(srid)["status"] == "open"
    assert [r["service_request_id"] for r in client.get_requests(service_request_id=srid)] == [srid]
    peer.batch = True
    token = client.create_request({"service_code": "noise", "address_string": "y"})["token"]
    assert client.token(token)["service_request_id"] is None  # not assigned yet
    peer.tokens[token] = "GB000002"
    assert client.token(token)["service_request_id"] == "GB000002"


def test_ids_cannot_change_the_path(peer: Peer) -> None:
    with pytest.raises(Open311NotFound):
        client_for(peer).get_request("../services")
    assert peer.requests[-1][1] == "/open311/v2/requests/..%2Fservices.json"


def test_rating(peer: Peer) -> None:
    client = client_for(peer)
    srid = client.create_request({"service_code": "noise", "address_string": "x"})["service_request_id"]
    client.rate(srid, 5, "很及时")
    assert peer.ratings == [{"service_request_id": srid, "score": 5, "comment": "很及时"}]


@pytest.mark.parametrize(("mode", "error", "status"), [
    ("500", Open311Unavailable, 500),
    ("429", Open311Unavailable, 429),
    ("html", Open311Unavailable, 200),
    ("400", Open311Rejected, 400),
])
def test_error_kinds(peer: Peer, mode: str, error: type[Exception], status: int) -> None:
    peer.mode = mode
    with pytest.raises(error) as caught:
        client_for(peer).create_request({"service_code": "noise", "address_string": "x"})
    assert caught.value.status == status  # type: ignore[attr-defined]
    if mode == "400":
        assert caught.value.description == "缺少必填属性"  # type: ignore[attr-defined]


def test_bad_key_and_unknown_service_are_rejected(peer: Peer) -> None:
    with pytest.raises(Open311Rejected) as caught:
        Open311Client(peer.base_url, "wrong").create_request({"service_code": "noise", "address_string": "x"})
    assert caught.value.status == 403
    with pytest.raises(Open311NotFound):
        client_for(peer).create_request({"service_code": "nope", "address_string": "x"})


def test_down_and_slow_are_unavailable(peer: Peer) -> None:
    with pytest.raises(Open311Unavailable):
        Open311Client(f"http://127.0.0.1:{closed_port()}/open311/v2").services()
    peer.delay_s = 1.0
    with pytest.raises(Open311Unavailable):
        client_for(peer, timeout_s=0.2).services()


def test_from_settings_defaults_to_the_embedded_server(tmp_path, monkeypatch) -> None:
    from common import settings

    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVBOT__DISPATCH__PORT", "18181")
    settings.reload()
    try:
        client = Open311Client.from_settings()
        assert client.base_url == "http://127.0.0.1:18181/open311/v2"
        assert client.api_key == (tmp_path / "secrets" / "dispatch_api_key").read_text().strip()
    finally:
        monkeypatch.undo()
        settings.reload()
