"""Turn latency over a real Asterisk, measured where the resident sits (``bench/voice.py`` uses this).

Turn latency = from the last voiced 20 ms frame of the caller's request leaving the phone to the
first voiced frame of the bot's reply reaching it: endpointing + recognition + the assistant +
synthesis of the first sentence + Asterisk both ways. Calls run at the same time (``calls``), each
saying the request ``turns`` times after the bot has finished speaking; speech starts are spread
over ``stagger_s`` so 20 callers do not all stop talking in the same 20 ms.

Two arrival patterns: a *burst* (every call dialled in the same second, so all callers hear the
same greeting and speak in the same few seconds: the worst case) and *arrivals* at ``calls_per_s``
(calls come in one after another, as they do at a hotline, and are then all in progress at once,
each in its own phase of the conversation). Each turn also records how many calls were in progress.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import settings
from telephony.testphone import CallMedia, Sipp
from telephony.teststack import StandInGateway, engine_env, stack_env, start_asterisk, start_bot, stop_process

REQUEST = "我要投诉，小区门口的路灯坏了。"


@dataclass
class LatencyRun:
    engine: str
    calls: int
    latencies: list[float]
    failures: int
    prepare_s: float
    calls_per_s: float | None = None  # None: a burst
    in_progress: list[int] | None = None  # calls in progress at each turn


@dataclass
class Spec:
    calls: int
    turns: int
    calls_per_s: float | None = None


class InProgress:
    """Calls connected and not yet hung up, sampled at each turn."""

    def __init__(self) -> None:
        self.now = 0
        self.samples: list[int] = []


def request_audio(text: str = REQUEST, words_per_minute: int = 160, voice: str = "cmn-latn-pinyin") -> bytes:
    """A resident's spoken request: espeak-ng's Mandarin voice (the command line, independent of the
    product's TTS engine), resampled to the phone's 8 kHz. The same arguments give the same samples."""
    from speech.audio import read_wav, resample

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", f"{tmp}/r.wav", text],
                       check=True)
        return resample(read_wav(f"{tmp}/r.wav"), 8000).pcm


async def _caller(phone: CallMedia, sipp: Sipp, index: int, pcm: bytes, turns: int, stagger_s: float,
                  answer_timeout_s: float, active: InProgress) -> list[float]:
    await phone.connected(120)
    active.now += 1
    latencies = []
    try:
        await phone.wait_voiced(0, 60)
        for _ in range(turns):
            await phone.wait_quiet(0.8, 120)
            await asyncio.sleep(random.uniform(0, stagger_s))
            phone.say(pcm)
            spoken_end = await phone.wait_sent()
            answered = await phone.wait_voiced(spoken_end, answer_timeout_s)
            latencies.append(answered - spoken_end)
            active.samples.append(active.now)
    finally:
        active.now -= 1
        sipp.hangup(index)
    return latencies


async def measure(spec: Spec, sip_port: int, stagger_s: float = 3.0,
                  answer_timeout_s: float = 120.0) -> tuple[list[float], int, list[int]]:
    pcm = request_audio()
    phones = [await CallMedia.open() for _ in range(spec.calls)]
    sipp = Sipp(sip_port, phones, [f"1360000{i:04d}" for i in range(spec.calls)], max_call_s=600,
                calls_per_s=spec.calls_per_s)
    active = InProgress()
    await sipp.start()
    try:
        results = await asyncio.gather(*(_caller(p, sipp, i, pcm, spec.turns, stagger_s, answer_timeout_s, active)
                                         for i, p in enumerate(phones)), return_exceptions=True)
        await sipp.wait(120)
    finally:
        sipp.kill()
        for phone in phones:
            phone.close()
    latencies = [value for result in results if isinstance(result, list) for value in result]
    failures = sum(1 for result in results if isinstance(result, BaseException))
    return latencies, failures, active.samples


def run(engine: str, runs: list[Spec]) -> list[LatencyRun]:
    """Start Asterisk, the bot (``engine``) and a stand-in gateway on free ports; measure each run."""
    data_dir = Path(tempfile.mkdtemp(prefix="govbot-latency-"))
    env = stack_env(data_dir)
    with settings.overrides(env):
        asterisk = bot = None
        gateway = StandInGateway(int(env["GOVBOT__GATEWAY__PORT"])).start()
        try:
            started = time.monotonic()
            asterisk = start_asterisk()
            bot = start_bot(data_dir / "telephony.log", engine_env(engine))
            prepare_s = time.monotonic() - started
            sip_port = int(settings.section("telephony")["sip_port"])
            out = []
            for spec in runs:
                latencies, failures, in_progress = asyncio.run(measure(spec, sip_port))
                out.append(LatencyRun(engine, spec.calls, latencies, failures, prepare_s, spec.calls_per_s,
                                      in_progress))
            return out
        finally:
            for proc in (bot, asterisk):
                if proc is not None:
                    stop_process(proc)
            gateway.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
