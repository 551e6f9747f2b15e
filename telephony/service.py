"""The processes of telephony: Asterisk (through the sid loader) and the voice bot.

Asterisk starts first so the bot's AMI connection finds it; both only when ``[telephony] enabled``.
"""

from __future__ import annotations

from common import settings
from common.services import APP_PYTHON, Service


def services() -> list[Service]:
    conf = settings.section("telephony")
    if not conf.get("enabled", False):
        return []
    from telephony.asterisk.config import write_config

    layout = write_config(conf)
    host = conf["host"]
    return [
        Service(name="asterisk", argv=layout.argv(), url=f"sip:{conf['phone_endpoint']}@{host}:{conf['sip_port']}",
                ready_tcp=(host, int(conf["ami_port"])), start_timeout_s=30.0,
                extra_lines=[f"AMI on {host}:{conf['ami_port']}, logs in {layout.log_dir}"]),
        Service(name="telephony", argv=[str(APP_PYTHON), "-m", "telephony"],
                url=f"http://{host}:{conf['health_port']}/health",
                ready_url=f"http://{host}:{conf['health_port']}/health", start_timeout_s=120.0,
                extra_lines=[f"call it: sipp -sn uac {host}:{conf['sip_port']} -s 12345 -m 1"]),
    ]
