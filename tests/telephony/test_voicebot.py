"""The per-call state machine, driven by a real AudioSocket client over TCP (no Asterisk needed).

The recogniser and the voice are small doubles (a recogniser that returns a scripted sentence, a
voice that turns text into a tone as long as the text), so these tests are about the call loop:
pacing, turn-taking, barge-in, keys, silence, the assistant failing, teardown and the call log.
What the bot does in reaction to the caller is awaited (``wait_for``), never slept for: two shared
cores under load make any fixed pause too short some day.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest

from common import settings
from common.net import free_port
from speech.base import Audio
from telephony import audiosocket, calllog
from telephony.assistant import AssistantClient, Choice, assign_keys, keypad_prompt
from telephony.audiosocket import FRAME_BYTES, Kind
from telephony.state import CallSettings
from telephony.teststack import StandInGateway
from telephony.voice import PhoneVoice
from telephony.voicebot import VoiceBot
from tests.telephony.helpers import wait_for
from tests.telephony.stand_ins import LOUD, QUIET, ScriptedAsr, ToneTts


class Caller:
    """Asterisk's side of one AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.audio_at: list[float] = []
        self.hangup_frame = False
        self.closed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def dial(cls, port: int) -> Caller:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(audiosocket.uuid_frame(uuid.uuid4()))
        return cls(reader, writer)

    async def _read(self) -> None:
        while (frame := await audiosocket.read_frame(self.reader)) is not None:
            if frame.kind is Kind.AUDIO:
                assert len(frame.payload) == FRAME_BYTES
                self.audio_at.append(time.monotonic())
            elif frame.kind is Kind.HANGUP:
                self.hangup_frame = True
        self.closed.set()

    async def send(self, frame: bytes, count: int) -> None:
        """``count`` frames of caller audio, paced like Asterisk (20 ms)."""
        for _ in range(count):
            self.writer.write(audiosocket.audio(frame))
            await asyncio.sleep(0.02)

    def key(self, digit: str) -> None:
        self.writer.write(audiosocket.dtmf(digit))

    async def until_quiet(self, quiet_s: float = 0.15, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.audio_at and time.monotonic() - self.audio_at[-1] > quiet_s:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError

    def frames_between(self, start: float, end: float) -> int:
        return sum(1 for at in self.audio_at if start <= at <= end)

    async def hang_up(self) -> None:
        self.writer.close()
        await asyncio.wait_for(self.closed.wait(), 5)


@pytest.fixture
async def bot(tmp_path):
    gateway = StandInGateway(free_port()).start()
    conf = replace(CallSettings.from_settings(settings.section("telephony")), greeting="您好请讲", reprompt="请讲",
                   goodbye_silence="再见", silence_reprompt_s=0.6, max_reprompts=1, endpoint_silence_ms=300,
                   dtmf_digit_timeout_s=0.5, caller_lookup_timeout_s=0.0)
    asr = ScriptedAsr(["我要投诉路灯坏了"])
    assistant = AssistantClient(f"http://127.0.0.1:{gateway.port}", 5.0)
    voicebot = VoiceBot(conf, asr, PhoneVoice(ToneTts()), assistant, tmp_path / "calls")
    server = await voicebot.start("127.0.0.1", 0)
    voicebot.port = server.sockets[0].getsockname()[1]
    voicebot.gateway = gateway
    yield voicebot
    await voicebot.stop()
    await assistant.close()
    gateway.stop()


def log_of(bot) -> list[dict]:
    files = sorted(bot.calls_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return calllog.read(files[-1])


def bot_lines(bot) -> list[str]:
    """What the bot has said on the latest call so far (nothing before the call log exists)."""
    return [t["text"] for t in log_of(bot) if t["who"] == "bot"] if any(bot.calls_dir.glob("*.jsonl")) else []


def last_message(bot) -> str | None:
    """What the assistant was sent last (None before anything)."""
    return bot.gateway.received[-1]["message"] if bot.gateway.received else None


async def test_greeting_is_paced_at_20_ms_per_frame(bot) -> None:
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    frames = len(caller.audio_at)
    assert frames == 2 * len("您好请讲") * 160 * 2 // FRAME_BYTES  # 40 ms per character → 16 frames
    span = caller.audio_at[-1] - caller.audio_at[0]
    assert span == pytest.approx((frames - 1) * 0.02, abs=0.03)
    await caller.hang_up()


async def test_speech_is_recognised_sent_to_the_assistant_and_answered(bot) -> None:
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, 25)
    spoken_end = time.monotonic()
    await caller.send(QUIET, 40)
    await wait_for(lambda: last_message(bot) == "我要投诉路灯坏了", 10)
    metadata = bot.gateway.received[-1]["metadata"]
    assert metadata["channel"] == "phone" and metadata["call"]["input"] == "speech"
    await wait_for(lambda: caller.frames_between(spoken_end, time.monotonic()) > 0, 10)  # the answer is playing
    await caller.hang_up()
    await wait_for(lambda: not bot.sessions, 5)
    log = log_of(bot)
    assert [t["who"] for t in log] == ["event", "bot", "caller", "bot", "event"]
    assert log[-1]["extra"]["reason"] == "caller_hung_up" and not bot.sessions


async def test_caller_talking_over_a_prompt_stops_it(bot) -> None:
    bot.conf = replace(bot.conf, greeting="您" * 100)  # a 4-second greeting
    caller = await Caller.dial(bot.port)
    await wait_for(lambda: caller.audio_at, 5)  # the greeting is playing
    started = time.monotonic()
    await caller.send(LOUD, 30)
    # barge_in_ms (200) + a frame or two after the caller started, the greeting is cut.
    assert caller.frames_between(started + 0.35, time.monotonic()) == 0
    await caller.send(QUIET, 30)
    await caller.hang_up()
    assert any(t["text"] == "barge_in" for t in log_of(bot))


async def test_key_0_asks_for_a_person_and_digits_are_sent_as_a_number(bot) -> None:
    caller = await Caller.dial(bot.port)
    caller.key("0")
    await wait_for(lambda: last_message(bot) == "转人工", 5)
    assert bot.gateway.received[-1]["metadata"]["call"]["handoff"] is True
    for digit in "123":
        caller.key(digit)
    await wait_for(lambda: last_message(bot) == "123", 5)  # after dtmf_digit_timeout_s (0.5), without '#'
    await caller.hang_up()


async def test_buttons_become_keys_and_a_key_answers_with_the_buttons_payload(bot) -> None:
    bot.gateway.buttons = [{"title": "确认", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, 25)
    await caller.send(QUIET, 30)
    await caller.until_quiet()
    spoken = [t["text"] for t in log_of(bot) if t["who"] == "bot"]
    assert spoken[-1].endswith("确认请按1，取消请按2。"), spoken
    caller.key("9")  # not one of the choices: typed digits, sent as a number after the pause
    await wait_for(lambda: last_message(bot) == "9", 5)
    await caller.until_quiet()
    caller.key("2")
    await wait_for(lambda: last_message(bot) == "/deny", 5)  # a choice: its payload, not the digit
    assert bot.gateway.received[-1]["metadata"]["call"] == {**bot.gateway.received[-1]["metadata"]["call"],
                                                            "input": "dtmf", "choice": "取消"}
    await caller.hang_up()


def test_rating_buttons_keep_their_own_digits() -> None:
    ratings = assign_keys([Choice(f"{n}分", f"{n}分") for n in (5, 4, 3, 2, 1)])
    assert keypad_prompt(ratings) == "5分请按5，4分请按4，3分请按3，2分请按2，1分请按1"
    mixed = assign_keys([Choice("确认提交", "/affirm"), Choice("2号楼", "2号楼"), Choice("取消", "/deny")])
    assert [c.key for c in mixed] == ["1", "2", "3"]


async def test_silence_gets_a_reprompt_then_a_goodbye_and_the_bot_hangs_up(bot) -> None:
    caller = await Caller.dial(bot.port)
    await asyncio.wait_for(caller.closed.wait(), 10)
    assert caller.hangup_frame
    log = log_of(bot)
    assert [t["text"] for t in log if t["who"] == "bot"] == ["您好请讲", "请讲", "再见"]
    assert log[-1]["extra"]["reason"] == "silence"


async def test_an_unavailable_assistant_gets_an_apology(bot) -> None:
    bot.gateway.mode = "unavailable"
    caller = await Caller.dial(bot.port)
    caller.key("7")
    caller.key("#")
    await wait_for(lambda: bot_lines(bot)[-1:] == [bot.conf.apology], 5)
    await caller.hang_up()
    log = log_of(bot)
    assert any(t["text"] == "assistant_unavailable" for t in log)
    assert [t["text"] for t in log if t["who"] == "bot"][-1] == bot.conf.apology


async def test_max_call_length_ends_the_call_politely(bot) -> None:
    bot.conf = replace(bot.conf, max_call_s=0.5, silence_reprompt_s=30)
    caller = await Caller.dial(bot.port)
    await asyncio.wait_for(caller.closed.wait(), 20)
    log = log_of(bot)
    assert [t["text"] for t in log if t["who"] == "bot"][-1] == bot.conf.goodbye_max_call
    assert log[-1]["extra"]["reason"] == "max_call_length"


async def test_a_phone_that_stops_sending_audio_after_speaking_still_ends_its_turn(bot) -> None:
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, 25)  # then nothing at all (silence suppression), not even quiet frames
    await wait_for(lambda: last_message(bot) == "我要投诉路灯坏了", 5)
    await caller.hang_up()


async def test_a_sentence_the_voice_cannot_say_does_not_end_the_call(bot) -> None:
    class BrokenForReplies(ToneTts):
        def synthesize(self, text: str, language: str = "zh") -> Audio:
            if "登记" in text:
                raise RuntimeError("espeak worker died")
            return super().synthesize(text, language)

    bot.voice = PhoneVoice(BrokenForReplies())
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, 25)
    await caller.send(QUIET, 40)  # the reply's second sentence fails; its first is still said
    await caller.until_quiet(0.3)
    caller.key("0")
    await wait_for(lambda: last_message(bot) == "转人工", 5)
    assert bot.sessions
    await caller.hang_up()
    assert any(t["text"] == "tts_failed" for t in log_of(bot))


async def test_no_reprompt_over_an_utterance_waiting_for_its_turn(bot) -> None:
    """Under load the silence tick can run after a caller's words were recognised but before their turn
    left the queue: the bot re-prompted "您还在吗" over the answer (and a caller who hung up was never heard)."""
    from telephony.listener import Utterance

    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    session = next(iter(bot.sessions.values()))
    session.state.last_activity -= bot.conf.silence_reprompt_s  # silent long enough for a re-prompt …
    session.events.put_nowait(Utterance("我要投诉路灯坏了", 0.9, time.monotonic(), 1.2))  # … but an answer waits
    await session._on_tick()  # the tick that came first
    await wait_for(lambda: last_message(bot) == "我要投诉路灯坏了", 5)
    assert bot.conf.reprompt not in bot_lines(bot)
    await caller.hang_up()
