"""A phone call through everything real: sipp → Asterisk 22 → AudioSocket voice bot (Whisper) →
gateway → Rasa → actions, and the spoken answer back to the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from common import settings
from telephony.testphone import CallMedia
from telephony.teststack import engine_env, start_asterisk, start_bot, stop_process
from telephony.teststack import stack_env as phone_ports
from tests.telephony.helpers import call, call_log, similarity, speech_8k

pytestmark = pytest.mark.e2e
REQUEST = "我要投诉，小区门口的路灯坏了。"
CALLER = "13700137000"


@dataclass
class Phone:
    sip_port: int
    health_url: str
    data_dir: Path

    def health(self) -> dict:
        return httpx.get(self.health_url, timeout=5).json()

    def calls(self) -> list[Path]:
        return sorted((self.data_dir / "calls").glob("*.jsonl"))


@pytest.fixture
def phone(stack) -> Iterator[Phone]:
    ports = {key: value for key, value in phone_ports(stack.data_dir).items()
             if key.startswith("GOVBOT__TELEPHONY__")}  # the stack's gateway and data dir stay
    with settings.overrides(ports):
        asterisk = start_asterisk()
        bot = start_bot(stack.data_dir / "telephony-e2e.log", engine_env("whisper"))
        conf = settings.section("telephony")
        try:
            yield Phone(int(conf["sip_port"]), f"http://127.0.0.1:{conf['health_port']}/health", stack.data_dir)
        finally:
            stop_process(bot)
            stop_process(asterisk)


async def test_a_phoned_complaint_reaches_the_assistant_and_is_answered(stack, phone: Phone) -> None:
    started = time.time()

    async def resident(media: CallMedia) -> float:
        await media.wait_voiced(0, 15)  # the greeting
        await media.wait_quiet(0.6, 30)
        media.say(speech_8k(REQUEST))
        spoken_end = await media.wait_sent()
        answer_at = await media.wait_voiced(spoken_end, 120)
        await asyncio.sleep(1.0)
        return answer_at - spoken_end

    latency, sipp, _media = await call(phone, CALLER, resident)
    assert sipp.ok, sipp.output[-2000:] + sipp.errors[-2000:]
    log = call_log(phone, started)
    heard = [line["text"] for line in log if line["who"] == "caller"]
    assert heard and similarity(REQUEST, heard[0]) >= 0.4, heard
    call_id = max(phone.calls(), key=lambda p: p.stat().st_mtime).stem  # the call log is named after the call
    token = settings.read_or_create_secret(settings.section("rasa")["api_token_file"])
    tracker = httpx.get(f"{settings.base_url('rasa')}/conversations/phone-{call_id}/tracker",
                        params={"token": token}, timeout=10).json()
    users = [e for e in tracker["events"] if e["event"] == "user"]
    bots = [e for e in tracker["events"] if e["event"] == "bot"]
    assert users and users[0]["metadata"]["phone"] == CALLER and users[0]["input_channel"] == "phone"
    assert bots, "the assistant did not answer the caller"
    assert [line["text"] for line in log if line["who"] == "bot"], "nothing was spoken back"
    assert latency < 60
