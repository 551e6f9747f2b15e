"""A real Asterisk, the voice bot and a stand-in gateway on free ports (``telephony.teststack``).

Asterisk and the stand-in gateway start once per test session; the bot once per test module, so a
module picks its recogniser with ``ASR_ENGINE`` ("vosk-ko": real streaming Vosk, fast enough for 20
calls; "whisper": the engine that understands Mandarin here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from common import settings
from telephony.teststack import StandInGateway, engine_env, stack_env, start_asterisk, start_bot, stop_process
from tests.telephony.helpers import asterisk_log, log_tails

# Shorter pauses than production so silence handling is tested in seconds, not minutes.
TEST_TIMING = {"silence_reprompt_s": 4.0, "dtmf_digit_timeout_s": 1.5}


@dataclass
class Asterisk:
    """The session's Asterisk; ``restart()`` kills it and starts a fresh one on the same ports."""

    proc: subprocess.Popen

    def kill(self) -> None:
        """kill -9, as a crash would: no goodbye on any connection."""
        self.proc.kill()
        self.proc.wait()

    def start(self) -> None:
        """A fresh Asterisk on the same ports; returns once its AMI port accepts connections."""
        self.proc = start_asterisk()

    def restart(self) -> None:
        self.kill()
        self.start()


@dataclass
class Telephony:
    env: dict[str, str]
    data_dir: Path
    sip_port: int
    health_url: str
    gateway: StandInGateway
    asterisk: Asterisk
    bot: subprocess.Popen
    bot_log: Path

    def health(self) -> dict:
        return httpx.get(self.health_url, timeout=5).json()

    def calls(self) -> list[Path]:
        return sorted((self.data_dir / "calls").glob("*.jsonl"))

    def logs(self) -> str:
        """The ends of the bot's and Asterisk's logs, for a failure message."""
        return log_tails(self.bot_log, asterisk_log())


@pytest.fixture(scope="session")
def telephony_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = stack_env(tmp_path_factory.mktemp("tel"), **TEST_TIMING)
    with settings.overrides(env):
        yield env


@pytest.fixture(scope="session")
def asterisk(telephony_env: dict[str, str]) -> Iterator[Asterisk]:
    """One real Asterisk 22 per session (prepared by `make asterisk`), SIP and AMI on loopback."""
    holder = Asterisk(start_asterisk())
    try:
        yield holder
    finally:
        stop_process(holder.proc)


@pytest.fixture(scope="session")
def gateway(telephony_env: dict[str, str]) -> Iterator[StandInGateway]:
    fake = StandInGateway(int(telephony_env["GOVBOT__GATEWAY__PORT"])).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def telephony(request: pytest.FixtureRequest, telephony_env: dict[str, str], asterisk: Asterisk,
              gateway: StandInGateway) -> Iterator[Telephony]:
    """The voice bot as `make run` starts it (`python -m telephony`), with the module's recogniser."""
    conf = settings.section("telephony")
    data_dir = Path(telephony_env["GOVBOT__PATHS__DATA_DIR"])
    engine = getattr(request.module, "ASR_ENGINE", "vosk-ko")
    log = data_dir / f"telephony-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    bot = start_bot(log, engine_env(engine))
    try:
        yield Telephony(telephony_env, data_dir, int(conf["sip_port"]),
                        f"http://127.0.0.1:{conf['health_port']}/health", gateway, asterisk, bot, log)
    finally:
        stop_process(bot)
