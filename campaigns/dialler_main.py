"""`python -m campaigns.dialler_main`: the dialler process (ops/supervisor starts it through campaigns/service.py).

Fails at start, naming `make models`, when no speech recognition model is available (as the voice bot does):
a robot that calls residents and cannot understand them is worse than one that does not call.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from campaigns.alerts import outbox_filer
from campaigns.config import CampaignsConfig
from campaigns.dialler import Dialler
from campaigns.dialler_ami import DiallerAmi
from campaigns.dialler_config import DiallerConfig
from campaigns.ratings import RatingPoster
from campaigns.store import Store
from common import logging as govlog
from common import settings
from telephony import health
from telephony.state import CallSettings
from telephony.voice import EngineMissing, PhoneVoice, load_asr, load_tts


def build() -> Dialler:
    conf = DiallerConfig.load()
    telephony = settings.section("telephony")
    asr = load_asr(str(settings.section("speech").get("asr_engine", "auto")))

    def ami(on_event: Any) -> DiallerAmi:
        return DiallerAmi.for_dialler(telephony, conf.ami_reconnect_s, conf.ami_reconnect_max_s, on_event)

    store = Store(CampaignsConfig.load())
    return Dialler(store, conf, CallSettings.from_settings(telephony), PhoneVoice(load_tts()), asr, ami,
                   alerts=outbox_filer(conf.alert_service_code), ratings=RatingPoster.from_settings(store))


async def serve(dialler: Dialler, log: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await dialler.start()
    conf = dialler.conf
    server = await health.serve(conf.dialler_host, conf.dialler_health_port, dialler.status)
    log.info("dialler %s: AudioSocket on %s:%s, health on :%s", dialler.name, conf.dialler_host,
             conf.dialler_audiosocket_port, conf.dialler_health_port)
    try:
        await dialler.run(stop)
    finally:
        server.close()
        await dialler.stop()
        dialler.store.close()


def main() -> int:
    log = govlog.setup("dialler")
    try:
        dialler = build()
    except EngineMissing as exc:
        print(f"dialler: cannot start: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(dialler, log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
