"""The voice worker's HTTP layer with a stand-in voice (no TensorFlow needed): WAV out, errors that name
the field, a bounded queue that answers 503 at once, and a failing synthesis that does not kill the worker."""

from __future__ import annotations

import io
import threading
import wave
from collections.abc import Iterator

import httpx
import pytest

from common.net import free_port
from speech.voice_worker.server import RequestError, VoiceServer, parse_request

RATE = 24_000
MAX_CHARS = 20
TIMEOUT_S = 10.0


class FakeVoice:
    """Speaks 10 ms of a constant per character; ``hold`` keeps it busy, "炸" makes it fail."""

    sample_rate = RATE

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()

    def speak(self, text: str) -> bytes:
        self.started.set()
        assert self.hold.wait(TIMEOUT_S)
        if "炸" in text:
            raise KeyError("no phoneme")
        return b"\x01\x00" * (RATE // 100) * len(text)


@pytest.fixture
def served() -> Iterator[tuple[str, FakeVoice]]:
    voice = FakeVoice()
    server = VoiceServer(("127.0.0.1", free_port()), voice, max_chars=MAX_CHARS, max_waiting=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", voice
    finally:
        voice.hold.set()
        server.shutdown()
        server.server_close()


def test_synthesize_answers_a_wav(served) -> None:
    url, _voice = served
    health = httpx.get(f"{url}/healthz", timeout=TIMEOUT_S)
    assert health.status_code == 200 and health.json()["sample_rate"] == RATE
    answer = httpx.post(f"{url}/synthesize", json={"text": " 您好 "}, timeout=TIMEOUT_S)
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        assert wav.getnframes() == RATE // 100 * 2  # the text was stripped: two characters


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    (b'{"text": "you"}', "text/plain", 415, "content-type"),
    (b"{not json", "application/json", 400, "body"),
    (b'["text"]', "application/json", 400, "body"),
    (b'{"text": 5}', "application/json", 400, "text"),
    (b'{"text": "  "}', "application/json", 400, "text"),
    ('{"text": "%s"}' % ("长" * (MAX_CHARS + 1)), "application/json", 413, "text"),
])
def test_bad_requests_name_the_field(served, body, content_type, status, field) -> None:
    url, _voice = served
    data = body.encode() if isinstance(body, str) else body
    answer = httpx.post(f"{url}/synthesize", content=data, headers={"content-type": content_type}, timeout=TIMEOUT_S)
    assert answer.status_code == status and answer.json()["error"]["field"] == field, answer.text
    assert answer.json()["error"]["message"]


def test_an_oversized_body_is_refused_unread(served) -> None:
    url, _voice = served
    answer = httpx.post(f"{url}/synthesize", content=b"x" * 10_000, headers={"content-type": "application/json"},
                        timeout=TIMEOUT_S)
    assert answer.status_code == 413 and answer.json()["error"]["field"] == "text"
    assert httpx.get(f"{url}/nowhere", timeout=TIMEOUT_S).status_code == 404


def test_a_full_queue_answers_503_at_once(served) -> None:
    url, voice = served
    voice.hold.clear()
    first: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: first.setdefault(
        "answer", httpx.post(f"{url}/synthesize", json={"text": "第一句"}, timeout=TIMEOUT_S)))
    thread.start()
    assert voice.started.wait(TIMEOUT_S)
    busy = httpx.post(f"{url}/synthesize", json={"text": "第二句"}, timeout=TIMEOUT_S)
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "busy"
    assert httpx.get(f"{url}/healthz", timeout=TIMEOUT_S).status_code == 200  # health answers while busy
    voice.hold.set()
    thread.join(TIMEOUT_S)
    assert first["answer"].status_code == 200
    assert httpx.post(f"{url}/synthesize", json={"text": "第三句"}, timeout=TIMEOUT_S).status_code == 200


def test_a_failed_synthesis_is_a_500_and_the_worker_lives_on(served) -> None:
    url, _voice = served
    failed = httpx.post(f"{url}/synthesize", json={"text": "炸"}, timeout=TIMEOUT_S)
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "synthesis_failed"
    assert httpx.post(f"{url}/synthesize", json={"text": "好"}, timeout=TIMEOUT_S).status_code == 200


def test_parse_request_keeps_the_text() -> None:
    assert parse_request(b'{"text": "\\u60a8\\u597d"}', "application/json; charset=utf-8", MAX_CHARS) == "您好"
    with pytest.raises(RequestError) as error:
        parse_request(b"{}", "application/json", MAX_CHARS)
    assert error.value.field == "text" and error.value.status == 400
