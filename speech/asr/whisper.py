"""faster-whisper (Whisper base, CTranslate2 int8): the engine that understands Mandarin offline here.

Why an energy endpointer in front: Whisper decodes whole utterances, not a stream, so the recogniser
buffers audio from the start of speech and transcribes once the caller pauses. It gives no partial
hypotheses; ``speaking`` tells the phone loop when to stop a prompt (barge-in).

Why decoding is deterministic (one temperature, 0.0): faster-whisper's default fallback re-decodes a
doubtful result by *sampling* at rising temperatures, so the same phone utterance came out differently
on every call (10 runs of one µ-law complaint gave 10 different transcripts) and a resident could not
rely on being understood twice. Beam search with a mild repetition penalty instead keeps the loops
(求求求…) that greedy decoding fell into, without sampling, and the per-second token cap bounds what is
left. No initial prompt: a Simplified-Chinese prompt leaked into short or poorly heard answers (an 8 kHz
"不是" came out as "普通话的句子"); ``to_simplified`` gives Simplified characters instead. On the
project's clips (bench/voice.py, OMP_NUM_THREADS=1) CER went from 0.51 / 0.60 (16 / 8 kHz, sampled, so
it varied by run) to 0.45 / 0.44 at the same real-time factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech.audio import resample
from speech.base import AsrEngine, Audio, StreamingRecognizer, Transcript
from speech.endpoint import EndpointConfig, EnergyEndpointer, Event
from speech.normalize import to_simplified

try:
    from faster_whisper import WhisperModel
except ImportError as exc:  # pragma: no cover - the app environment has it
    raise ImportError("the whisper engine needs faster-whisper: .venv-app/bin/pip install faster-whisper") from exc

WHISPER_RATE = 16_000
PRE_ROLL_S = 0.3          # audio kept from before the detected speech start (onsets are quiet)
NO_SPEECH_MAX = 0.6       # segments Whisper itself thinks are silence are dropped (avoids hallucinations)
# Mandarin speech is at most ~6 characters a second, ~1.5 Whisper tokens each. Poorly heard audio can send
# decoding into a loop that runs to Whisper's 448-token limit and took 7–18 s here; this caps it.
MAX_TOKENS_PER_S = 15
MIN_TOKENS = 16


@dataclass(frozen=True)
class DecodeOptions:
    """How every utterance is decoded (``[speech] whisper_*``): the same for the phone, uploads and the CLI."""

    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0,)
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    pad_s: float = 0.0

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> DecodeOptions:
        return cls(int(conf["whisper_beam_size"]), tuple(float(t) for t in conf["whisper_temperatures"]),
                   float(conf["whisper_repetition_penalty"]), int(conf["whisper_no_repeat_ngram_size"]),
                   float(conf["whisper_pad_s"]))


class WhisperEngine(AsrEngine):
    name = "whisper"

    def __init__(self, model_dir: str | Path, endpoint: EndpointConfig, compute_type: str = "int8",
                 cpu_threads: int = 1, workers: int = 1, options: DecodeOptions | None = None) -> None:
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                  cpu_threads=cpu_threads, num_workers=workers)
        self.endpoint, self.options = endpoint, options or DecodeOptions()
        self.pad = np.zeros(int(self.options.pad_s * WHISPER_RATE), dtype=np.float32)

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> WhisperEngine:
        from common.settings import resolve_path

        return cls(resolve_path(conf["whisper_model_dir"]), EndpointConfig.from_settings(conf),
                   conf["whisper_compute_type"], int(conf["whisper_cpu_threads"]), int(conf["asr_workers"]),
                   DecodeOptions.from_settings(conf))

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        # Whisper cannot be constrained to a phrase list; callers needing that use vosk or DTMF.
        return WhisperRecognizer(self, sample_rate)

    def transcribe(self, audio: Audio, phrases: list[str] | None = None) -> str:
        """Whole recordings go to Whisper in one piece: it segments long audio better than our endpointer."""
        return self.decode(audio).text

    def decode(self, audio: Audio) -> Transcript:
        pcm = resample(audio, WHISPER_RATE).pcm
        if not pcm:
            return Transcript("", True)
        # Whisper was trained on padded 30 s windows; speech that starts at sample 0 loses its first syllable.
        waveform = np.concatenate([self.pad, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, self.pad])
        opts = self.options
        segments, _info = self.model.transcribe(
            waveform, language="zh", task="transcribe", beam_size=opts.beam_size,
            temperature=list(opts.temperatures), repetition_penalty=opts.repetition_penalty,
            no_repeat_ngram_size=opts.no_repeat_ngram_size, initial_prompt=None, condition_on_previous_text=False,
            without_timestamps=True, vad_filter=False,
            max_new_tokens=MIN_TOKENS + int(audio.seconds * MAX_TOKENS_PER_S))
        kept = [s for s in segments if s.no_speech_prob < NO_SPEECH_MAX]
        text = to_simplified("".join(s.text.strip() for s in kept))
        confidence = math.exp(sum(s.avg_logprob for s in kept) / len(kept)) if kept else None
        return Transcript(text, True, confidence)


class WhisperRecognizer(StreamingRecognizer):
    def __init__(self, engine: WhisperEngine, sample_rate: int) -> None:
        self.engine, self.sample_rate = engine, sample_rate
        self.endpointer = EnergyEndpointer(sample_rate, engine.endpoint)
        self._pre_roll = int(PRE_ROLL_S * sample_rate) * 2
        self._buffer = bytearray()

    @property
    def speaking(self) -> bool:
        return self.endpointer.in_speech

    def accept_audio(self, pcm: bytes) -> Transcript | None:
        was_speaking = self.endpointer.in_speech
        events = self.endpointer.feed(pcm)
        self._buffer += pcm
        if not was_speaking and not self.endpointer.in_speech and Event.SPEECH_END not in events:
            del self._buffer[:-self._pre_roll or None]
        if Event.SPEECH_END in events:
            return self._flush()
        if Event.SILENCE_TIMEOUT in events:
            return Transcript("", True)
        return None

    def finish(self) -> Transcript:
        return self._flush() if self.endpointer.in_speech else Transcript("", True)

    def _flush(self) -> Transcript:
        audio = Audio(bytes(self._buffer), self.sample_rate)
        self._buffer.clear()
        self.endpointer.reset()
        return self.engine.decode(audio)
