"""Processes of the dispatch package for ``ops/supervisor.py``: the Open311 server and the outbox drainer."""

from __future__ import annotations

from common import settings
from common.services import APP_PYTHON, Service


def services() -> list[Service]:
    conf = settings.section("dispatch")
    base = settings.base_url("dispatch")
    api_key = settings.read_or_create_secret(conf["api_key_file"])  # the development key, made on first start
    return [
        Service(
            name="dispatch",
            argv=[str(APP_PYTHON), "-m", "dispatch"],
            url=f"{base}/open311/v2/",
            ready_url=f"{base}/healthz",
            extra_lines=[f"API key: {api_key}", f"调度台 API: {base}/api/dispatch/tickets（工作人员令牌）"],
        ),
        # Written by the client side (dispatch/outbox.py): retries tickets stored while the backend was down.
        Service(
            name="outbox",
            argv=[str(APP_PYTHON), "-m", "dispatch.outbox", "drain"],
            url="后台补发队列（无 HTTP 接口）",
        ),
    ]
