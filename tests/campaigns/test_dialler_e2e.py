"""The dialler end to end: the real Asterisk (AMI Originate, PJSIP out, AMD, AudioSocket back) and sipp residents.

The dialler runs in this process (its real AMI client, store and AudioSocket server; the recogniser and the
voice are the doubles of test_dialler.py, so the path is tested, not the speech engines); Asterisk and sipp are
real processes on free ports (``telephony.teststack``). A resident who answers greets first (AMD hears a person),
waits for the opening, then presses the answers (RFC 4733); a busy one answers 486.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from campaigns.config import CampaignsConfig
from campaigns.dialler import Dialler
from campaigns.dialler_ami import DiallerAmi
from campaigns.dialler_config import DiallerConfig
from campaigns.store import Store
from common import settings
from common.net import free_port
from telephony.state import CallSettings
from telephony.teststack import stack_env, start_asterisk, stop_process
from telephony.voice import PhoneVoice
from tests.campaigns.conftest import NOW, running_campaign
from tests.campaigns.residents import Resident, greeting
from tests.campaigns.test_dialler import LOUD, ScriptedAsr, ToneTts

pytestmark = pytest.mark.e2e
WAIT_S = 60.0
GREETING_S = 0.4  # "喂": well under AMD's greeting limit, followed by the phone's silence


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[subprocess.Popen]]:
    """The module's Asterisk (a list: a test may replace it with a fresh one on the same ports)."""
    env = stack_env(tmp_path_factory.mktemp("dialler"))
    with settings.overrides(env):
        holder = [start_asterisk()]
        try:
            yield holder
        finally:
            stop_process(holder[0])


@pytest.fixture
async def dial(asterisk, tmp_path):
    """A function placing one campaign call to ``resident``: returns the store once the attempt is recorded."""
    made: list[Dialler] = []

    async def place(resident: Resident) -> tuple[Store, Dialler]:
        store = Store(CampaignsConfig.load(), f"sqlite:///{tmp_path}/campaigns.sqlite3")
        conf = DiallerConfig.load(dialler_audiosocket_port=free_port(), dialler_id="e2e", answer_timeout_s=5.0,
                                  digit_timeout_s=1.0, amd_notsure_is_machine=True,  # only HUMAN is asked
                                  dialler_channel=f"PJSIP/govbot-trunk/sip:{{dial}}@127.0.0.1:{resident.port}")
        telephony = settings.section("telephony")

        def ami(on_event):
            return DiallerAmi.for_dialler(telephony, conf.ami_reconnect_s, conf.ami_reconnect_max_s, on_event)

        dialler = Dialler(store, conf, CallSettings.from_settings(telephony), PhoneVoice(ToneTts()),
                          ScriptedAsr([]), ami, clock=lambda: NOW)
        made.append(dialler)
        await dialler.start()
        await until(lambda: dialler.ami.connected, "AMI did not connect")  # logged in, Asterisk fully booted
        running_campaign(store, store.config, 1)
        assert await dialler.claim_once() == 1
        return store, dialler

    yield place
    for dialler in made:
        await dialler.stop()
        dialler.store.close()


async def until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def recorded(dialler: Dialler) -> None:
    await asyncio.wait_for(asyncio.gather(*dialler.tasks), WAIT_S)


async def test_a_resident_who_answers_and_presses_keys_completes_the_health_check(dial) -> None:
    resident = Resident()
    await resident.start()
    try:
        store, dialler = await dial(resident)
        media = await resident.answered(WAIT_S)
        media.say(greeting(GREETING_S, LOUD))
        greeted = await media.wait_sent()
        await media.wait_voiced(greeted, WAIT_S)  # the opening: AMD heard a person, the script runs
        for key in "136*5#221":  # 1: yes, this is the resident
            media.press(key)
        await recorded(dialler)
        assert await resident.wait(WAIT_S) == 0  # the robot hung up after its closing; sipp answered the BYE
    finally:
        resident.kill()
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "answered", attempt
    assert {k: v["value"] for k, v in attempt["answers"].items()} == {
        "temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}


async def test_a_silent_answer_is_an_answering_machine_and_retried(dial) -> None:
    resident = Resident()
    await resident.start()
    try:
        store, dialler = await dial(resident)
        await resident.answered(WAIT_S)  # the line sends only silence: AMD's initial silence runs out
        await recorded(dialler)
        assert await resident.wait(WAIT_S) == 0  # the dialplan hung up on the machine
    finally:
        resident.kill()
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "machine" and attempt["answers"] == {}


async def test_a_busy_resident_is_recorded_busy_and_retried_later(dial) -> None:
    resident = Resident(busy=True)
    await resident.start()
    try:
        store, dialler = await dial(resident)
        await recorded(dialler)
        await resident.wait(WAIT_S)
    finally:
        resident.kill()
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "busy", attempt
    spec = store.spec(1)
    later = NOW + timedelta(minutes=spec.retry.busy_interval_minutes, seconds=1)
    assert [c.attempt_number for c in store.claim_due(later, "next", 5)] == [2]


async def test_the_dialler_waits_out_asterisk_restarting_and_dials_the_retry_after(dial, asterisk) -> None:
    first = Resident(busy=True)
    await first.start()
    try:
        store, dialler = await dial(first)
        await recorded(dialler)
        await first.wait(WAIT_S)
    finally:
        first.kill()
    asterisk[0].kill()  # kill -9: no goodbye on the manager connection
    asterisk[0].wait()
    await until(lambda: not dialler.ami.connected, "the lost AMI session went unnoticed")
    spec = store.spec(1)
    dialler.clock = lambda: NOW + timedelta(minutes=spec.retry.busy_interval_minutes, seconds=1)  # the retry is due
    assert await dialler.claim_once() == 0  # nothing is claimed while Asterisk is away
    asterisk[0] = start_asterisk()
    await until(lambda: dialler.ami.connected, "AMI did not reconnect")
    again = Resident(busy=True, port=first.port)
    await again.start()
    try:
        assert await dialler.claim_once() == 1
        await recorded(dialler)
        await again.wait(WAIT_S)
    finally:
        again.kill()
    assert [(a["seq"], a["outcome"]) for a in store.attempts_of(1)] == [(1, "busy"), (2, "busy")]
