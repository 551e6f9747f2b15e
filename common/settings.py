"""One settings file for the whole product, with environment overrides.

Why a tiny loader instead of a settings framework: the same file is read by the Rasa action
server (CPython 3.10, pydantic 1) and by our services (CPython 3.11, current libraries), so it
must depend on nothing but the standard library (``tomli`` stands in for ``tomllib`` on 3.10).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised in the Rasa environment
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "GOVBOT__"


def _parse_env_value(raw: str) -> Any:
    """Read an override as a TOML value when it is one (42, true, [1, 2]), else as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_overrides(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX):].split("__") if part]
        if len(keys) < 2:
            continue
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _parse_env_value(raw)
    return data


def load(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read the settings file and apply GOVBOT__SECTION__KEY overrides from ``environ``."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(path or environ.get("GOVBOT_SETTINGS") or ROOT / "settings.toml")
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return _apply_overrides(data, environ)


@lru_cache(maxsize=1)
def _cached() -> dict[str, Any]:
    return load()


def section(name: str) -> dict[str, Any]:
    """The settings of one package, e.g. ``section("gateway")["port"]``."""
    return dict(_cached().get(name, {}))


def reload() -> None:
    """Forget the cached settings (tests change the environment and call this)."""
    _cached.cache_clear()


def resolve_path(value: str | os.PathLike[str]) -> Path:
    """A settings path made absolute: ``{data_dir}`` and ``~`` expanded, relative to the repository root."""
    text = str(value)
    if "{data_dir}" in text:
        text = text.replace("{data_dir}", str(data_dir()))
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else ROOT / path


def resolve_db_url(url: str) -> str:
    """SQLAlchemy URL with a relative SQLite path anchored at the repository root (its folder created)."""
    prefix = "sqlite:///"
    url = url.replace("{data_dir}", str(data_dir()))
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        file = resolve_path(url[len(prefix):])
        file.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(file)
    return url


def data_dir() -> Path:
    """The runtime data folder (created on first use); everything a deployment writes lives here."""
    path = Path(os.path.expanduser(str(section("paths").get("data_dir", "var"))))
    path = path if path.is_absolute() else ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_or_create_secret(path_setting: str) -> str:
    """A secret kept in a file under the data directory, created (mode 600) on first use.

    Secrets never live in the repository: a fresh clone gets fresh development secrets.
    """
    import secrets

    path = resolve_path(path_setting)
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def base_url(section_name: str) -> str:
    """``http://host:port`` of one of our services, from its section's host and port."""
    conf = section(section_name)
    return f"http://{conf['host']}:{conf['port']}"


@contextmanager
def overrides(env: dict[str, str]) -> Iterator[None]:
    """Apply GOVBOT__ overrides to this process (and the processes it starts), restoring them after.

    Tests and benchmarks run private copies of the services this way: free ports, a temp data dir.
    """
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    reload()
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reload()
