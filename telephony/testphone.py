"""A resident's phone on loopback, for the tests and the turn-latency bench: sipp + our own RTP.

Why split the phone in two: sipp (Debian ``sip-tester``) is the real SIP user agent — INVITE,
ACK, BYE, N calls at once — but its media is a fire-and-forget file player that cannot tell us
*when* the bot's answer arrived. So each call's SDP points Asterisk at a UDP socket of ours: we
hear every RTP packet the caller would hear (time-stamped, decoded from G.711 µ-law), speak a
recorded request paced at 20 ms, press keys as RFC 4733 events, and keep the line alive with
silence like a real phone does. Turn latency is then measured where the resident sits.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import os
import random
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.net import free_udp_port

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
FRAME_S = 0.02
PT_PCMU = 0
PT_EVENT = 101
VOICED_DBFS = -45.0
# sipp's unused RTP sockets: below the kernel's ephemeral ports (32768+) and the tests' Asterisk RTP ports
# (telephony.teststack.stack_env, 30000+) and the production RTP range ([telephony] rtp_port_start, 20000).
SIPP_MEDIA_PORTS = range(10000, 20000, 4)
_SIPP_MEDIA_BASES = itertools.cycle(random.sample(SIPP_MEDIA_PORTS, len(SIPP_MEDIA_PORTS)))
_BIAS, _CLIP = 0x84, 32635


def ulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = (x < 0).astype(np.int32)
    s = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.clip(np.floor(np.log2(s)).astype(np.int32) - 7, 0, 7)
    mantissa = (s >> (exponent + 3)) & 0x0F
    return (~((sign << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype("<i2").tobytes()


def dbfs(pcm: bytes) -> float:
    data = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = math.sqrt(float(np.mean(data * data))) if data.size else 0.0
    return 20 * math.log10(rms / 32768) if rms > 0 else -math.inf


@dataclass
class Heard:
    at: float   # time.monotonic() of arrival
    pcm: bytes
    voiced: bool


@dataclass
class CallMedia(asyncio.DatagramProtocol):
    """One call's audio as the caller hears and speaks it."""

    heard: list[Heard] = field(default_factory=list)
    voiced_at: list[float] = field(default_factory=list)  # arrival times of voiced packets, ascending
    remote: tuple[str, int] | None = None
    transport: asyncio.DatagramTransport | None = None
    port: int = 0
    _outgoing: list[tuple[int, bytes, bool]] = field(default_factory=list)  # (payload type, payload, voiced)
    _seq: int = field(default_factory=lambda: random.randrange(1 << 16))
    _ts: int = field(default_factory=lambda: random.randrange(1 << 31))
    _ssrc: int = field(default_factory=lambda: random.randrange(1 << 31))
    _sender: asyncio.Task[None] | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    spoken_until: float = 0.0  # monotonic time the last voiced speech frame went out (end of speech)

    @classmethod
    async def open(cls) -> CallMedia:
        loop = asyncio.get_running_loop()
        media = cls()
        await loop.create_datagram_endpoint(lambda: media, local_addr=("127.0.0.1", 0))
        return media

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if len(data) < 12 or data[1] & 0x7F != PT_PCMU:
            return
        if self.remote is None:
            self.remote = addr
            self._connected.set()
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        header = 12 + 4 * (data[0] & 0x0F)
        pcm, now = ulaw_decode(data[header:]), time.monotonic()
        voiced = dbfs(pcm) > VOICED_DBFS
        self.heard.append(Heard(now, pcm, voiced))
        if voiced:
            self.voiced_at.append(now)

    # -- speaking -----------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        """Asterisk has sent this call's first RTP packet (the line is open both ways from here)."""
        return self._connected.is_set()

    async def connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    def say(self, pcm: bytes) -> int:
        """Queue 8 kHz PCM as the caller's speech; returns the number of 20 ms frames queued."""
        frames = [pcm[i:i + FRAME_SAMPLES * 2] for i in range(0, len(pcm), FRAME_SAMPLES * 2)]
        for frame in frames:
            frame = frame.ljust(FRAME_SAMPLES * 2, b"\0")
            self._outgoing.append((PT_PCMU, ulaw_encode(frame), dbfs(frame) > VOICED_DBFS))
        return len(frames)

    def press(self, digit: str, duration_ms: int = 160) -> None:
        """Queue an RFC 4733 telephone-event (three updates, then three end packets)."""
        event = "0123456789*#".index(digit)
        steps = max(3, duration_ms // 20)
        for step in range(1, steps + 1):
            self._outgoing.append((PT_EVENT, struct.pack(">BBH", event, 10, step * FRAME_SAMPLES), False))
        for _ in range(3):
            self._outgoing.append((PT_EVENT, struct.pack(">BBH", event, 0x80 | 10, steps * FRAME_SAMPLES), False))
        silence = ulaw_encode(bytes(FRAME_SAMPLES * 2))
        self._outgoing.extend([(PT_PCMU, silence, False)] * 4)  # a gap, so the next key is a new event

    def idle(self) -> bool:
        return not self._outgoing

    async def _send_loop(self) -> None:
        """One packet every 20 ms: queued speech/keys, else silence (a real phone never goes quiet)."""
        silence = ulaw_encode(bytes(FRAME_SAMPLES * 2))
        due = time.monotonic()
        event_ts = None
        while self.transport is not None and not self.transport.is_closing():
            payload_type, payload, voiced = self._outgoing.pop(0) if self._outgoing else (PT_PCMU, silence, False)
            if payload_type == PT_EVENT:
                event_ts = self._ts if event_ts is None else event_ts
                ts, marker = event_ts, 0
            else:
                if event_ts is not None:
                    event_ts = None
                ts, marker = self._ts, 0
                if voiced:
                    self.spoken_until = time.monotonic()
            header = struct.pack(">BBHII", 0x80, (marker << 7) | payload_type, self._seq, ts, self._ssrc)
            self.transport.sendto(header + payload, self.remote)
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    # -- hearing ------------------------------------------------------------------------------
    def first_voiced_after(self, since: float) -> float | None:
        index = bisect.bisect_right(self.voiced_at, since)
        return self.voiced_at[index] if index < len(self.voiced_at) else None

    def last_voiced(self) -> float | None:
        return self.voiced_at[-1] if self.voiced_at else None

    def voiced_seconds(self, since: float = 0.0, until: float = math.inf) -> float:
        count = bisect.bisect_right(self.voiced_at, until) - bisect.bisect_right(self.voiced_at, since)
        return count * FRAME_S

    async def wait_voiced(self, since: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (at := self.first_voiced_after(since)) is not None:
                return at
            await asyncio.sleep(0.02)
        raise TimeoutError(f"nothing heard within {timeout} s")

    async def wait_quiet(self, quiet_s: float, timeout: float) -> float:
        """Wait until the bot has said nothing for ``quiet_s``; returns when it last spoke."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.last_voiced() or 0.0
            if last and time.monotonic() - last >= quiet_s:
                return last
            await asyncio.sleep(0.02)
        raise TimeoutError(f"the bot did not pause within {timeout} s")

    async def wait_sent(self, timeout: float = 60.0) -> float:
        """Wait until everything queued was sent; returns when the last speech frame left."""
        deadline = time.monotonic() + timeout
        while self._outgoing and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.spoken_until

    def close(self) -> None:
        if self._sender:
            self._sender.cancel()
        if self.transport:
            self.transport.close()


SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="govbot resident">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field2]" <sip:[field2]@[local_ip]:[local_port]>;tag=[pid]govbot[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field2]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=resident 1 1 IN IP4 127.0.0.1
      s=call
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio [field0] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field2]" <sip:[field2]@[local_ip]:[local_port]>;tag=[pid]govbot[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[field2]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv request="INFO" optional="true" next="caller_hangs_up"/>
  <recv request="BYE" timeout="{hangup_after_ms}" ontimeout="caller_gives_up"/>
  <send next="done">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="caller_hangs_up"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="caller_gives_up"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field2]" <sip:[field2]@[local_ip]:[local_port]>;tag=[pid]govbot[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:[field2]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <label id="done"/>
</scenario>
"""


def sipp_media_port(tries: int = 50) -> int:
    """A base port for sipp's own RTP sockets, which we never use but sipp always binds: the base and base + 2,
    with one try when ``-mp`` is given, and an exit at start when either is taken (without ``-mp`` it scans up
    from 6000, and two sipps starting together can each take the other's second port).

    Why not a ``bind(0)`` port checked alone: base + 2 was sometimes another socket's, sipp died at once, and
    the test waited for a call that was never placed. These bases lie below the kernel's ephemeral range (no
    other ``bind(0)`` can take them between this check and sipp's bind) and come from a shuffled cycle, so
    sipps started together by this process never share one."""
    import socket

    for base in itertools.islice(_SIPP_MEDIA_BASES, tries):
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        try:
            for sock, port in zip(sockets, (base, base + 2), strict=True):
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no free UDP port pair for sipp's media in {tries} tries")


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Sipp:
    """sipp placing ``len(media)`` simultaneous calls, each hung up by the caller on ``hangup(i)``.

    The caller's hang-up is a SIP INFO we send into the call's dialog (sipp names calls
    ``<token>-<n>`` through ``-cid_str``); the scenario answers it and sends the BYE. Without it the
    caller gives up after ``max_call_s``; a BYE from Asterisk (the bot hung up) is answered.
    """

    def __init__(self, sip_port: int, media: list[CallMedia], callers: list[str], max_call_s: float = 120.0,
                 service: str = "12345", sipp: str = "sipp", calls_per_s: float | None = None) -> None:
        self.sip_port, self.media, self.callers = sip_port, media, callers
        self.max_call_s, self.service, self.sipp = max_call_s, service, sipp
        self.calls_per_s = calls_per_s  # None: every call at once; else calls arrive at this rate
        self.folder = Path(tempfile.mkdtemp(prefix="govbot-sipp-"))
        self.token = f"govbot{random.randrange(1 << 30)}"
        self.local_port = free_udp_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        from telephony.teststack import die_with_parent

        scenario = self.folder / "resident.xml"
        scenario.write_text(SCENARIO.replace("{hangup_after_ms}", str(int(self.max_call_s * 1000))), encoding="ascii")
        calls = self.folder / "calls.csv"
        lines = [f"{m.port};{self.service};{c};\n" for m, c in zip(self.media, self.callers, strict=True)]
        calls.write_text("SEQUENTIAL\n" + "".join(lines), encoding="ascii")
        count = len(self.media)
        rate, period_ms = (count, 1000) if not self.calls_per_s else (1, max(1, round(1000 / self.calls_per_s)))
        argv = [self.sipp, f"127.0.0.1:{self.sip_port}", "-sf", str(scenario), "-inf", str(calls),
                "-m", str(count), "-l", str(count), "-r", str(rate), "-rp", str(period_ms), "-i", "127.0.0.1",
                "-p", str(self.local_port), "-mp", str(sipp_media_port()), "-cid_str", f"{self.token}-%u",
                "-trace_err", "-error_file", str(self.folder / "errors.log"),
                "-timeout", f"{int(self.max_call_s + 30)}s", "-timeout_error", "-nostdin"]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)

    def hangup(self, index: int) -> None:
        """The resident of call ``index`` (0-based) hangs up."""
        import socket

        call_id = f"{self.token}-{index + 1}"
        info = (f"INFO sip:{self.callers[index]}@127.0.0.1:{self.local_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{random.randrange(1 << 40)}\r\n"
                f"From: <sip:hangup@127.0.0.1>;tag=hangup{index}\r\nTo: <sip:{self.callers[index]}@127.0.0.1>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 INFO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(info.encode(), ("127.0.0.1", self.local_port))

    async def wait(self, timeout: float | None = None) -> SippResult:
        assert self.proc is not None
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout or self.max_call_s + 60)
        finally:
            if self.proc.returncode is None:
                os.killpg(self.proc.pid, 9)
                await self.proc.wait()
        errors = self.folder / "errors.log"
        return SippResult(self.proc.returncode or 0, out.decode(errors="replace"),
                          errors.read_text(errors="replace") if errors.exists() else "")

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            os.killpg(self.proc.pid, 9)
