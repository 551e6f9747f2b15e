"""Vosk (Kaldi) streaming recognition: the design's phone engine, and the one with grammar mode.

Why the model overlay: vosk 0.3.45 has no ``SetEndpointerDelays`` (added in later releases), but its
decoder reads the endpoint rules from the model's ``conf/model.conf``. We build a directory of
symlinks to the model with our own model.conf, so the trailing-silence settings in ``[speech]`` apply
without touching the downloaded model. Newer vosk gets the same values through SetEndpointerDelays.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from speech.base import AsrEngine, StreamingRecognizer, Transcript
from speech.endpoint import EndpointConfig, EnergyEndpointer

try:
    import vosk
except ImportError as exc:  # pragma: no cover - the app environment has it
    raise ImportError("the vosk engine needs the vosk package: .venv-app/bin/pip install vosk") from exc

UNKNOWN = "[unk]"
_ENDPOINT_OPTION = re.compile(r"^--endpoint\.rule[1-5]\.(min-trailing-silence|min-utterance-length)=")


def endpoint_overlay(model_dir: Path, cache_dir: Path, endpoint: EndpointConfig) -> Path:
    """A symlinked copy of ``model_dir`` whose conf/model.conf carries our endpoint rules."""
    conf = model_dir / "conf" / "model.conf"
    base = [ln for ln in (conf.read_text().splitlines() if conf.exists() else []) if not _ENDPOINT_OPTION.match(ln)]
    rules = [
        f"--endpoint.rule1.min-trailing-silence={endpoint.silence_timeout_s}",   # nothing said at all
        f"--endpoint.rule2.min-trailing-silence={endpoint.trailing_silence_s}",  # pause, decoder confident
        f"--endpoint.rule3.min-trailing-silence={endpoint.uncertain_silence_s}",  # pause, decoder unsure
        f"--endpoint.rule4.min-trailing-silence={endpoint.uncertain_silence_s}",
        f"--endpoint.rule5.min-utterance-length={endpoint.max_utterance_s}",     # talking without a pause
    ]
    text = "\n".join(base + rules) + "\n"
    key = hashlib.sha256(f"{model_dir.resolve()}\n{text}".encode()).hexdigest()[:12]
    overlay = cache_dir / f"vosk-{model_dir.name}-{key}"
    if not (overlay / "conf" / "model.conf").exists():
        (overlay / "conf").mkdir(parents=True, exist_ok=True)
        for entry in model_dir.iterdir():
            if entry.name != "conf" and not (overlay / entry.name).exists():
                (overlay / entry.name).symlink_to(entry.resolve())
        for entry in (model_dir / "conf").glob("*") if (model_dir / "conf").is_dir() else []:
            if entry.name != "model.conf" and not (overlay / "conf" / entry.name).exists():
                (overlay / "conf" / entry.name).symlink_to(entry.resolve())
        (overlay / "conf" / "model.conf").write_text(text)
    return overlay


class VoskEngine(AsrEngine):
    name = "vosk"

    def __init__(self, model_dir: str | Path, endpoint: EndpointConfig, cache_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "am").is_dir():
            raise FileNotFoundError(f"Vosk 模型目录 {model_dir} 不存在或不完整：运行 `make models`")
        vosk.SetLogLevel(-1)
        self.endpoint = endpoint
        self.model_dir = endpoint_overlay(model_dir, Path(cache_dir), endpoint)
        self.model = vosk.Model(str(self.model_dir))

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> VoskEngine:
        from common.settings import resolve_path

        return cls(resolve_path(conf["vosk_model_dir"]), EndpointConfig.from_settings(conf),
                   resolve_path(conf["vosk_overlay_dir"]))

    def known(self, phrase: str) -> bool:
        """Whether every word of ``phrase`` is in the model's vocabulary (grammar words must be)."""
        return all(self.model.vosk_model_find_word(word) != -1 for word in phrase.split())

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        return VoskRecognizer(self, sample_rate, phrases)


class VoskRecognizer(StreamingRecognizer):
    def __init__(self, engine: VoskEngine, sample_rate: int, phrases: list[str] | None) -> None:
        if phrases:
            usable = [p for p in phrases if engine.known(p)]
            if not usable:
                raise ValueError(f"短语表里没有模型认识的词：{phrases}")
            if engine.known(UNKNOWN):  # lets out-of-grammar speech come out as [unk] instead of a forced match
                usable.append(UNKNOWN)
            self.kaldi = vosk.KaldiRecognizer(engine.model, sample_rate, json.dumps(usable, ensure_ascii=False))
        else:
            self.kaldi = vosk.KaldiRecognizer(engine.model, sample_rate)
        self.kaldi.SetWords(True)
        if hasattr(self.kaldi, "SetEndpointerDelays"):  # vosk >= 0.3.50
            ep = engine.endpoint
            self.kaldi.SetEndpointerDelays(ep.silence_timeout_s, ep.trailing_silence_s, ep.max_utterance_s)
        # Kaldi's rule1 already ends pure silence with an empty final; the energy detector only answers
        # `speaking` early (noise or out-of-grammar speech gives no partial text but is still barge-in).
        self.voice = EnergyEndpointer(sample_rate, engine.endpoint)
        self._partial = ""

    @property
    def speaking(self) -> bool:
        return bool(self._partial) or self.voice.in_speech

    def accept_audio(self, pcm: bytes) -> Transcript | None:
        self.voice.feed(pcm)
        if self.kaldi.AcceptWaveform(pcm):
            self._partial = ""
            return self._final(self.kaldi.Result())
        partial = _clean(json.loads(self.kaldi.PartialResult()).get("partial", ""))
        if partial != self._partial:
            self._partial = partial
            return Transcript(partial, False)
        return None

    def finish(self) -> Transcript:
        self._partial = ""
        self.voice.reset()
        return self._final(self.kaldi.FinalResult())

    @staticmethod
    def _final(raw: str) -> Transcript:
        result = json.loads(raw)
        words = [w for w in result.get("result", []) if w.get("word") != UNKNOWN]
        confidence = sum(w["conf"] for w in words) / len(words) if words else None
        return Transcript(_clean(result.get("text", "")), True, confidence)


def _clean(text: str) -> str:
    """Drop the [unk] placeholder that grammar mode emits for out-of-grammar speech."""
    return " ".join(word for word in text.split() if word != UNKNOWN)
