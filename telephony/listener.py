"""Hearing the caller: endpointing on every frame, recognition only while someone speaks.

Why gate the recogniser: an idle line is most of a call, and 20 calls must share two cores; the
energy endpointer (``speech.endpoint``) costs nothing per frame, marks where an utterance starts
(with a little pre-roll, since onsets are quiet) and ends, and the recogniser is fed only that
audio, in ``asr_chunk_ms`` pieces, on the shared ``AsrPool`` (oldest utterance first) so a slow
engine never delays the call's 20 ms frames. Whichever comes first ends the turn: the recogniser's own endpoint or ours.
Energy cannot tell a voice from music on hold, and Whisper makes words out of music; for such engines a
recognised utterance is kept only if ``speech.endpoint.SpeechCheck`` finds speech in it (else the re-ask).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from common import settings
from speech.audio import dbfs
from speech.base import AsrEngine, StreamingRecognizer
from speech.endpoint import EndpointConfig, EnergyEndpointer, Event, SpeechCheck
from telephony.asr_pool import AsrPool
from telephony.audiosocket import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from telephony.state import CallSettings

log = logging.getLogger(__name__)


@dataclass
class Utterance:
    text: str
    confidence: float | None
    speech_ended_at: float  # time.monotonic() of the last voiced frame (turn-latency start)
    seconds: float


class Listener:
    def __init__(self, engine: AsrEngine, conf: CallSettings, on_utterance: Callable[[Utterance], None],
                 pool: AsrPool) -> None:
        self.engine, self.conf, self.on_utterance, self.pool = engine, conf, on_utterance, pool
        frame_s = FRAME_MS / 1000
        # The speech package's endpointer with the phone's own timing (other fields keep [speech] values).
        self.endpointer = EnergyEndpointer(SAMPLE_RATE, replace(
            EndpointConfig.from_settings(settings.section("speech")),
            trailing_silence_s=conf.endpoint_silence_ms / 1000, max_utterance_s=conf.max_utterance_s,
            silence_timeout_s=conf.max_call_s * 2, energy_threshold_db=conf.speech_threshold_dbfs,
            min_speech_s=conf.speech_start_ms / 1000))
        check = SpeechCheck.from_settings(settings.section("speech"))
        self.speech_check = check if check.applies_to(engine.name) else None
        self._audio = bytearray()  # the utterance being heard, for the speech check
        self.preroll: deque[bytes] = deque(maxlen=max(1, int(conf.preroll_ms / 1000 / frame_s)))
        self.chunk_bytes = max(FRAME_BYTES, int(conf.asr_chunk_ms / FRAME_MS) * FRAME_BYTES)
        self._chunk = bytearray()
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.speech_started_at = 0.0
        self.last_voiced_at = 0.0

    @property
    def speaking(self) -> bool:
        return self.endpointer.in_speech

    @property
    def busy(self) -> bool:
        """The caller is talking or what they said is still being recognised (no silence timers)."""
        return self.speaking or bool(self._tasks)

    def speech_seconds(self) -> float:
        return time.monotonic() - self.speech_started_at if self.speaking else 0.0

    def feed(self, frame: bytes) -> None:
        events = self.endpointer.feed(frame)
        now = time.monotonic()
        if dbfs(frame) >= self.conf.speech_threshold_dbfs:
            self.last_voiced_at = now
        if self._queue is None:
            self.preroll.append(frame)
            if Event.SPEECH_START in events:
                self._begin(now)
            return
        self._chunk += frame
        if self.speech_check is not None:
            self._audio += frame
        if Event.SPEECH_END in events:
            self._end()
        elif len(self._chunk) >= self.chunk_bytes:
            self._queue.put_nowait(bytes(self._chunk))
            self._chunk.clear()

    def _begin(self, now: float) -> None:
        self.speech_started_at = now - self.conf.speech_start_ms / 1000
        self._chunk = bytearray(b"".join(self.preroll))
        self._audio = bytearray(self._chunk) if self.speech_check is not None else bytearray()
        self.preroll.clear()
        self._queue = asyncio.Queue()
        task = asyncio.create_task(self._recognise(self._queue, self.speech_started_at, self._audio))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end(self) -> None:
        assert self._queue is not None
        if self._chunk:
            self._queue.put_nowait(bytes(self._chunk))
        self._queue.put_nowait(None)
        self._queue, self._chunk = None, bytearray()

    async def _recognise(self, queue: asyncio.Queue[bytes | None], started: float, audio: bytearray) -> None:
        recognizer: StreamingRecognizer = await self.pool.run(started, self.engine.recognizer, SAMPLE_RATE)
        finals: list[str] = []
        confidence: float | None = None
        try:
            while (chunk := await queue.get()) is not None:
                result = await self.pool.run(started, recognizer.accept_audio, chunk)
                if result is not None and result.is_final and result.text:
                    finals.append(result.text)
                    confidence = result.confidence
            last = await self.pool.run(started, recognizer.finish)
        except Exception:  # a recogniser failure must not end the call
            log.exception("recognition failed")
            last = None
        if last is not None and last.text:
            finals.append(last.text)
            confidence = last.confidence if last.confidence is not None else confidence
        if finals and self.speech_check is not None and not await self._is_speech(started, audio):
            log.info("utterance of %.1f s has no speech (music, a tone): %r dropped", len(audio) / 2 / SAMPLE_RATE,
                     "".join(finals)[:40])
            finals = []
        ended = self.last_voiced_at
        log.info("utterance of %.1f s recognised %.2f s after its end: %r", ended - started,
                 time.monotonic() - ended, "".join(finals)[:40])
        self.on_utterance(Utterance("".join(finals).strip(), confidence, ended, max(0.0, ended - started)))

    async def _is_speech(self, started: float, audio: bytearray) -> bool:
        assert self.speech_check is not None
        try:
            return await self.pool.run(started, self.speech_check.has_speech, bytes(audio), SAMPLE_RATE)
        except Exception:  # a failing check must not lose what the recogniser heard
            log.exception("speech check failed")
            return True

    async def close(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)
            self._queue = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
