"""Speech for the phone: the ASR/TTS engines from ``speech``, and 8 kHz prompts with a cache.

Why a thin layer here: the call loop needs phone-rate frames, needs synthesis and recognition off
the event loop (a blocking engine must not stall the 20 ms pacing of other calls), and needs the
fixed prompts ready before the first call; the engines themselves stay in ``speech``.
"""

from __future__ import annotations

import asyncio
import logging
import re

from speech.base import AsrEngine, Audio, TtsEngine
from telephony.audiosocket import SAMPLE_RATE, split_frames

log = logging.getLogger(__name__)
SYNTH_ATTEMPTS = 3
MIN_PROMPT_S = 0.2  # less audio than this for a sentence means the synthesis went wrong
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


class EngineMissing(RuntimeError):
    """No usable speech engine: the message tells the operator what to run."""


def load_asr(name: str = "auto") -> AsrEngine:
    """The configured recogniser, or EngineMissing naming ``make models``."""
    try:
        from speech import asr
    except ImportError as exc:  # pragma: no cover - depends on the speech package's progress
        raise EngineMissing(f"the speech package has no ASR factory yet ({exc}); run `make models`") from None
    try:
        return asr.create(name)
    except Exception as exc:  # any failure here means "no usable model"
        raise EngineMissing(f"no speech recognition model is available ({exc}). "
                            "Run `make models` to install one, or set [speech] asr_engine.") from None


def load_tts() -> TtsEngine:
    try:
        from speech import tts
    except ImportError as exc:  # pragma: no cover
        raise EngineMissing(f"the speech package has no TTS factory yet ({exc})") from None
    try:
        return tts.create()
    except Exception as exc:
        raise EngineMissing(f"no speech synthesis is available ({exc}); run `make install`") from None


def sentences(text: str) -> list[str]:
    """Split a reply so the first sentence can play while the next is synthesised."""
    return [part.strip() for part in SENTENCE_END.split(text) if part.strip()]


class PhoneVoice:
    """Text → 8 kHz 320-byte frames; fixed prompts come from the speech package's disk cache
    (``speech.tts.PromptCache``) and are kept in memory once loaded."""

    def __init__(self, tts: TtsEngine, language: str = "zh") -> None:
        self.tts, self.language = tts, language
        self.cache: dict[str, list[bytes]] = {}

    def _synthesize(self, text: str) -> list[bytes]:
        """Synthesise with one retry: a call must not go silent because one synthesis failed."""
        from speech.audio import resample

        for attempt in range(SYNTH_ATTEMPTS):
            try:
                audio: Audio = self.tts.synthesize(text, self.language)
            except Exception as exc:
                if attempt + 1 == SYNTH_ATTEMPTS:
                    raise
                log.warning("synthesis failed (%s); retrying", exc)
                continue
            if audio.seconds >= MIN_PROMPT_S or attempt + 1 == SYNTH_ATTEMPTS:
                return split_frames(resample(audio, SAMPLE_RATE).pcm)
            log.warning("synthesis returned %.2f s of audio for %d characters; retrying", audio.seconds, len(text))
        raise AssertionError("unreachable")

    def _cached_prompt(self, text: str) -> list[bytes]:
        """A fixed prompt from the disk cache; an empty cached file is synthesised again."""
        from speech.tts import PromptCache

        try:
            audio = PromptCache(self.tts).get(text, self.language, SAMPLE_RATE)
            if audio.sample_rate == SAMPLE_RATE and audio.seconds >= MIN_PROMPT_S:
                return split_frames(audio.pcm)
        except Exception as exc:
            log.warning("prompt cache failed for %r (%s)", text[:20], exc)
        return self._synthesize(text)

    async def frames(self, text: str) -> list[bytes]:
        if text in self.cache:
            return self.cache[text]
        return await asyncio.to_thread(self._synthesize, text)

    async def warm(self, prompts: list[str]) -> None:
        for text in prompts:
            if text and text not in self.cache:
                self.cache[text] = await asyncio.to_thread(self._cached_prompt, text)
        log.info("%d phone prompts ready", len(self.cache))

