"""The dialler loop without Asterisk: a stand-in AMI, the real store (SQLite) and real AudioSocket connections.

The stand-in AMI records each Originate and the test plays Asterisk: it sends the events Asterisk would
(OriginateResponse, the dialplan's GovbotAmd, Hangup with its Cause) and connects the answered call's
AudioSocket as the dialplan does. Speech is a scripted recogniser and the voice a tone as long as the text
(like tests/telephony/test_voicebot.py). Every wait is for something to happen, never a fixed pause.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from campaigns.alerts import Alert, draft_fields
from campaigns.dialler import Dialler
from campaigns.dialler_config import DiallerConfig
from campaigns.kinds import health_check
from campaigns.store import Store
from common import settings
from common.net import free_port
from telephony import audiosocket
from telephony.audiosocket import Kind
from telephony.state import CallSettings
from telephony.voice import PhoneVoice
from tests.campaigns.conftest import NOW, running_campaign
from tests.telephony.stand_ins import LOUD, QUIET, ScriptedAsr, ToneTts

WAIT_S = 20.0
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the example campaign's zone


class SayingVoice(PhoneVoice):
    """The tone voice, keeping every text it was asked to speak (what the resident heard)."""

    def __init__(self) -> None:
        super().__init__(ToneTts())
        self.said: list[str] = []

    async def frames(self, text: str) -> list[bytes]:
        self.said.append(text)
        return await super().frames(text)


class StandInAmi:
    """Records Originates; ``connected`` is what the test says."""

    def __init__(self, on_event: Any) -> None:
        self.on_event, self.connected = on_event, True
        self.originated: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        assert name == "Originate"
        self.originated.put_nowait(fields)
        return {"Response": "Success", "Message": "Originate successfully queued"}


class Line:
    """Asterisk's side of the answered call's AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.audio_frames, self.hung_up = 0, asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, call_id: str) -> Line:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(audiosocket.uuid_frame(uuid.UUID(call_id)))
        return cls(reader, writer)

    async def _read(self) -> None:
        while (frame := await audiosocket.read_frame(self.reader)) is not None:
            if frame.kind is Kind.AUDIO:
                self.audio_frames += 1
            elif frame.kind is Kind.HANGUP:
                break
        self.hung_up.set()

    def keys(self, digits: str) -> None:
        for digit in digits:
            self.writer.write(audiosocket.dtmf(digit))

    async def send(self, frame: bytes, count: int) -> None:
        for _ in range(count):
            self.writer.write(audiosocket.audio(frame))
            await asyncio.sleep(audiosocket.FRAME_MS / 1000)  # Asterisk's pacing of the caller's audio


@pytest.fixture
async def dialler(store: Store):
    conf = DiallerConfig.load(dialler_audiosocket_port=free_port(), dialler_id="test-dialler",
                              answer_timeout_s=3.0, digit_timeout_s=1.0)
    call_conf = replace(CallSettings.from_settings(settings.section("telephony")), endpoint_silence_ms=300)
    filed: list[Alert] = []
    made = Dialler(store, conf, call_conf, SayingVoice(), ScriptedAsr(["三十六度五"]), StandInAmi,
                   clock=lambda: NOW, alerts=lambda alert: filed.append(alert) or f"T{len(filed)}")
    made.filed = filed
    await made.start()
    yield made
    await made.stop()


async def originated(dialler: Dialler) -> dict[str, str]:
    return await asyncio.wait_for(dialler.ami.originated.get(), WAIT_S)


async def settled(dialler: Dialler) -> None:
    await asyncio.wait_for(asyncio.gather(*dialler.tasks), WAIT_S)


def answer(dialler: Dialler, call_id: str, amd: str = "HUMAN") -> None:
    dialler.on_event("OriginateResponse", {"Uniqueid": call_id, "Response": "Success", "Reason": "4"})
    dialler.on_event("UserEvent", {"UserEvent": "GovbotAmd", "Uniqueid": call_id, "Status": amd})


async def test_an_answered_call_runs_the_script_by_keys_and_records_the_answers(dialler: Dialler, store: Store,
                                                                               config) -> None:
    running_campaign(store, config, 1, caller_id="02150001234", ring_timeout_s=25)
    assert await dialler.claim_once() == 1
    fields = await originated(dialler)
    assert fields["Timeout"] == "25000" and fields["CallerID"] == "02150001234"
    assert fields["Channel"] == "PJSIP/govbot-trunk/sip:13800130000@127.0.0.1:5070"
    assert "GOVBOT_ATTEMPT=1" in fields["Variable"]
    call_id = fields["ChannelId"]
    answer(dialler, call_id)
    line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
    line.keys("136*5#221")  # 1: yes, this is the resident
    await asyncio.wait_for(line.hung_up.wait(), WAIT_S)  # the closing said, the dialler hangs up
    assert line.audio_frames > 0
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
    await settled(dialler)
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "answered"
    assert {k: v["value"] for k, v in attempt["answers"].items()} == {
        "temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}
    assert dialler.filed == []  # normal answers: no alert ticket


async def test_a_spoken_fever_is_recorded_and_flagged_by_the_store(dialler: Dialler, store: Store, config) -> None:
    running_campaign(store, config, 1)
    dialler.asr.texts[:] = ["三十八度二"]
    await dialler.claim_once()
    call_id = (await originated(dialler))["ChannelId"]
    answer(dialler, call_id)
    line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
    line.keys("1")  # yes, this is the resident
    await line.send(LOUD, 25)
    await line.send(QUIET, 25)
    line.keys("221")
    await asyncio.wait_for(line.hung_up.wait(), WAIT_S)
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
    await settled(dialler)
    [attempt] = store.attempts_of(1)
    assert attempt["answers"]["temperature"] == {"value": 38.2, "keys": "", "text": "38.2度"}  # normalised
    assert attempt["abnormal"] and "体温" in attempt["abnormal"][0]
    [alert] = dialler.filed
    ticket = draft_fields(alert, "public_health")
    assert "居民0" in ticket["description"] and "体温 38.2度" in ticket["description"]
    assert ticket["address_string"] == "幸福路0号" and ticket["idempotency_key"] == f"campaign-attempt-{attempt['id']}"
    assert ticket["service_code"] == "public_health"  # the health check names no service of its own
    unhappy = replace(alert, spec=replace(alert.spec, kind="satisfaction_callback"))
    assert draft_fields(unhappy, "public_health")["service_code"] == "other"  # 回访不满意: the kind's own service


async def test_busy_is_recorded_and_the_slot_retried_after_the_busy_interval(dialler: Dialler, store: Store,
                                                                            config) -> None:
    running_campaign(store, config, 1)
    await dialler.claim_once()
    call_id = (await originated(dialler))["ChannelId"]
    dialler.on_event("OriginateResponse", {"Uniqueid": call_id, "Response": "Failure", "Reason": "0"})
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "17"})
    await settled(dialler)
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "busy"
    spec = store.spec(1)
    claims_later = store.claim_due(NOW + timedelta(minutes=spec.retry.busy_interval_minutes, seconds=1), "x", 5)
    assert [c.attempt_number for c in claims_later] == [2]


async def test_a_machine_gets_no_questionnaire_and_counts_as_machine(dialler: Dialler, store: Store, config) -> None:
    running_campaign(store, config, 1)
    await dialler.claim_once()
    call_id = (await originated(dialler))["ChannelId"]
    answer(dialler, call_id, amd="MACHINE")
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
    await settled(dialler)
    assert store.attempts_of(1)[0]["outcome"] == "machine"


async def test_nothing_is_claimed_while_ami_is_down(dialler: Dialler, store: Store, config) -> None:
    running_campaign(store, config, 2)
    dialler.ami.connected = False
    assert await dialler.claim_once() == 0
    assert store.attempts_of(1) == [] and dialler.ami.originated.empty()
    dialler.ami.connected = True
    assert await dialler.claim_once() == 2


async def test_leases_of_calls_in_flight_are_renewed_and_a_call_asterisk_forgot_is_left_to_the_lease(
        dialler: Dialler, store: Store, config) -> None:
    quick = config.with_(ring_timeout_min_s=1)
    running_campaign(store, quick, 1, ring_timeout_s=1)
    dialler.conf = replace(dialler.conf, max_outbound_call_s=0.0, dialler_call_grace_s=0.0)  # no Hangup ever comes
    now = [NOW]
    dialler.clock = lambda: now[0]
    await dialler.claim_once()
    await originated(dialler)
    [track] = dialler.tracks.values()
    now[0] = track.claim.lease_until - timedelta(seconds=1)
    assert await dialler.renew_once() == [track.claim.attempt_id]
    assert store.attempts_of(track.claim.slot_id)[0]["lease_until"] > track.claim.lease_until
    await settled(dialler)  # gives up waiting for Asterisk's word after ring timeout + call limit
    assert store.attempts_of(track.claim.slot_id)[0]["state"] == "dialing"  # nothing invented: the lease decides
    assert dialler.tracks == {} and await dialler.renew_once() == []  # and it is no longer renewed


# -- "call me at 3 pm" ---------------------------------------------------------------------------------------

async def test_call_me_at_three_is_rescheduled_at_three_and_called_then(dialler: Dialler, store: Store,
                                                                        config) -> None:
    running_campaign(store, config, 1)
    dialler.asr.texts[:] = ["下午三点再打吧"]
    await dialler.claim_once()
    call_id = (await originated(dialler))["ChannelId"]
    answer(dialler, call_id)
    line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
    await line.send(LOUD, 25)  # at the identity check: "下午三点再打吧"
    await line.send(QUIET, 25)
    await asyncio.wait_for(line.hung_up.wait(), WAIT_S)
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
    await settled(dialler)
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "callback"
    assert any("下午三点再给您打电话" in text for text in dialler.voice.said), dialler.voice.said
    three = datetime(2026, 3, 2, 15, 0, tzinfo=SHANGHAI)
    assert store.claim_due(three - timedelta(minutes=1), "other", 5) == []  # not before 15:00
    dialler.clock = lambda: three
    assert await dialler.claim_once() == 1
    again = await originated(dialler)
    assert "GOVBOT_ATTEMPT=2" in again["Variable"]
    dialler.on_event("OriginateResponse", {"Uniqueid": again["ChannelId"], "Response": "Failure", "Reason": "1"})
    dialler.on_event("Hangup", {"Uniqueid": again["ChannelId"], "Cause": "19"})
    await settled(dialler)
    assert [a["outcome"] for a in store.attempts_of(1)] == ["callback", "no_answer"]


# -- answering machines ---------------------------------------------------------------------------------------

async def machine_call(dialler: Dialler, amd_first: bool = True) -> Line:
    """A call AMD calls a machine, connected as the dialplan connects every answered call; returns its line."""
    await dialler.claim_once()
    call_id = (await originated(dialler))["ChannelId"]
    if amd_first:
        answer(dialler, call_id, amd="MACHINE")
        line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
    else:  # AMI's word comes after the AudioSocket connection: the dialler waits for it
        dialler.on_event("OriginateResponse", {"Uniqueid": call_id, "Response": "Success", "Reason": "4"})
        line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
        await asyncio.wait_for(dialler.tracks[call_id].connected.wait(), WAIT_S)
        dialler.on_event("UserEvent", {"UserEvent": "GovbotAmd", "Uniqueid": call_id, "Status": "MACHINE"})
    line.keys("1")  # a machine's noise is not an answer
    await asyncio.wait_for(line.hung_up.wait(), WAIT_S)  # the dialler hangs up after the message
    dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
    await settled(dialler)
    return line


async def test_a_machine_hears_the_kinds_message_once_then_is_retried(dialler: Dialler, store: Store,
                                                                      config) -> None:
    running_campaign(store, config, 1)
    assert store.spec(1).machine_message == health_check.KIND.machine_message
    line = await machine_call(dialler, amd_first=False)
    assert dialler.voice.said == [health_check.KIND.machine_message]  # whole, once; no opening, no question
    assert line.audio_frames >= len(health_check.KIND.machine_message) * 2  # ToneTts: 2 frames a character
    [attempt] = store.attempts_of(1)
    assert attempt["outcome"] == "machine" and attempt["answers"] == {}
    later = NOW + timedelta(minutes=store.spec(1).retry.no_answer_interval_minutes, seconds=1)
    assert [c.attempt_number for c in store.claim_due(later, "x", 5)] == [2]  # the retry policy as before


async def test_an_empty_machine_message_plays_nothing(dialler: Dialler, store: Store, config) -> None:
    running_campaign(store, config, 1, machine_message="")
    line = await machine_call(dialler)
    assert line.audio_frames == 0 and dialler.voice.said == []
    assert store.attempts_of(1)[0]["outcome"] == "machine"
