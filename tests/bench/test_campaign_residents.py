"""The campaign bench's residents: numbers that select behaviours, the media captures sipp plays, the scenario.

The captures are read back the way sipp reads them (libpcap records → Ethernet/IPv4/UDP → RTP), so a key that
would not reach Asterisk as an RFC 4733 event, or a greeting AMD could not hear, fails here and not an hour
into a bench run.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bench.campaign_residents import (
    BEHAVIOURS,
    EVENT_DIGITS,
    FRAME_S,
    KEYS_AT_S,
    MACHINE,
    MIX,
    behaviour_of,
    phone_of,
    scenario,
    write_media,
)
from campaigns.phones import normalise
from telephony.testphone import PT_EVENT, PT_PCMU, ulaw_decode

PCAP_HEADER, RECORD_HEADER, LINK_IP_UDP = 24, 16, 14 + 20 + 8
RTP_HEADER = 12
DIGIT_OF = {code: key for key, code in EVENT_DIGITS.items()}


def read_rtp(path: Path) -> list[tuple[float, int, bytes]]:
    """(seconds, payload type, payload) of every packet in a capture."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    packets, offset = [], PCAP_HEADER
    while offset < len(data):
        sec, usec, length, _ = struct.unpack("<IIII", data[offset:offset + RECORD_HEADER])
        frame = data[offset + RECORD_HEADER:offset + RECORD_HEADER + length]
        assert frame[12:14] == b"\x08\x00" and frame[14 + 9] == 17  # IPv4, UDP
        rtp = frame[LINK_IP_UDP:]
        assert rtp[0] == 0x80
        packets.append((sec + usec / 1e6, rtp[1] & 0x7F, rtp[RTP_HEADER:]))
        offset += RECORD_HEADER + length
    return packets


def keys_of(packets: list[tuple[float, int, bytes]]) -> tuple[str, float | None]:
    """The keys the events spell (one per event's first end packet) and when the first key starts."""
    keys, first, ended = "", None, False
    for at, payload_type, payload in packets:
        if payload_type != PT_EVENT:
            ended = False
            continue
        event, flags, _ = struct.unpack("!BBH", payload)
        first = at if first is None else first
        if flags & 0x80 and not ended:
            keys += DIGIT_OF[event]
        ended = bool(flags & 0x80)
    return keys, first


def test_every_resident_number_is_a_callable_mobile_that_selects_its_behaviour() -> None:
    for index in range(3 * len(MIX)):
        phone = phone_of(index)
        assert normalise(phone, "CN") == phone
        assert behaviour_of(phone).digit == MIX[index % len(MIX)]
        assert behaviour_of(phone.removeprefix("+86")) is behaviour_of(phone)
    assert {b.digit for b in BEHAVIOURS} == set(MIX)


def test_each_capture_greets_then_presses_its_keys_after_amd(tmp_path: Path) -> None:
    lengths = write_media(tmp_path)
    for behaviour in BEHAVIOURS:
        if not behaviour.media:
            assert behaviour.media not in lengths
            continue
        packets = read_rtp(tmp_path / behaviour.media)
        assert [round(at / FRAME_S) for at, _, _ in packets] == list(range(len(packets)))  # one per 20 ms
        keys, first = keys_of(packets)
        assert keys == behaviour.keys
        voiced = [at for at, pt, payload in packets
                  if pt == PT_PCMU and max(struct.unpack(f"<{len(payload)}h", ulaw_decode(payload))) > 1000]
        if behaviour.does == MACHINE:
            assert not voiced and packets[-1][0] > 2.5  # silent beyond amd.conf's initial_silence
        else:
            assert voiced and max(voiced) < 1.5 and first is not None and first >= KEYS_AT_S


@pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (ops/install.sh app installs it)")
def test_sipp_accepts_the_scenario(tmp_path: Path) -> None:
    lengths = write_media(tmp_path)
    (tmp_path / "residents.xml").write_text(scenario(lengths, 60_000), encoding="ascii")
    done = subprocess.run(["sipp", "-sf", "residents.xml", "-i", "127.0.0.1", "-p", "0", "-m", "0",
                           "-nostdin", "-timeout", "1s"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert "referenced" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "Test Terminated" in done.stdout, done.stdout + done.stderr
