"""The gateway process (application environment)."""

from __future__ import annotations

from common import settings
from common.services import APP_PYTHON, Service
from common.web import staff_token


def services() -> list[Service]:
    base = settings.base_url("gateway")
    return [Service(
        name="gateway", argv=[str(APP_PYTHON), "-m", "gateway"], url=base,
        ready_url=f"{base}/healthz", start_timeout_s=120.0,
        extra_lines=[f"chat API: POST {base}/api/chat · terminal chat: .venv-app/bin/python -m channels.cli",
                     f"staff console: {base}/staff/ (token: {staff_token()})",
                     "trusted clients (platforms that verified a phone number): "
                     ".venv-app/bin/python -m gateway clients list | add NAME | remove NAME"],
    )]
