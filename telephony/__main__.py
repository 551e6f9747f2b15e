"""`python -m telephony`: run the voice bot (AudioSocket server, AMI listener, health endpoint).

Fails at start, naming `make models`, when no speech recognition model is available: a phone
line that answers and then cannot understand anyone is worse than one that does not answer.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from common import logging as govlog
from common import settings
from telephony import health
from telephony.ami import AmiClient
from telephony.assistant import AssistantClient
from telephony.state import CallSettings
from telephony.voice import EngineMissing, PhoneVoice, load_asr, load_tts
from telephony.voicebot import VoiceBot


def build(conf: dict) -> VoiceBot:
    """The bot from settings; raises EngineMissing when speech is not installed."""
    call_conf = CallSettings.from_settings(conf)
    speech = settings.section("speech")
    asr = load_asr(str(speech.get("asr_engine", "auto")))
    voice = PhoneVoice(load_tts())
    ami = AmiClient.from_settings(conf)
    assistant = AssistantClient(settings.base_url("gateway"), call_conf.gateway_timeout_s)
    return VoiceBot(call_conf, asr, voice, assistant, settings.resolve_path(conf["calls_dir"]), ami)


async def serve(bot: VoiceBot, conf: dict, log) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if bot.ami:
        bot.ami.start()
    await bot.start(conf["host"], int(conf["audiosocket_port"]))

    def status() -> dict:
        return {"status": "ok", "asr": bot.asr.name, "calls_active": len(bot.sessions),
                "calls_total": bot.calls_total, "ami_connected": bool(bot.ami and bot.ami.connected)}

    server = await health.serve(conf["host"], int(conf["health_port"]), status)
    log.info("voice bot on %s:%s (AudioSocket), health on :%s, ASR %s", conf["host"], conf["audiosocket_port"],
             conf["health_port"], bot.asr.name)
    await stop.wait()
    log.info("stopping")
    server.close()
    await bot.stop()
    if bot.ami:
        await bot.ami.stop()
    await bot.assistant.close()


def main() -> int:
    log = govlog.setup("telephony")
    conf = settings.section("telephony")
    try:
        bot = build(conf)
    except EngineMissing as exc:
        print(f"telephony: cannot start: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(bot, conf, log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
