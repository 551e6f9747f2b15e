"""The AMI client (asterisk-ami underneath) against the session's real Asterisk 22.

Calls are announced by the real dialplan: an ``Originate`` sent on the client's own connection (what
the robocall dialler will do) runs ``[govbot]`` in a Local channel, whose ``UserEvent(GovbotCall …)``
carries the caller's number and the AudioSocket UUID back to the client.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator

import pytest

from common import settings
from common.services import APP_PYTHON
from telephony.ami import AmiClient, AmiUnavailable, CallerInfo
from telephony.asterisk.config import AsteriskLayout, prefix
from tests.telephony.helpers import wait_for

pytestmark = pytest.mark.e2e
CALLER = "13800138000"


def client_for(asterisk, **overrides: object) -> AmiClient:
    """A client as the bot builds it (``[telephony]``), with quicker retries for the tests."""
    conf = {**settings.section("telephony"), "ami_reconnect_s": 0.2, "ami_reconnect_max_s": 1.0, **overrides}
    return AmiClient.from_settings(conf)


@pytest.fixture
async def ami(asterisk) -> AsyncIterator[AmiClient]:
    client = client_for(asterisk)
    client.start()
    try:
        await wait_for(lambda: client.connected, 10)
        yield client
    finally:
        await client.stop()


async def originate(client: AmiClient, caller: str) -> None:
    """A call into the bot's dialplan with this caller id (its AudioSocket leg fails: no bot here)."""
    reply = await client.action("Originate", Channel="Local/12345@govbot", Application="Wait", Data="1",
                                CallerID=f"Resident <{caller}>", Async="true")
    assert reply["Response"] == "Success", reply


def announced(client: AmiClient, caller: str) -> str | None:
    """The UUID of the call the dialplan announced for ``caller``, once its event has arrived."""
    return next((uuid for uuid, (_at, info) in client.callers.items() if info.number == caller), None)


def manager_sessions() -> str:
    layout = AsteriskLayout(prefix(), settings.resolve_path(settings.section("telephony")["config_dir"]))
    return subprocess.run(layout.cli("manager show connected"), capture_output=True, text=True, timeout=10).stdout


async def test_an_originated_call_announces_its_caller_under_its_audiosocket_uuid(ami: AmiClient) -> None:
    await originate(ami, CALLER)
    await wait_for(lambda: announced(ami, CALLER), 10)
    uuid = announced(ami, CALLER)
    info = await ami.caller(uuid.upper(), timeout_s=0.1)  # Asterisk's UUID, whatever its case
    assert info == CallerInfo(CALLER, "Resident", info.channel) and info.channel.startswith("Local/12345@govbot")
    assert await ami.caller(uuid, timeout_s=0.1) is None  # handed out once
    assert await ami.caller("not-a-call", timeout_s=0.1) is None  # an unknown call: no caller, no error


async def test_the_session_outlives_the_library_read_timeout(asterisk) -> None:
    """asterisk-ami's read timeout kills its reader after that long without traffic; the Ping keeps it."""
    client = client_for(asterisk, ami_timeout_s=1.0, ami_ping_s=0.3)
    client.start()
    try:
        await wait_for(lambda: client.connected, 10)
        deadline = time.monotonic() + 3.0  # three read timeouts without a single event
        while time.monotonic() < deadline:
            assert client.connected and client.connections == 1
            await asyncio.sleep(0.1)
        assert (await client.action("Ping"))["Response"] == "Success"
    finally:
        await client.stop()


async def test_asterisk_restarting_means_unknown_callers_meanwhile_then_a_new_session(asterisk, ami) -> None:
    asterisk.kill()
    await wait_for(lambda: not ami.connected, 10)
    assert await ami.caller("any-call", timeout_s=0.0) is None  # calls go on as "unknown caller"
    with pytest.raises(AmiUnavailable):
        await ami.action("Ping")
    await asyncio.to_thread(asterisk.start)
    await wait_for(lambda: ami.connected, 30)  # by itself, on the backoff schedule
    assert ami.connections == 2
    await originate(ami, "13900000000")
    await wait_for(lambda: announced(ami, "13900000000"), 10)


async def test_a_wrong_secret_is_never_a_session_and_is_retried(asterisk) -> None:
    client = client_for(asterisk)
    client.secret = "wrong"
    client.start()
    try:
        await wait_for(lambda: client.backoff.failures >= 2, 10)  # refused, waited, refused again
        assert not client.connected and client.connections == 0
    finally:
        await client.stop()


async def test_stopping_logs_off(asterisk) -> None:
    user = settings.section("telephony")["ami_user"]
    client = client_for(asterisk)
    client.start()
    await wait_for(lambda: client.connected, 10)
    await wait_for(lambda: user in manager_sessions(), 10)
    await client.stop()
    await wait_for(lambda: user not in manager_sessions(), 10)


def test_no_deadlock_when_deprecation_warnings_are_errors(asterisk) -> None:
    """asterisk-ami's own response futures call the deprecated notifyAll and deadlock under
    ``-W error::DeprecationWarning``; ours must log in, answer an action and log off."""
    script = textwrap.dedent("""
        import asyncio
        from common import settings
        from telephony.ami import AmiClient

        async def main():
            client = AmiClient.from_settings(settings.section("telephony"))
            client.start()
            for _ in range(100):
                if client.connected:
                    break
                await asyncio.sleep(0.1)
            print((await client.action("Ping"))["Response"])
            await client.stop()

        asyncio.run(main())
    """)
    done = subprocess.run([str(APP_PYTHON), "-W", "error::DeprecationWarning", "-c", script], cwd=settings.ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(settings.ROOT)})
    assert done.returncode == 0 and done.stdout.strip() == "Success", done.stderr[-2000:]
