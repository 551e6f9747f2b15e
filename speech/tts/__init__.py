"""Speech synthesis engines, one module each (``speech.tts.create()``), and the fixed-prompt cache.

Why a disk cache for prompts: the greeting, re-prompts and apologies are the same text on every
call, so they are synthesized once (already resampled for the phone) and read from a WAV file
afterwards; only the assistant's varying answers pay for synthesis during a call.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from pathlib import Path

from common import settings
from speech.audio import read_wav, resample, to_wav
from speech.base import Audio, TtsEngine

ENGINES = {"espeak": ("speech.tts.espeak", "EspeakTts")}
DEFAULT_ENGINE = "espeak"
_loaded: dict[str, TtsEngine] = {}
_lock = threading.Lock()


def create(name: str = DEFAULT_ENGINE) -> TtsEngine:
    """The process-wide TTS engine (its worker processes start on first use)."""
    if name not in ENGINES:
        raise ValueError(f"unknown TTS engine {name!r}; known: {sorted(ENGINES)}")
    with _lock:
        if name not in _loaded:
            module, cls = ENGINES[name]
            _loaded[name] = getattr(importlib.import_module(module), cls).from_settings(settings.section("speech"))
        return _loaded[name]


def phone_audio(engine: TtsEngine, text: str, language: str = "zh") -> Audio:
    """Speech for a call: 8 kHz (``[speech] phone_sample_rate``) mono s16le."""
    return resample(engine.synthesize(text, language), int(settings.section("speech")["phone_sample_rate"]))


class PromptCache:
    """Fixed prompts, synthesized once per (engine, voice settings, text, rate) and kept as WAV files."""

    def __init__(self, engine: TtsEngine, directory: str | Path | None = None) -> None:
        conf = settings.section("speech")
        self.engine = engine
        self.directory = Path(directory or settings.resolve_path(conf["tts_cache_dir"]))
        # Voice settings are part of the key, so changing the voice or speed re-synthesizes.
        self._salt = f"{engine.name}|{conf['tts_voice_zh']}|{conf['tts_voice_en']}|{conf['tts_rate']}"

    def get(self, text: str, language: str = "zh", sample_rate: int | None = None) -> Audio:
        """The prompt at ``sample_rate`` (default: the phone rate)."""
        rate = sample_rate or int(settings.section("speech")["phone_sample_rate"])
        key = hashlib.sha256(f"{self._salt}|{language}|{rate}|{text}".encode()).hexdigest()[:24]
        path = self.directory / f"{key}.wav"
        if path.exists():
            return read_wav(str(path))
        audio = resample(self.engine.synthesize(text, language), rate)
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(to_wav(audio))
        partial.replace(path)  # atomic: concurrent calls never read half a file
        return audio
