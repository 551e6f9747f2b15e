"""What the campaigns API tests share: a private data dir, a gateway app with the campaigns blueprint, and the
API's own store for the test to work as a dialler would."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sanic import Sanic

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from common import settings
from common.web import install_error_handlers
from gateway.campaigns_api import blueprint
from tests.campaigns.conftest import NOW

_names = itertools.count(1)


def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The staff token and the campaign store (``{data_dir}/campaigns.sqlite3``) in ``tmp_path``, for one test."""
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    settings.reload()
    yield tmp_path
    settings.reload()


def campaigns_app(prefix: str) -> Sanic:
    """A fresh app with ``/api/campaigns`` whose clock says ``NOW`` (inside the test campaigns' window).
    Drop it with ``forget(app)``: sanic keeps every app in a registry by name."""
    made = Sanic(f"{prefix}_{next(_names)}")
    made.config.TOUCHUP = False
    install_error_handlers(made)
    made.blueprint(blueprint(clock=lambda: NOW))
    return made


def forget(app: Sanic) -> None:
    Sanic._app_registry.pop(app.name, None)


def api_store() -> Iterator[Store]:
    """The store the API opens (the same file in the private data dir), for a fixture to ``yield from``."""
    made = Store(CampaignsConfig.load())
    yield made
    made.close()
