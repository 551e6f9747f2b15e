"""A voice message through the real stack: recording → Whisper → Rasa → reply text and speech."""

from __future__ import annotations

import uuid

import httpx
import pytest

from speech import tts
from speech.audio import to_wav

pytestmark = pytest.mark.e2e


def test_a_voice_message_gets_a_transcript_and_a_spoken_reply(stack) -> None:
    recording = to_wav(tts.create().synthesize("你好，我想问一下社保卡丢了怎么办", "zh"))
    reply = httpx.post(f"{stack.gateway}/api/voice", timeout=180,
                       files={"audio": ("message.wav", recording, "audio/wav")},
                       data={"sender": f"voice-{uuid.uuid4().hex[:6]}"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["transcript"] and body["messages"] and body["messages"][0]["text"]
    audio = httpx.get(f"{stack.gateway}{body['audio_url']}", timeout=30)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF" and len(audio.content) > 8000
