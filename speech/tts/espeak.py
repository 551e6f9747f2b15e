"""espeak-ng through pyttsx3, isolated in worker processes.

Why worker processes: pyttsx3's event loop is known to hang on repeated ``runAndWait`` calls, its
``save_to_file`` loses audio (see ``_Synthesizer``), and libespeak-ng is a process-global C library.
Each synthesis is sent to a small pool of worker subprocesses; one that does not answer within
``tts_timeout_s`` is killed and replaced, so a stuck synthesis costs one retry instead of a frozen
call loop. Voices: ``cmn-latn-pinyin`` reads Chinese
characters correctly (Debian's ``cmn`` speaks tone digits as English words), ``en-us`` for English.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from common.settings import ROOT
from speech.base import Audio, TtsEngine

try:
    import pyttsx3  # noqa: F401 - imported here so a missing package fails at engine import with a hint
except ImportError as exc:  # pragma: no cover - the app environment has it
    raise ImportError("the espeak TTS engine needs pyttsx3 (and apt espeak-ng): .venv-app/bin/pip install pyttsx3; "
                      "ops/install.sh apt") from exc

ESPEAK_RATE = 22_050  # what pyttsx3's espeak driver writes
EMPTY_RETRIES = 1     # one more try if espeak delivered no audio for non-blank text


class TtsError(RuntimeError):
    pass


def _serve() -> None:
    """Worker (``python -m speech.tts.espeak``): JSON requests on stdin, length-prefixed PCM on stdout."""
    reply = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # keep library chatter out of the reply pipe
    synth = _Synthesizer()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            status, payload = b"K", synth.speak(request["text"], request["voice"], request["rate"])
        except Exception as exc:  # reported to the caller, the worker lives on
            status, payload = b"E", f"{type(exc).__name__}: {exc}".encode()
        reply.write(status + struct.pack("<I", len(payload)) + payload)
        reply.flush()


class _Synthesizer:
    """pyttsx3's espeak driver for set-up (library, voice by name, rate), our own audio callback.

    Why not ``save_to_file`` + ``runAndWait``: libespeak-ng synthesizes on its own thread, and
    pyttsx3 2.99's callback writes the WAV when it sees the end-of-message event *before* appending
    the samples that came with it, and drops samples arriving after it; its loop can also return
    early. Measured: 请稍等 came out as 1.07 s or 1.31 s, now and then empty or with no file. Our
    callback keeps every sample and ``Synchronize`` waits for espeak's thread, so output is exact.
    """

    def __init__(self) -> None:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        self.engine, self.espeak = pyttsx3.init("espeak"), _espeak
        self.driver = self.engine.proxy._driver
        self.chunks: list[bytes] = []
        _espeak.SetSynthCallback(self._on_audio)  # replaces the driver's callback (one per process)

    def _on_audio(self, wav: Any, numsamples: int, _events: Any) -> int:
        if numsamples > 0:
            self.chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def speak(self, text: str, voice: str, rate: int) -> bytes:
        # Straight to the driver: the engine's setProperty only queues until a runAndWait loop runs.
        self.driver.setProperty("voice", voice)
        self.driver.setProperty("rate", rate)
        for _attempt in range(EMPTY_RETRIES + 1):
            self.chunks = []
            self.espeak.Synth(text, flags=self.espeak.ENDPAUSE | self.espeak.CHARS_UTF8)
            self.espeak.Synchronize()
            if pcm := b"".join(self.chunks):
                return pcm
        return b""


class _Worker:
    """One synthesis subprocess. A plain subprocess rather than multiprocessing: it works from any
    caller (no ``if __name__ == "__main__"`` requirement, no fork of a threaded server)."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "speech.tts.espeak"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)

    def request(self, text: str, voice: str, rate: int, timeout_s: float) -> bytes:
        """PCM for ``text``; TimeoutError if the worker does not answer in time."""
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"text": text, "voice": voice, "rate": rate}).encode() + b"\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout_s
        header = self._read(5, deadline)
        payload = self._read(struct.unpack("<I", header[1:])[0], deadline)
        if header[:1] != b"K":
            raise TtsError(payload.decode(errors="replace"))
        return payload

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout
        fd, data = self.process.stdout.fileno(), bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError("TTS worker exited")
            data += chunk
        return bytes(data)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                with contextlib.suppress(OSError):  # unflushed input to a dead worker
                    stream.close()


class EspeakTts(TtsEngine):
    name = "espeak"

    def __init__(self, voices: dict[str, str], rate: int, timeout_s: float, workers: int) -> None:
        self.voices, self.rate, self.timeout_s = voices, rate, timeout_s
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        for _ in range(workers):
            self._add_worker()

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> EspeakTts:
        return cls({"zh": conf["tts_voice_zh"], "en": conf["tts_voice_en"]}, int(conf["tts_rate"]),
                   float(conf["tts_timeout_s"]), int(conf["tts_workers"]))

    def _add_worker(self) -> None:
        worker = _Worker()
        with self._lock:
            self._all.append(worker)
        self._idle.put(worker)

    def synthesize(self, text: str, language: str = "zh") -> Audio:
        """Speech at 22.05 kHz; resample with ``speech.audio.resample`` for the phone."""
        if language not in self.voices:
            raise ValueError(f"no voice for language {language!r}; known: {sorted(self.voices)}")
        if not text.strip():
            return Audio(b"", ESPEAK_RATE)
        for _attempt in range(2):
            worker = self._take()
            try:
                pcm = worker.request(text, self.voices[language], self.rate, self.timeout_s)
            except TtsError:
                self._idle.put(worker)
                raise
            except (TimeoutError, EOFError, BrokenPipeError, OSError):
                self._replace(worker)  # hung or dead: a fresh worker, and one more try
                continue
            self._idle.put(worker)
            return Audio(pcm, ESPEAK_RATE)
        raise TtsError(f"espeak synthesis failed twice (timeout {self.timeout_s} s)")

    def _take(self) -> _Worker:
        """An idle worker that is still alive (one that died while idle is replaced first)."""
        worker = self._idle.get()
        while worker.process.poll() is not None:
            self._replace(worker)
            worker = self._idle.get()
        return worker

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._all.remove(worker)
        self._add_worker()

    def close(self) -> None:
        """Stop the worker processes (tests, shutdown)."""
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    _serve()
