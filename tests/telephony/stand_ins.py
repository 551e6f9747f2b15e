"""Stand-ins for the speech engines in call tests: the dialogue is under test, not recognition or the voice."""

from __future__ import annotations

import numpy as np

from speech.base import AsrEngine, Audio, StreamingRecognizer, Transcript, TtsEngine
from telephony.audiosocket import FRAME_BYTES

LOUD = (np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2").tobytes()  # 20 ms of 440 Hz
QUIET = bytes(FRAME_BYTES)


class ScriptedAsr(AsrEngine):
    """Returns the next scripted sentence for each utterance (whatever was said)."""

    name = "scripted"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        engine = self

        class Recognizer(StreamingRecognizer):
            def accept_audio(self, pcm: bytes) -> Transcript | None:
                return None

            def finish(self) -> Transcript:
                return Transcript(engine.texts.pop(0) if engine.texts else "", True, 0.9)

        return Recognizer()


class ToneTts(TtsEngine):
    """40 ms of tone per character at 8 kHz: prompt lengths are predictable."""

    name = "tone"

    def synthesize(self, text: str, language: str = "zh") -> Audio:
        return Audio(LOUD * (2 * len(text)), 8000)
