"""How ops/supervisor starts the dialler (only with telephony), and the dialler refusing to start without ASR."""

from __future__ import annotations

import os
import subprocess

from common import settings
from common.services import APP_PYTHON


def test_the_dialler_is_a_service_only_when_telephony_is_enabled(monkeypatch) -> None:
    from campaigns.service import services

    monkeypatch.setenv("GOVBOT__TELEPHONY__ENABLED", "false")
    settings.reload()
    try:
        assert services() == []
        monkeypatch.setenv("GOVBOT__TELEPHONY__ENABLED", "true")
        monkeypatch.setenv("GOVBOT__CAMPAIGNS__DIALLER_HEALTH_PORT", "18094")
        settings.reload()
        [dialler] = services()
        assert dialler.argv[1:] == ["-m", "campaigns.dialler_main"]
        assert dialler.ready_url == "http://127.0.0.1:18094/health"
    finally:
        monkeypatch.undo()
        settings.reload()


def test_without_a_speech_model_the_dialler_exits_naming_make_models(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), "GOVBOT__PATHS__DATA_DIR": str(tmp_path),
           "GOVBOT__SPEECH__ASR_ENGINE": "vosk", "GOVBOT__SPEECH__VOSK_MODEL_DIR": str(tmp_path / "none")}
    done = subprocess.run([str(APP_PYTHON), "-m", "campaigns.dialler_main"], env=env, cwd=settings.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "make models" in done.stderr
