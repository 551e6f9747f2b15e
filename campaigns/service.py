"""The campaigns' process for ops/supervisor: the dialler, only when telephony is enabled (it needs Asterisk).

The store needs no process of its own (SQLite file or PostgreSQL); the API is the gateway's. Several
dialler processes may share a PostgreSQL store (``[campaigns] db_url``): give each its own ``dialler_id``
and ports.
"""

from __future__ import annotations

from common import settings
from common.services import APP_PYTHON, Service


def services() -> list[Service]:
    if not settings.section("telephony").get("enabled", False):
        return []
    conf = settings.section("campaigns")
    host, port = conf["dialler_host"], conf["dialler_health_port"]
    return [Service(name="dialler", argv=[str(APP_PYTHON), "-m", "campaigns.dialler_main"],
                    url=f"http://{host}:{port}/health", ready_url=f"http://{host}:{port}/health",
                    start_timeout_s=120.0,
                    extra_lines=[f"outbound calls through {conf['dialler_channel']}"])]
