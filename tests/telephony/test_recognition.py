"""A real call understood by Whisper, the engine that knows Mandarin here.

sipp dials the real Asterisk, which hands the audio to the voice bot over AudioSocket; a recorded
Mandarin request must reach the assistant as the right words, and its answer must be heard.
"""

from __future__ import annotations

import time

import pytest

from telephony.testphone import CallMedia
from tests.telephony.helpers import call, call_log, similarity, speech_8k, wait_for

pytestmark = pytest.mark.e2e
ASR_ENGINE = "whisper"
REQUEST = "我要投诉，小区门口的路灯坏了。"
# A voice Whisper-base reads through µ-law (espeak-ng's default male voice decodes as 我要求求求…); with
# deterministic decoding the same recording gives the same words on every run (tests/e2e/test_phone_call.py).
VOICE, WPM = "cmn-latn-pinyin+f2", 110


async def test_a_spoken_request_is_recognised_and_answered(telephony) -> None:
    started = time.time()
    gateway = telephony.gateway
    before = len(gateway.received)

    async def resident(media: CallMedia) -> dict:
        greeting_at = await media.wait_voiced(0, 10)
        await media.wait_quiet(0.6, 30)  # let the greeting finish
        media.say(speech_8k(REQUEST, WPM, VOICE))
        spoken_end = await media.wait_sent()
        answer_at = await media.wait_voiced(spoken_end, 90)  # Whisper on 2 busy cores: seconds
        await media.wait_quiet(0.6, 60)  # the whole answer was heard
        return {"greeting_at": greeting_at, "answer_latency": answer_at - spoken_end}

    _result, sipp, media = await call(telephony, "13800138000", resident)
    assert sipp.ok, sipp.output[-2000:] + sipp.errors[-2000:]
    assert media.voiced_seconds() > 3, "the caller heard (almost) nothing"
    sent = gateway.received[before:]
    assert len(sent) == 1, sent
    # Whisper-base hears 我要投诉小区门口的路灯帅了: most characters, not all.
    assert similarity(REQUEST, sent[0]["message"]) >= 0.4, sent[0]["message"]
    phone = sent[0]["metadata"]["call"]
    assert sent[0]["metadata"]["channel"] == "phone"
    assert phone["caller"] == "13800138000" and phone["input"] == "speech"
    assert sent[0]["sender"] == f"phone-{phone['call_id']}"
    # Teardown: the session ended and the transcript has both sides.
    await wait_for(lambda: telephony.health()["calls_active"] == 0, 10)
    log = call_log(telephony, started)
    assert [t["text"] for t in log if t["who"] == "caller"] == [sent[0]["message"]]
    bot_lines = [t["text"] for t in log if t["who"] == "bot"]
    assert len(bot_lines) >= 2 and "已经为您登记" in bot_lines[1]
    assert log[-1]["text"] == "call_ended"
