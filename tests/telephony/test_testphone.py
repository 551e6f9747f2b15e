"""The test phone's own plumbing: sipp's media ports, and a call that sipp never placed failing at once, saying why."""

from __future__ import annotations

import itertools
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from common.net import free_udp_port
from telephony import testphone
from telephony.testphone import CallMedia, Sipp, sipp_media_port
from tests.telephony.helpers import answered

EPHEMERAL_LOW = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Another program's socket on ``port`` (UDP, loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        yield


def sipp_start(media_port: int) -> subprocess.CompletedProcess[str]:
    """sipp as the tests start it (``-mp``), binding its sockets and placing no call (``-m 0``)."""
    return subprocess.run(["sipp", f"127.0.0.1:{free_udp_port()}", "-sn", "uac", "-m", "0", "-i", "127.0.0.1",
                           "-p", str(free_udp_port()), "-mp", str(media_port), "-nostdin", "-timeout", "1s"],
                          capture_output=True, text=True, timeout=30)


def test_sipp_exits_at_start_when_the_port_two_above_its_media_port_is_taken() -> None:
    """Why the base is checked with base + 2: sipp binds both, with one try under ``-mp``."""
    base = sipp_media_port()
    with taken(base + 2):
        done = sipp_start(base)
    assert "Unable to bind video RTP socket" in done.stdout + done.stderr


def test_a_media_port_from_sipp_media_port_lets_sipp_start() -> None:
    done = sipp_start(sipp_media_port())
    assert "Unable to bind" not in done.stdout + done.stderr and "Test Terminated" in done.stdout, done.stdout


def test_bases_lie_below_the_ephemeral_range_and_are_not_repeated() -> None:
    bases = [sipp_media_port() for _ in range(200)]
    assert len(set(bases)) == len(bases)
    assert all(base + 2 < EPHEMERAL_LOW for base in bases)


def test_a_base_whose_second_port_is_taken_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = 10_000, 10_004
    monkeypatch.setattr(testphone, "_SIPP_MEDIA_BASES", iter([first, second]))
    with taken(first + 2):
        assert sipp_media_port() == second


def test_no_free_pair_is_an_error_naming_the_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testphone, "_SIPP_MEDIA_BASES", itertools.repeat(10_000))
    with taken(10_000), pytest.raises(RuntimeError, match="in 3 tries"):
        sipp_media_port(tries=3)


class NoStack:
    """What ``answered`` reads from a phone stack on failure: its logs."""

    def logs(self) -> str:
        return "--- the stack's logs"


async def test_a_call_sipp_never_placed_fails_at_once_with_sipps_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """sipp dying at start used to look like a bot that never answered: 15 s, then a bare TimeoutError."""
    base = sipp_media_port()
    monkeypatch.setattr(testphone, "sipp_media_port", lambda: base)
    media = await CallMedia.open()
    sipp = Sipp(free_udp_port(), [media], ["13800000000"], max_call_s=30)
    try:
        with taken(base + 2):
            await sipp.start()
            with pytest.raises(AssertionError) as failure:
                await answered(NoStack(), sipp, media, timeout=120)
    finally:
        sipp.kill()
        media.close()
    message = str(failure.value)
    assert "sipp exited" in message  # not "still calling": it did not wait out the timeout
    assert "Unable to bind video RTP socket" in message
    assert "the stack's logs" in message


async def test_a_call_nobody_answers_fails_after_the_timeout_saying_sipp_was_still_calling() -> None:
    media = await CallMedia.open()
    silent = free_udp_port()
    sipp = Sipp(silent, [media], ["13800000000"], max_call_s=30)
    try:
        with taken(silent):  # a SIP port that takes the INVITE and never answers (a closed one gets an ICMP error)
            await sipp.start()
            with pytest.raises(AssertionError, match="sipp was still calling"):
                await answered(NoStack(), sipp, media, timeout=1.0)
    finally:
        sipp.kill()
        media.close()
