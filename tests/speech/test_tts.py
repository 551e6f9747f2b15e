"""espeak-ng TTS through pyttsx3 in worker processes: output format for the web (22.05 kHz) and the
phone (8 kHz s16le mono), repeated calls that do not hang, recovery from a dead worker, prompt cache."""

from __future__ import annotations

import wave

import pytest

from speech import tts
from speech.audio import read_wav
from speech.base import Audio, TtsEngine
from speech.tts.espeak import ESPEAK_RATE


def test_mandarin_at_native_rate(espeak_tts) -> None:
    audio = espeak_tts.synthesize("您好，请问有什么可以帮您？", "zh")
    assert audio.sample_rate == ESPEAK_RATE == 22_050
    assert 1.0 < audio.seconds < 6.0
    assert len(audio.pcm) % 2 == 0


def test_phone_audio_is_8k_s16le_mono(espeak_tts) -> None:
    native = espeak_tts.synthesize("请稍等", "zh")
    phone = tts.phone_audio(espeak_tts, "请稍等")
    assert phone.sample_rate == 8_000
    assert len(phone.pcm) % 2 == 0 and len(phone.pcm) % 320 in range(0, 320, 2)
    assert abs(phone.seconds - native.seconds) < 0.05


def test_english_and_bad_language(espeak_tts) -> None:
    assert espeak_tts.synthesize("Hello, how can I help?", "en").seconds > 0.5
    with pytest.raises(ValueError):
        espeak_tts.synthesize("Bonjour", "fr")
    assert espeak_tts.synthesize("  ", "zh").pcm == b""


def test_repeated_calls_do_not_hang(espeak_tts) -> None:
    seconds = [espeak_tts.synthesize(f"第{i}次测试", "zh").seconds for i in range(10)]
    assert min(seconds) > 0.5, seconds


def test_a_dead_worker_is_replaced(espeak_tts) -> None:
    for worker in list(espeak_tts._all):
        worker.process.kill()
        worker.process.wait()
    assert espeak_tts.synthesize("还在吗", "zh").seconds > 0.3


def test_prompt_cache_writes_once_then_reads_the_file(espeak_tts, tmp_path) -> None:
    cache = tts.PromptCache(espeak_tts, tmp_path)
    first = cache.get("您好，这里是政务服务热线。")
    files = list(tmp_path.glob("*.wav"))
    assert first.sample_rate == 8_000 and len(files) == 1
    with wave.open(str(files[0])) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8_000, 1, 2)

    class Broken(TtsEngine):
        name = espeak_tts.name

        def synthesize(self, text: str, language: str = "zh") -> Audio:
            raise AssertionError("a cached prompt must not be synthesized again")

    again = tts.PromptCache(Broken(), tmp_path).get("您好，这里是政务服务热线。")
    assert again.pcm == first.pcm == read_wav(str(files[0])).pcm
    assert cache.get("您好，这里是政务服务热线。", sample_rate=16_000).sample_rate == 16_000


def test_a_hung_worker_is_killed_after_the_timeout() -> None:
    """A synthesis that never answers (the pyttsx3 hang) costs one timeout, not a stalled call."""
    import os
    import signal
    import time

    from speech.tts.espeak import EspeakTts

    engine = EspeakTts({"zh": "cmn-latn-pinyin"}, rate=170, timeout_s=1.0, workers=1)
    try:
        engine.synthesize("预热", "zh")
        hung = engine._all[0]
        os.kill(hung.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert engine.synthesize("您好", "zh").seconds > 0.3
        assert 1.0 <= time.monotonic() - started < 5.0
        assert hung.process.poll() is not None and hung not in engine._all
    finally:
        engine.close()


@pytest.mark.parametrize("text", ["请稍等", "好的", "您好，请问有什么可以帮您？"])
def test_no_audio_is_lost(espeak_tts, text: str) -> None:
    """pyttsx3 2.99's save_to_file lost the last chunk now and then (short prompts came out empty or
    cut); our callback keeps every sample, so the length matches espeak-ng's own output."""
    from tests.speech.conftest import espeak

    reference = espeak(text, "cmn-latn-pinyin", ESPEAK_RATE, speed=espeak_tts.rate)
    assert abs(espeak_tts.synthesize(text, "zh").seconds - reference.seconds) < 0.1
