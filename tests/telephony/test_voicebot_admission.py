"""The voice bot's admission limit: a caller above it hears the holding message, then the greeting once a
call ends (in arrival order); a caller who hangs up while holding frees nothing and breaks nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import settings
from telephony import audiosocket
from telephony.assistant import Reply
from telephony.state import CallSettings
from telephony.voice import sentences
from telephony.voicebot import VoiceBot
from tests.telephony.stand_ins import ScriptedAsr

HOLD_REPEAT_S = 0.5


class RecordingVoice:
    """Every text is one short voiced frame; the texts asked for are recorded in order."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.changed = asyncio.Event()

    async def frames(self, text: str) -> list[bytes]:
        self.said.append(text)
        self.changed.set()
        return [b"\x10\x27" * (audiosocket.FRAME_BYTES // 2)]

    async def warm(self, prompts: list[str]) -> None:
        return None

    async def until(self, predicate) -> None:
        while not predicate(self.said):
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10.0)


class SilentAssistant:
    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> Reply:
        return Reply(["好的。"])


async def eventually(predicate) -> None:
    """Until ``predicate()`` holds (the sessions react within a tick), at most 10 s."""
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), 10.0)


async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(audiosocket.uuid_frame(uuid.uuid4()))
    await writer.drain()
    return reader, writer


async def test_a_caller_above_the_limit_holds_then_is_greeted_when_a_call_ends(tmp_path: Path) -> None:
    conf = replace(CallSettings.from_settings(settings.section("telephony")), max_active_calls=1,
                   hold_repeat_s=HOLD_REPEAT_S)
    greeting, holding = sentences(conf.greeting)[0], sentences(conf.holding_message)[0]  # spoken sentence by sentence
    voice = RecordingVoice()
    bot = VoiceBot(conf, ScriptedAsr([]), voice, SilentAssistant(), tmp_path)  # type: ignore[arg-type]
    server = await bot.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _ra, first = await dial(port)
        await voice.until(lambda said: said.count(greeting) == 1)
        _rb, second = await dial(port)
        await voice.until(lambda said: said.count(holding) >= 2)  # repeated while waiting
        _rc, third = await dial(port)
        await voice.until(lambda said: said.count(holding) >= 4)
        assert voice.said.count(greeting) == 1 and bot.admission.waiting == 2

        third.write(audiosocket.hangup())  # the last caller gives up while holding
        await third.drain()
        await eventually(lambda: bot.admission.waiting == 1)  # its session notices the hang-up
        first.write(audiosocket.hangup())  # the first call ends: the second caller gets the place
        await first.drain()
        await voice.until(lambda said: said.count(greeting) == 2)
        assert bot.admission.active == 1 and bot.admission.waiting == 0
        second.write(audiosocket.hangup())
        await second.drain()
        await eventually(lambda: not bot.sessions)  # the sessions close their sockets
        assert bot.admission.active == 0
    finally:
        await bot.stop()
