"""The gateway's trust boundary (gateway/identity.py): who may assert what, checked on what the gateway
forwards to a stand-in Rasa (a real HTTP server recording each REST-channel payload)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sanic_testing.testing import SanicASGITestClient

from common import settings
from common.net import free_port
from tests.gateway.fake_rasa import FakeRasa
from tests.support import serving

PHONE = "13812345678"
COOKIE = "govbot_session"


@pytest.fixture(scope="module")
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, rasa: FakeRasa) -> Iterator[Any]:
    mp = pytest.MonkeyPatch()
    mp.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path_factory.mktemp("identity")))
    mp.setenv("GOVBOT__RASA__PORT", str(rasa.port))
    mp.setenv("GOVBOT__ACTIONS__PORT", str(free_port()))
    settings.reload()
    from gateway.app import create_app

    app = create_app(f"gateway-identity-{free_port()}")
    yield app
    mp.undo()
    settings.reload()


async def chat(app: Any, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    client: SanicASGITestClient = app.asgi_client
    client.cookies.clear()  # each request carries exactly the credential the test gives it
    _, response = await client.post("/api/chat", content=json.dumps(body, ensure_ascii=False),
                                    headers={"content-type": "application/json", **(headers or {})})
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def first_contact(app: Any) -> tuple[str, str]:
    response = await chat(app, {"message": "你好"})
    assert response.status == 200, response.text
    return response.json["session"], response.json["sender"]


async def test_first_contact_gets_a_gateway_made_sender_and_an_httponly_cookie(gateway, rasa) -> None:
    response = await chat(gateway, {"sender": "13800000000", "message": "你好"})
    assert response.status == 200, response.text
    sender, session = response.json["sender"], response.json["session"]
    assert sender.startswith("resident:") and sender != "13800000000"  # the body's sender is not used
    assert rasa.last()["sender"] == sender
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert cookie.startswith(f"{COOKIE}={session};")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes and "samesite=lax" in cookie.lower().replace(" ", "")


async def test_the_session_keeps_the_conversation_by_bearer_or_cookie(gateway, rasa) -> None:
    session, sender = await first_contact(gateway)
    by_bearer = await chat(gateway, {"message": "还在吗"}, bearer(session))
    assert by_bearer.status == 200 and by_bearer.json["sender"] == sender and rasa.last()["sender"] == sender
    by_cookie = await chat(gateway, {"message": "还在吗"}, {"cookie": f"{COOKIE}={session}"})
    assert by_cookie.status == 200 and by_cookie.json["sender"] == sender
    same = await chat(gateway, {"sender": sender, "message": "还在吗"}, bearer(session))
    assert same.status == 200  # repeating one's own sender is allowed


async def test_an_untrusted_clients_identity_metadata_never_reaches_rasa(gateway, rasa) -> None:
    metadata = {"phone": PHONE, "channel": "phone", "call": {"uuid": "x"}, "client": "phone", "lang": "en"}
    response = await chat(gateway, {"message": "查我的工单", "metadata": metadata})
    assert response.status == 200, response.text
    forwarded = rasa.last()
    assert forwarded["metadata"] == {"lang": "en", "channel": "rest"}  # the gateway's channel, not the client's
    assert forwarded["input_channel"] == "rest" and PHONE not in json.dumps(forwarded)
    # ... and a valid resident session does not make them trusted either
    await chat(gateway, {"message": "查我的工单", "metadata": metadata}, bearer(response.json["session"]))
    assert "phone" not in rasa.last()["metadata"] and rasa.last()["metadata"]["channel"] == "rest"


async def test_a_body_sender_other_than_the_sessions_is_refused(gateway, rasa) -> None:
    session, _sender = await first_contact(gateway)
    _other_session, other = await first_contact(gateway)
    before = len(rasa.received)
    response = await chat(gateway, {"sender": other, "message": "查我的工单"}, bearer(session))
    assert response.status == 403 and response.json["error"]["field"] == "sender"
    assert len(rasa.received) == before


async def test_a_forged_or_expired_session_is_refused(gateway, rasa) -> None:
    from gateway.sessions import ResidentSessions

    session, sender = await first_contact(gateway)
    key = settings.read_or_create_secret(settings.section("security")["session_key_file"])
    lifetime = float(settings.section("gateway")["session_lifetime_s"])
    expired = ResidentSessions(key, lifetime, clock=lambda: time.time() - lifetime - 60).issue(sender)
    other_key = ResidentSessions("not-the-gateways-key", lifetime).issue(sender)
    tampered = session[:-2] + ("AA" if not session.endswith("AA") else "BB")
    before = len(rasa.received)
    for token, code in [(expired, "session_expired"), (other_key, "invalid_session"), (tampered, "invalid_session"),
                        ("staff-or-random-token", "invalid_session")]:
        response = await chat(gateway, {"message": "你好"}, bearer(token))
        assert response.status == 401, (token, response.text)
        assert response.json["error"] == {**response.json["error"], "field": "authorization", "code": code}
    response = await chat(gateway, {"message": "你好"}, {"cookie": f"{COOKIE}={expired}"})
    assert response.status == 401
    cleared = [c.lower() for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]
    assert cleared and "max-age=0" in cleared[0] and "secure" not in cleared[0]  # the browser forgets it
    assert len(rasa.received) == before  # nothing was attached to any conversation


async def test_a_trusted_clients_phone_reaches_rasa_under_its_namespace(gateway, rasa) -> None:
    from common.web import client_secret

    secret = client_secret("phone")  # what the voice bot reads
    metadata = {"phone": PHONE, "channel": "phone", "call": {"uuid": "c-1"}}
    response = await chat(gateway, {"sender": "c-1", "message": "我要投诉", "metadata": metadata}, bearer(secret))
    assert response.status == 200, response.text
    forwarded = rasa.last()
    assert forwarded["sender"] == "phone:c-1" and forwarded["input_channel"] == "phone"
    assert forwarded["metadata"] == {**metadata, "client": "phone"}
    assert "session" not in response.json and not response.headers.get_list("set-cookie")
    assert response.json["sender"] == "phone:c-1"
    echoed = await chat(gateway, {"sender": "phone:c-1", "message": "好"}, bearer(secret))
    assert echoed.status == 200 and rasa.last()["sender"] == "phone:c-1"  # its own namespaced id, kept
    # A trusted platform cannot take over a resident's conversation: its sender ids stay in its namespace.
    _session, resident = await first_contact(gateway)
    await chat(gateway, {"sender": resident, "message": "查我的工单"}, bearer(secret))
    assert rasa.last()["sender"] == f"phone:{resident}"
    missing = await chat(gateway, {"message": "你好"}, bearer(secret))
    assert missing.status == 400 and missing.json["error"]["field"] == "sender"


async def test_an_operator_adds_and_revokes_a_platform_client_without_a_restart(gateway, rasa) -> None:
    def clients(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway", "clients", *args], capture_output=True, text=True,
                              cwd=settings.ROOT, env={**os.environ, "PYTHONPATH": str(settings.ROOT)}, timeout=60)

    added = clients("add", "wechat")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert clients("add", "wechat").stdout.strip() == secret  # idempotent: prints the existing secret
    assert "wechat" in clients("list").stdout.split() and "phone" in clients("list").stdout.split()
    response = await chat(gateway, {"sender": "u-9", "message": "你好", "metadata": {"phone": PHONE}}, bearer(secret))
    assert response.status == 200 and rasa.last()["sender"] == "wechat:u-9"
    assert rasa.last()["metadata"]["phone"] == PHONE and rasa.last()["input_channel"] == "wechat"
    assert clients("add", "resident").returncode == 2  # the residents' namespace is not a client name
    assert clients("remove", "wechat").returncode == 0
    assert (await chat(gateway, {"sender": "u-9", "message": "你好"}, bearer(secret))).status == 401


async def test_the_voice_bots_caller_number_reaches_rasa_through_its_credential(gateway, rasa) -> None:
    """telephony.assistant.AssistantClient as the voice bot runs it (secret read from the data dir), over HTTP."""
    from gateway.app import create_app
    from telephony.assistant import AssistantClient

    app = create_app(f"gateway-phone-{free_port()}")
    async with serving(app) as base:
        bot = AssistantClient(base, 10.0)
        try:
            reply = await bot.send("phone-call-7", "我要投诉路灯坏了", {"channel": "phone", "phone": PHONE})
        finally:
            await bot.close()
    assert reply.texts == ["好的"]
    forwarded = rasa.last()
    assert forwarded["sender"] == "phone:phone-call-7" and forwarded["metadata"]["phone"] == PHONE
    assert forwarded["input_channel"] == "phone"
