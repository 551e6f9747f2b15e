"""Energy-based endpointing: when did the caller start talking, and when did they stop?

Why here and not inside an engine: Whisper has no streaming decoder, so its recogniser needs an
external endpointer to know when to transcribe; the phone loop can use the same detector for
barge-in while a prompt plays. Plain frame energy is enough on a telephone line (narrow band,
little background); the thresholds are in ``[speech]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from speech.audio import dbfs

FRAME_SECONDS = 0.02
SILERO_RATE = 16_000  # the only rate faster-whisper runs its Silero model at
FULL_SCALE = 32768.0


class Event(Enum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"        # trailing silence after speech, or the utterance grew too long
    SILENCE_TIMEOUT = "silence_timeout"  # nothing said at all within the timeout


@dataclass
class EndpointConfig:
    trailing_silence_s: float
    max_utterance_s: float
    silence_timeout_s: float
    energy_threshold_db: float
    min_speech_s: float
    uncertain_silence_s: float  # vosk only: the pause needed when the decoder is unsure

    @classmethod
    def from_settings(cls, conf: dict) -> EndpointConfig:
        return cls(float(conf["endpoint_trailing_silence_s"]), float(conf["endpoint_max_utterance_s"]),
                   float(conf["endpoint_silence_timeout_s"]), float(conf["vad_energy_threshold_db"]),
                   float(conf["vad_min_speech_s"]), float(conf["endpoint_uncertain_silence_s"]))


class EnergyEndpointer:
    """Feed s16le PCM of any chunk size; ``feed`` returns the events that the chunk completed."""

    def __init__(self, sample_rate: int, config: EndpointConfig) -> None:
        self.config = config
        self.frame_bytes = int(sample_rate * FRAME_SECONDS) * 2
        self._pending = b""
        self.reset()

    def reset(self) -> None:
        """Start listening for a new utterance."""
        self.in_speech = False
        self._voiced = 0.0      # consecutive loud time (to confirm speech start)
        self._silence = 0.0     # consecutive quiet time (after speech: trailing silence)
        self._waited = 0.0      # time without any speech since reset
        self._utterance = 0.0   # time since speech start

    def feed(self, pcm: bytes) -> list[Event]:
        events: list[Event] = []
        data = self._pending + pcm
        usable = len(data) - len(data) % self.frame_bytes
        self._pending = data[usable:]
        for start in range(0, usable, self.frame_bytes):
            event = self._frame(dbfs(data[start:start + self.frame_bytes]) >= self.config.energy_threshold_db)
            if event:
                events.append(event)
        return events

    def _frame(self, loud: bool) -> Event | None:
        cfg = self.config
        if not self.in_speech:
            self._voiced = self._voiced + FRAME_SECONDS if loud else 0.0
            self._waited += FRAME_SECONDS
            if self._voiced >= cfg.min_speech_s:
                self.in_speech, self._silence, self._utterance = True, 0.0, self._voiced
                return Event.SPEECH_START
            if self._waited >= cfg.silence_timeout_s:
                self._waited = 0.0
                return Event.SILENCE_TIMEOUT
            return None
        self._utterance += FRAME_SECONDS
        self._silence = 0.0 if loud else self._silence + FRAME_SECONDS
        if self._silence >= cfg.trailing_silence_s or self._utterance >= cfg.max_utterance_s:
            self.reset()
            return Event.SPEECH_END
        return None


@dataclass
class SpeechCheck:
    """Was there any speech in a finished utterance? Silero VAD, the ONNX model inside faster-whisper.

    Why a second detector after the energy endpointer: frame energy cannot tell a voice from music on
    hold or a tone, and Whisper makes words out of anything it is given (a chord sequence came out as
    飞线充电, one of its hotwords), so hold music reached the assistant as a turn. The check runs once
    per utterance (~10 ms for 5 s on one core), for the engines named in ``speech_check_engines``; an
    utterance without speech is answered by the re-ask, like one the recogniser heard nothing in.
    """

    engines: tuple[str, ...]
    threshold: float
    min_speech_s: float

    @classmethod
    def from_settings(cls, conf: dict) -> SpeechCheck:
        return cls(tuple(conf["speech_check_engines"]), float(conf["speech_check_threshold"]),
                   float(conf["speech_check_min_speech_s"]))

    def applies_to(self, engine_name: str) -> bool:
        return engine_name in self.engines

    def has_speech(self, pcm: bytes, sample_rate: int) -> bool:
        import numpy as np
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from speech.audio import resample
        from speech.base import Audio

        audio = resample(Audio(pcm, sample_rate), SILERO_RATE)
        waveform = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float32) / FULL_SCALE
        options = VadOptions(threshold=self.threshold, min_speech_duration_ms=int(self.min_speech_s * 1000))
        return bool(get_speech_timestamps(waveform, options, sampling_rate=SILERO_RATE))
