"""`python -m speech transcribe FILE --json` as staff and scripts run it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from common.settings import ROOT
from speech.audio import to_wav


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "speech", "transcribe", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_transcribe_json(mandarin_16k, whisper_engine, tmp_path: Path) -> None:
    clip = tmp_path / "clip.wav"
    clip.write_bytes(to_wav(mandarin_16k))
    result = run(str(clip), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"text", "engine", "seconds"}
    assert body["engine"] == "whisper" and body["text"]
    assert abs(body["seconds"] - mandarin_16k.seconds) < 0.05


def test_bad_file_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 50)
    result = run(str(bad), "--json")
    assert result.returncode == 2 and "无法解码" in result.stderr and not result.stdout
    missing = run(str(tmp_path / "missing.wav"))
    assert missing.returncode == 2 and "找不到文件" in missing.stderr
