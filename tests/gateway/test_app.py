"""The gateway with Rasa down: every bad request gets a 4xx naming its field, and a turn gets a
bounded 503 instead of a hang."""

from __future__ import annotations

import time

import pytest
from sanic_testing.testing import SanicASGITestClient

from common import settings
from common.net import free_port


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path_factory.mktemp("gateway")))
    mp.setenv("GOVBOT__RASA__PORT", str(free_port()))  # nothing listens there: Rasa is "down"
    mp.setenv("GOVBOT__ACTIONS__PORT", str(free_port()))
    mp.setenv("GOVBOT__GATEWAY__RASA_TIMEOUT_S", "2")
    settings.reload()
    from gateway.app import create_app

    app = create_app(f"gateway-test-{free_port()}")
    yield SanicASGITestClient(app)
    mp.undo()
    settings.reload()


async def post(client, body=None, *, raw=None, content_type="application/json"):
    data = raw if raw is not None else __import__("json").dumps(body, ensure_ascii=False)
    client.cookies.clear()  # each request is a first contact
    _, response = await client.post("/api/chat", content=data, headers={"content-type": content_type})
    return response


@pytest.mark.parametrize("body, status, field", [
    ({"sender": 7, "message": "你好"}, 400, "sender"),  # optional (the gateway names residents), but checked
    ({"sender": "a\x00b", "message": "你好"}, 400, "sender"),
    ({"sender": "a"}, 400, "message"),
    ({"sender": "a", "message": "   \n "}, 400, "message"),
    ({"sender": "a", "message": "好" * 2001}, 413, "message"),
    ({"sender": "a", "message": "你好", "metadata": "x"}, 400, "metadata"),
    ({"sender": "a" * 200, "message": "你好"}, 400, "sender"),
])
async def test_bad_chat_requests_name_the_field(client, body, status, field) -> None:
    response = await post(client, body)
    assert response.status == status
    assert response.json["error"]["field"] == field


async def test_invalid_json_and_wrong_content_type(client) -> None:
    response = await post(client, raw="{not json")
    assert response.status == 400 and response.json["error"]["code"] == "invalid_json"
    response = await post(client, raw="sender=a&message=hi", content_type="application/x-www-form-urlencoded")
    assert response.status == 415 and response.json["error"]["field"] == "content-type"
    response = await post(client, raw="[1, 2]")
    assert response.status == 400


async def test_rasa_down_gives_a_quick_503(client) -> None:
    start = time.monotonic()
    response = await post(client, {"sender": "a", "message": "社保卡怎么补办"})
    assert response.status == 503
    assert response.json["error"]["code"] == "assistant_unavailable"
    assert time.monotonic() - start < 5


async def test_health_and_readiness(client) -> None:
    _, health = await client.get("/healthz")
    assert health.status == 200
    _, ready = await client.get("/readyz")
    assert ready.status == 503 and ready.json["ready"] is False
    assert ready.json["rasa"].startswith("unreachable")


async def test_unknown_route_is_json(client) -> None:
    _, response = await client.get("/nope")
    assert response.status == 404 and "error" in response.json


async def test_staff_endpoints_need_the_token(client) -> None:
    _, response = await client.get("/api/handoffs/")
    assert response.status == 401 and response.json["error"]["field"] == "authorization"
    from common.web import staff_token

    _, response = await client.get("/api/handoffs/", headers={"Authorization": f"Bearer {staff_token()}"})
    assert response.status == 200 and response.json == {"handoffs": []}
