"""Bad input on the phone: music on hold played by the caller, and keys pressed while the caller talks.

Issue 11's "bad input": neither may hang the call or lose a turn. Music is loud and continuous, so the
energy endpointer takes it for speech: the recogniser then hears nothing it can use (the stand-in says
so by returning nothing), and the bot must re-ask once the music stops, and still take the caller's next
words as a turn. A key pressed in the middle of an utterance must be handled, and the words around it
must still reach the assistant. Driven over a real AudioSocket connection as in test_voicebot.py.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from common import settings
from speech.audio import dbfs
from speech.endpoint import SpeechCheck
from telephony.audiosocket import FRAME_BYTES, SAMPLE_RATE
from telephony.latency import request_audio
from telephony.state import CallSettings
from tests.telephony.helpers import wait_for
from tests.telephony.stand_ins import LOUD, QUIET, ScriptedAsr
from tests.telephony.test_voicebot import Caller, bot, bot_lines, last_message, log_of  # noqa: F401 (fixture)

FRAME_S = 0.02
# Hold music: a I–vi–IV–V chord sequence (C, Am, F, G), each chord sounding with a soft attack and decay.
CHORDS_HZ = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]
CHORD_S = 1.25
MUSIC_PEAK = 0.3  # of full scale: as loud as a caller's voice, far above the speech threshold
ATTACK_S = 0.05
REPLY_TIMEOUT_S = 10.0
REQUEST = "我要投诉，小区门口的路灯坏了。"
# The caller's voice where the speech check must hear one: espeak-ng's command line (no worker needed here).
FALLBACK_VOICE, FALLBACK_WPM = "cmn-latn-pinyin+f2", 160
SPOKEN_FRAMES, PAUSE_FRAMES = 25, 40  # half a second of "speech", then enough silence to end the turn


def hold_music(seconds: float = len(CHORDS_HZ) * CHORD_S) -> bytes:
    """``seconds`` of the chord sequence at 8 kHz (16-bit mono PCM), repeated as hold music is."""
    t = np.arange(int(CHORD_S * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1.0, t / ATTACK_S) * np.exp(-t / CHORD_S)
    chords = [sum(np.sin(2 * np.pi * f * t) for f in chord) / len(chord) * envelope for chord in CHORDS_HZ]
    loop = np.concatenate(chords)
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(loop)))
    wave = np.tile(loop, reps)[:int(seconds * SAMPLE_RATE)]
    return (wave * MUSIC_PEAK * 32767).astype("<i2").tobytes()


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES)]


async def play(caller: Caller, pcm: bytes) -> None:
    for frame in frames(pcm):
        await caller.send(frame, 1)


def test_the_hold_music_is_loud_enough_to_be_taken_for_speech() -> None:
    """The premise of the music tests: every 20 ms of it is above the speech threshold after its attack."""
    threshold = CallSettings.from_settings(settings.section("telephony")).speech_threshold_dbfs
    music = frames(hold_music())
    assert len(music) * FRAME_S == pytest.approx(len(CHORDS_HZ) * CHORD_S, abs=FRAME_S)
    assert all(dbfs(frame) > threshold for frame in music[3:])


async def test_hold_music_gets_a_re_ask_and_the_next_words_are_a_turn(bot) -> None:  # noqa: F811
    bot.asr = ScriptedAsr(["", "我要投诉路灯坏了"])  # the music recognised as nothing, then the request
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await play(caller, hold_music())
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: bot.conf.not_understood in bot_lines(bot), REPLY_TIMEOUT_S)
    assert not bot.gateway.received, "the music was sent to the assistant as a turn"
    await caller.until_quiet()
    await caller.send(LOUD, SPOKEN_FRAMES)
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: last_message(bot) == "我要投诉路灯坏了", REPLY_TIMEOUT_S)
    await caller.hang_up()
    await wait_for(lambda: not bot.sessions, 5)
    assert log_of(bot)[-1]["extra"]["reason"] == "caller_hung_up"


def test_the_speech_check_tells_a_voice_from_music_and_tones() -> None:
    check = SpeechCheck.from_settings(settings.section("speech"))
    assert check.applies_to("whisper") and not check.applies_to("vosk")
    assert check.has_speech(request_audio(REQUEST, FALLBACK_WPM, FALLBACK_VOICE), SAMPLE_RATE)
    assert not check.has_speech(hold_music(), SAMPLE_RATE)
    assert not check.has_speech(LOUD * 100, SAMPLE_RATE)  # two seconds of one tone
    assert not check.has_speech(QUIET * 100, SAMPLE_RATE)


async def test_words_a_recogniser_makes_out_of_music_are_not_a_turn(bot) -> None:  # noqa: F811
    """Whisper heard the chord sequence as 飞线充电 (one of its hotwords): the speech check drops it."""
    bot.asr = ScriptedAsr(["飞线充电", "我要投诉路灯坏了"])
    with settings.overrides({"GOVBOT__SPEECH__SPEECH_CHECK_ENGINES": '["scripted"]'}):  # as for Whisper
        caller = await Caller.dial(bot.port)
        await wait_for(lambda: bot.sessions, REPLY_TIMEOUT_S)  # its listener is made with the override
    assert next(iter(bot.sessions.values())).listener.speech_check is not None
    await caller.until_quiet()
    await play(caller, hold_music())
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: bot.conf.not_understood in bot_lines(bot), REPLY_TIMEOUT_S)
    assert not bot.gateway.received, bot.gateway.received
    await caller.until_quiet()
    await play(caller, request_audio(REQUEST, FALLBACK_WPM, FALLBACK_VOICE))  # a voice this time
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: last_message(bot) == "我要投诉路灯坏了", REPLY_TIMEOUT_S)
    await caller.hang_up()


async def test_hold_music_longer_than_an_utterance_is_cut_and_the_call_goes_on(bot) -> None:  # noqa: F811
    """Music past ``max_utterance_s`` becomes several empty utterances: re-asks, never a hung call."""
    bot.conf = replace(bot.conf, max_utterance_s=1.5)
    bot.asr = ScriptedAsr(["", "", "", "", "我要投诉路灯坏了"])
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await play(caller, hold_music(4.0))
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: bot_lines(bot).count(bot.conf.not_understood) >= 2, REPLY_TIMEOUT_S)
    assert not bot.gateway.received
    caller.key("0")
    await wait_for(lambda: last_message(bot) == "转人工", REPLY_TIMEOUT_S)
    assert bot.sessions, "the call ended"
    await caller.hang_up()


async def test_a_key_pressed_while_talking_is_handled_and_the_words_are_kept(bot) -> None:  # noqa: F811
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, SPOKEN_FRAMES)
    caller.key("0")  # mid-sentence
    await caller.send(LOUD, SPOKEN_FRAMES)
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: len(bot.gateway.received) >= 2, REPLY_TIMEOUT_S)
    assert sorted(m["message"] for m in bot.gateway.received) == sorted(["转人工", "我要投诉路灯坏了"])
    keyed = next(m for m in bot.gateway.received if m["message"] == "转人工")
    assert keyed["metadata"]["call"]["handoff"] is True
    await caller.hang_up()
    log = log_of(bot)
    assert [t["text"] for t in log if t["who"] == "dtmf"] == ["0"]
    assert [t["text"] for t in log if t["who"] == "caller"] == ["我要投诉路灯坏了"]


async def test_a_choice_key_pressed_while_talking_answers_the_open_question(bot) -> None:  # noqa: F811
    bot.gateway.buttons = [{"title": "确认", "payload": "/affirm"}, {"title": "取消", "payload": "/deny"}]
    bot.asr = ScriptedAsr(["我要投诉路灯坏了", "对的"])
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, SPOKEN_FRAMES)
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: any(line.endswith("取消请按2。") for line in bot_lines(bot)), REPLY_TIMEOUT_S)
    await caller.until_quiet()
    await caller.send(LOUD, SPOKEN_FRAMES)
    caller.key("1")  # "对的" and the key at once: the key answers, the words are a turn of their own
    await caller.send(LOUD, SPOKEN_FRAMES)
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: len(bot.gateway.received) >= 3, REPLY_TIMEOUT_S)
    assert [m["message"] for m in bot.gateway.received[1:]].count("/affirm") == 1
    assert "对的" in [m["message"] for m in bot.gateway.received[1:]]
    await caller.hang_up()


async def test_digits_typed_while_talking_are_sent_as_one_number(bot) -> None:  # noqa: F811
    caller = await Caller.dial(bot.port)
    await caller.until_quiet()
    await caller.send(LOUD, SPOKEN_FRAMES)
    for digit in "1234":
        caller.key(digit)
        await caller.send(LOUD, 2)
    caller.key("#")
    await caller.send(QUIET, PAUSE_FRAMES)
    await wait_for(lambda: len(bot.gateway.received) >= 2, REPLY_TIMEOUT_S)
    assert sorted(m["message"] for m in bot.gateway.received) == sorted(["1234", "我要投诉路灯坏了"])
    started = time.monotonic()
    await caller.until_quiet()
    caller.key("0")
    await wait_for(lambda: last_message(bot) == "转人工", REPLY_TIMEOUT_S)
    assert time.monotonic() - started < REPLY_TIMEOUT_S
    await caller.hang_up()
