"""The voice-message channel: ``POST /api/voice`` for web pages and mini-programs that record audio.

A recording (multipart field ``audio``: WAV, OGG or WebM, optional ``metadata`` JSON; the resident's
session or a client credential as for ``/api/chat``, see gateway/identity.py) is decoded, checked,
transcribed, passed to the assistant like a typed message, and the reply comes back as JSON (with
``sender`` and ``session``) with a spoken version at ``audio_url``. Why a thread pool: decoding, recognition
(~0.6 × the recording's length) and synthesis are CPU work that must never block the gateway's
event loop, which is serving every other resident meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from sanic import Blueprint, Request, response

from channels.base import BotMessage, InputChannel, OnNewMessage, UserMessage
from common import settings
from common.web import ApiError
from gateway.identity import Identity, gate_for
from speech import asr, tts
from speech.audio import AudioError, Limits, decode, to_wav, validate
from speech.normalize import normalize

log = logging.getLogger(__name__)
ASR_RATE = 16_000
AUDIO_NAME = re.compile(r"^[0-9a-f]{32}\.wav$")
# Codes of speech.audio.AudioError that mean "wrong kind of file" rather than "bad recording".
UNSUPPORTED = {"unsupported_container", "no_audio_stream"}


def spoken_text(messages: list[BotMessage]) -> str:
    """What the reply sounds like: the texts, and the buttons read out as choices."""
    parts = []
    for message in messages:
        if message.text:
            parts.append(message.text)
        if message.buttons:
            parts.append("您可以说：" + "、".join(b["title"] for b in message.buttons if b.get("title")) + "。")
    return "".join(parts)


class VoiceInput(InputChannel):
    def __init__(self, conf: dict[str, Any] | None = None) -> None:
        self.conf = conf or settings.section("speech")
        self.limits = Limits.from_settings(self.conf)
        self.max_bytes = int(self.conf["upload_max_bytes"])
        self.audio_dir = settings.resolve_path(self.conf["voice_audio_dir"])
        self.ttl_s = float(self.conf["voice_audio_ttl_s"])
        self.pool = ThreadPoolExecutor(max_workers=int(self.conf["asr_workers"]), thread_name_prefix="voice")

    @classmethod
    def name(cls) -> str:
        return "voice"

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> VoiceInput:
        return cls()  # the gateway's section has nothing for us; limits are in [speech]

    async def _run(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(func, *args))

    def _transcribe(self, data: bytes) -> tuple[str, float]:
        audio = decode(data, ASR_RATE)
        validate(audio, self.limits)
        return normalize(asr.create(self.conf["asr_engine"]).transcribe(audio)), audio.seconds

    def _speak(self, text: str) -> str | None:
        """Synthesize the reply into the audio folder; its file name, or None when there is nothing to say."""
        if not text:
            return None
        self._clean_old()
        name = f"{uuid.uuid4().hex}.wav"
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        (self.audio_dir / name).write_bytes(to_wav(tts.create().synthesize(text, "zh")))
        return name

    def _clean_old(self) -> None:
        cutoff = time.time() - self.ttl_s
        for path in self.audio_dir.glob("*.wav") if self.audio_dir.is_dir() else []:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:  # removed by a concurrent request
                pass

    def _parse_form(self, request: Request) -> tuple[Identity, dict[str, Any], bytes]:
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "multipart/form-data":
            raise ApiError(415, "unsupported_media_type", "请以 multipart/form-data 上传录音（字段 audio）",
                           "content-type")
        upload = request.files.get("audio")
        if upload is None:
            raise ApiError(400, "missing_field", "缺少录音文件（字段 audio）", "audio")
        if len(upload.body) > self.max_bytes:
            raise ApiError(413, "too_large", f"录音文件不能超过 {self.max_bytes // 1_000_000} MB", "audio")
        identity = gate_for(request.app).resolve(request, request.form.get("sender"))
        metadata: Any = {}
        if raw := request.form.get("metadata"):
            try:
                metadata = json.loads(raw)
            except json.JSONDecodeError:
                metadata = None
            if not isinstance(metadata, dict):
                raise ApiError(400, "invalid_value", "metadata 须为 JSON 对象", "metadata")
        return identity, metadata, upload.body

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("voice_channel")

        @bp.post("/api/voice")
        async def voice(request: Request):
            identity, metadata, data = self._parse_form(request)
            try:
                transcript, seconds = await self._run(self._transcribe, data)
            except AudioError as exc:
                raise ApiError(415 if exc.code in UNSUPPORTED else 422, exc.code, exc.message, "audio") from None
            except asr.AsrUnavailable as exc:
                log.error("voice: %s", exc)
                raise ApiError(503, "asr_unavailable", "语音识别暂时不可用，请改用文字输入。") from None
            if not transcript:
                raise ApiError(422, "no_speech", "没有听清您说的话，请再说一次。", "audio")
            metadata = {**metadata, "input": "voice", "audio_seconds": round(seconds, 2)}
            replies = await on_new_message(UserMessage(identity.sender, transcript, self.name(), metadata,
                                                       identity.client))
            try:
                name = await self._run(self._speak, spoken_text(replies))
            except Exception:  # the text answer still helps; the resident just gets no audio
                log.exception("voice: synthesis failed")
                name = None
            return gate_for(request.app).reply({
                "transcript": transcript,
                "messages": [reply.to_json() for reply in replies],
                "audio_url": f"/api/voice/audio/{name}" if name else None,
            }, identity)

        @bp.get("/api/voice/audio/<name:str>")
        async def audio(_request: Request, name: str):
            path = self.audio_dir / name
            if not AUDIO_NAME.match(name) or not path.is_file():
                raise ApiError(404, "not_found", "语音回复不存在或已过期", "name")
            return await response.file(path, mime_type="audio/wav")

        @bp.get("/api/voice/health")
        async def health(_request: Request):
            engines = asr.available()
            return response.json({"status": "ok" if engines else "no_model", "asr_engines": engines},
                                 status=200 if engines else 503)

        @bp.before_server_start
        async def load_engine(_app: Any) -> None:
            """Load the recogniser before the first resident waits for it, and say which one runs."""
            try:
                engine = await self._run(asr.create, self.conf["asr_engine"])
                log.info("voice channel: speech recognition with %s", engine.name)
            except asr.AsrUnavailable as exc:
                log.error("voice channel: %s", exc)

        return bp

