"""The Rasa model: train only when the data changed, and write Rasa's endpoints from our settings.

The model file is named after a fingerprint of everything that shapes it (config.yml, the domain,
the training data, the tokenizer dictionary), so `make run` knows without starting Rasa whether
the model on disk matches the data: ``models/govbot-<fingerprint>.tar.gz``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from common import settings
from common.services import RASA_PYTHON

ROOT = settings.ROOT
TRAINING_INPUTS = ["config.yml", "assistant/domain.yml", "assistant/data", "assistant/jieba", "assistant/nlu"]
RASA_ENV = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def fingerprint() -> str:
    digest = hashlib.sha256()
    for entry in TRAINING_INPUTS:
        path = ROOT / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def models_dir() -> Path:
    return settings.resolve_path(settings.section("paths").get("models_dir", "models"))


def current_model() -> Path:
    return models_dir() / f"govbot-{fingerprint()}.tar.gz"


def model_cache() -> Path:
    """Trained models kept outside the clone: a model is a function of its fingerprint, so a fresh
    clone on a machine that trained the same data before copies it instead of training again."""
    return settings.resolve_path(settings.section("paths").get("cache_dir", "~/.cache/govbot")) / "rasa-models"


def train(force: bool = False) -> Path:
    model = current_model()
    cached = model_cache() / model.name
    if not force and not model.exists() and cached.exists():
        models_dir().mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, model)
        print(f"model copied from the cache: {cached}")
    if model.exists() and not force:
        print(f"model up to date: {model.relative_to(ROOT) if model.is_relative_to(ROOT) else model}")
        return model
    models_dir().mkdir(parents=True, exist_ok=True)
    print(f"training the Rasa model ({model.name}); this takes a few minutes on 2 cores…", flush=True)
    start = time.monotonic()
    quiet = {} if sys.stdout.isatty() else {"TQDM_DISABLE": "1"}  # no progress bars in CI logs
    subprocess.run(
        [str(RASA_PYTHON), "-m", "rasa", "train", "--config", "config.yml", "--domain", "assistant/domain.yml",
         "--data", "assistant/data", "--out", str(models_dir()), "--fixed-model-name", model.name[:-len(".tar.gz")]],
        cwd=ROOT, env={**os.environ, **RASA_ENV, **quiet, "PYTHONPATH": str(ROOT)}, check=True,
    )
    print(f"trained in {time.monotonic() - start:.0f} s: {model}")
    model_cache().mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, cached)
    for stale in models_dir().glob("govbot-*.tar.gz"):  # models of older data are never loaded again
        if stale != model:
            stale.unlink()
    return model


def rasa_token() -> str:
    return settings.read_or_create_secret(settings.section("rasa")["api_token_file"])


def _sql_store(url: str) -> dict[str, object]:
    resolved = settings.resolve_db_url(url)
    if resolved.startswith("sqlite:///"):
        return {"type": "SQL", "dialect": "sqlite", "db": resolved[len("sqlite:///"):]}
    parts = urlparse(resolved)
    store: dict[str, object] = {"type": "SQL", "dialect": "postgresql", "url": parts.hostname or "127.0.0.1",
                                "port": parts.port or 5432, "db": parts.path.lstrip("/") or "postgres"}
    if parts.username:
        store["username"] = parts.username
    if parts.password:
        store["password"] = parts.password
    return store


def write_endpoints() -> Path:
    """Rasa's endpoints.yml, generated under the data dir so settings stay the one source."""
    actions, rasa = settings.section("actions"), settings.section("rasa")
    endpoints: dict[str, object] = {
        "action_endpoint": {"url": f"http://{actions['host']}:{actions['port']}/webhook"},
        "tracker_store": _sql_store(rasa["tracker_store_url"]),
    }
    if rasa.get("lock_store_url"):
        parts = urlparse(rasa["lock_store_url"])
        endpoints["lock_store"] = {"type": "redis", "url": parts.hostname, "port": parts.port or 6379,
                                   "db": int(parts.path.lstrip("/") or 0), "key_prefix": "govbot"}
    path = settings.data_dir() / "rasa" / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(endpoints, ensure_ascii=False, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def cross_validate(folds: int) -> int:
    """``rasa test nlu --cross-validation`` over the Mandarin training data (intents and entities; with the
    character CRF instead of DIET a fold trains in seconds, so there is no intents-only shortcut any more)."""
    import yaml

    out = ROOT / "results" / "nlu-cross-validation"
    config = out / "config-nlu.yml"
    out.mkdir(parents=True, exist_ok=True)
    # NLU-only copy of the pipeline: cross-validation trains the pipeline `folds` times.
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump(pipeline, allow_unicode=True, sort_keys=False), encoding="utf-8")
    completed = subprocess.run(
        [str(RASA_PYTHON), "-m", "rasa", "test", "nlu", "--nlu", "assistant/data/nlu.yml", "--config", str(config),
         "--cross-validation", "--folds", str(folds), "--out", str(out)],
        cwd=ROOT, env={**os.environ, **RASA_ENV, "PYTHONPATH": str(ROOT)},
    )
    report = out / "intent_report.json"
    if report.exists():
        data = json.loads(report.read_text(encoding="utf-8"))
        print(f"NLU {folds}-fold cross-validation: macro F1 {data['macro avg']['f1-score']:.3f}, "
              f"accuracy {data['accuracy']:.3f} (report: {report.relative_to(ROOT)})")
    return completed.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train and inspect the Rasa model.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train").add_argument("--force", action="store_true")
    sub.add_parser("path")
    cv = sub.add_parser("cross-validate")
    cv.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.force)
    elif args.command == "path":
        print(current_model())
    else:
        return cross_validate(args.folds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
