"""How `make run` starts telephony, and the bot refusing to start without a speech model."""

from __future__ import annotations

import os
import subprocess
import sys

from common import settings
from common.services import APP_PYTHON


def test_services_are_asterisk_through_the_sid_loader_then_the_bot(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVBOT__TELEPHONY__ENABLED", "true")  # whatever an earlier test session set
    settings.reload()
    try:
        from telephony.service import services

        asterisk, bot = services()
        assert asterisk.argv[0].endswith("/usr/lib64/ld-linux-x86-64.so.2") and asterisk.argv[1] == "--library-path"
        assert asterisk.argv[3].endswith("/usr/sbin/asterisk") and "-f" in asterisk.argv
        conf_dir = tmp_path / "asterisk" / "etc"
        assert "[directories]\n" in (conf_dir / "asterisk.conf").read_text()
        assert "AudioSocket(${GOVBOT_UUID},127.0.0.1:" in (conf_dir / "extensions.conf").read_text()
        secret = (tmp_path / "secrets" / "ami_secret").read_text().strip()
        assert secret not in (conf_dir / "manager.conf").read_text()  # secrets stay under {data_dir}/secrets
        assert (tmp_path / "secrets" / "ami_secret.conf").read_text() == f"secret = {secret}\n"
        assert oct((tmp_path / "secrets" / "ami_secret").stat().st_mode & 0o777) == "0o600"
        assert bot.argv[1:] == ["-m", "telephony"] and bot.ready_url.endswith("/health")
        monkeypatch.setenv("GOVBOT__TELEPHONY__ENABLED", "false")
        settings.reload()
        assert services() == []
    finally:
        monkeypatch.undo()
        settings.reload()


def test_the_bot_refuses_to_start_without_a_recognition_model(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), "GOVBOT__PATHS__DATA_DIR": str(tmp_path),
           "GOVBOT__SPEECH__ASR_ENGINE": "vosk", "GOVBOT__SPEECH__VOSK_MODEL_DIR": str(tmp_path / "no-model")}
    result = subprocess.run([str(APP_PYTHON if APP_PYTHON.exists() else sys.executable), "-m", "telephony"],
                            cwd=settings.ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "make models" in result.stderr
