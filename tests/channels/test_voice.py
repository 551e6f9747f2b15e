"""`POST /api/voice` for real: multipart upload → decode → Whisper → on_new_message → spoken reply file.

The assistant is an echo here (this test is about the route); the gateway's end-to-end test goes
through Rasa. Speech is synthesized with espeak-ng, recognised by the real Whisper model.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sanic import Sanic

from channels.base import BotMessage, UserMessage
from channels.voice import VoiceInput, spoken_text
from common import settings
from common.web import install_error_handlers
from gateway.clients import ClientRegistry
from gateway.identity import IdentityGate
from gateway.sessions import ResidentSessions
from speech import models
from speech.audio import read_wav, resample, to_wav
from speech.base import Audio

_names = itertools.count(1)
SENTENCE = "马路上有一个很大的坑，非常危险"


@pytest.fixture(scope="module")
def request_wav() -> bytes:
    if not models.whisper_ready():
        models.install_whisper()
    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin+f3", "-s", "160", "-w", out.name, SENTENCE], check=True)
        return to_wav(resample(read_wav(out.name), 16_000))


def make_app(tmp_path: Path, **overrides: Any) -> tuple[Sanic, list[UserMessage]]:
    conf = {**settings.section("speech"), "voice_audio_dir": str(tmp_path / "voice"), **overrides}
    received: list[UserMessage] = []

    async def echo(message: UserMessage) -> list[BotMessage]:
        received.append(message)
        return [BotMessage(f"您说的是：{message.text}", [{"title": "是", "payload": "/affirm"}])]

    app = Sanic(f"voice_{next(_names)}")
    app.config.TOUCHUP = False
    install_error_handlers(app)
    app.blueprint(VoiceInput(conf).blueprint(echo))
    app.ctx.identity = IdentityGate(ResidentSessions("test-key", 3600), ClientRegistry(tmp_path / "clients"))
    return app, received


async def post(app: Sanic, files: dict | None = None, data: dict | None = None, **kwargs: Any):
    _request, response = await app.asgi_client.post("/api/voice", files=files, data=data, **kwargs)
    return response


async def test_voice_message_round_trip(tmp_path: Path, request_wav: bytes) -> None:
    app, received = make_app(tmp_path)
    response = await post(app, files={"audio": ("msg.wav", request_wav, "audio/wav")},
                          data={"sender": "web-7", "metadata": json.dumps({"place": "3号楼"})})
    assert response.status == 200, response.text
    body = response.json
    assert body["transcript"] and body["messages"][0]["text"] == f"您说的是：{body['transcript']}"
    assert body["messages"][0]["buttons"] == [{"title": "是", "payload": "/affirm"}]
    message = received[0]
    # The form's sender is not an identity: the gateway named the resident and handed back a session.
    assert body["sender"].startswith("resident:") and body["session"] and message.client is None
    assert (message.sender, message.channel, message.text) == (body["sender"], "voice", body["transcript"])
    assert message.metadata["place"] == "3号楼" and message.metadata["input"] == "voice"
    again = await post(app, files={"audio": ("msg.wav", request_wav, "audio/wav")},
                       headers={"Authorization": f"Bearer {body['session']}"})
    assert again.status == 200 and received[1].sender == body["sender"]  # the same conversation
    other = await post(app, files={"audio": ("msg.wav", request_wav, "audio/wav")}, data={"sender": "resident:x"},
                       headers={"Authorization": f"Bearer {body['session']}"})
    assert other.status == 403 and other.json["error"]["field"] == "sender" and len(received) == 2

    _request, audio = await app.asgi_client.get(body["audio_url"])
    assert audio.status == 200 and audio.headers["content-type"] == "audio/wav"
    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        Path(out.name).write_bytes(audio.body)
        assert read_wav(out.name).seconds > 1.0


@pytest.mark.parametrize(("files", "data", "status", "field"), [
    (None, {"sender": "a"}, 415, "content-type"),
    ({"other": ("x.wav", b"1", "audio/wav")}, {"sender": "a"}, 400, "audio"),
    ({"audio": ("x.wav", b"RIFF", "audio/wav")}, {"sender": "a" * 200}, 400, "sender"),
    ({"audio": ("x.wav", b"RIFF", "audio/wav")}, {"sender": "a", "metadata": "[1]"}, 400, "metadata"),
    ({"audio": ("x.wav", b"\x01garbage" * 100, "audio/wav")}, {"sender": "a"}, 422, "audio"),
    ({"audio": ("x.wav", to_wav(Audio(np.zeros(16_000, "<i2").tobytes(), 16_000)), "audio/wav")},
     {"sender": "a"}, 422, "audio"),
])
async def test_bad_requests_name_the_field(tmp_path: Path, files, data, status: int, field: str) -> None:
    app, received = make_app(tmp_path)
    response = await post(app, files=files, data=data) if files else await post(app, json=data)
    assert response.status == status, response.text
    assert response.json["error"]["field"] == field and response.json["error"]["message"]
    assert not received


async def test_upload_over_the_limit(tmp_path: Path, request_wav: bytes) -> None:
    app, _ = make_app(tmp_path, upload_max_bytes=1000)
    response = await post(app, files={"audio": ("x.wav", request_wav, "audio/wav")}, data={"sender": "a"})
    assert response.status == 413 and response.json["error"]["field"] == "audio"


async def test_recording_over_the_duration_limit(tmp_path: Path, request_wav: bytes) -> None:
    app, _ = make_app(tmp_path, upload_max_seconds=1.0)
    response = await post(app, files={"audio": ("x.wav", request_wav, "audio/wav")}, data={"sender": "a"})
    assert response.status == 422 and response.json["error"]["code"] == "audio_too_long"


async def test_audio_route_refuses_unknown_and_traversal(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    for name in ("0" * 32 + ".wav", "..%2Fsettings.toml", "abc.wav"):
        _request, response = await app.asgi_client.get(f"/api/voice/audio/{name}")
        assert response.status == 404


def test_old_reply_files_are_cleaned(tmp_path: Path) -> None:
    import os
    import time

    channel = VoiceInput({**settings.section("speech"), "voice_audio_dir": str(tmp_path), "voice_audio_ttl_s": 60})
    old, new = tmp_path / ("a" * 32 + ".wav"), tmp_path / ("b" * 32 + ".wav")
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 120, time.time() - 120))
    channel._clean_old()
    assert not old.exists() and new.exists()


def test_buttons_are_read_aloud() -> None:
    spoken = spoken_text([BotMessage("请问是否需要派人处理？", [{"title": "需要", "payload": "/affirm"},
                                                          {"title": "不需要", "payload": "/deny"}])])
    assert spoken == "请问是否需要派人处理？您可以说：需要、不需要。"
