"""The residents of the campaign bench: one sipp UAS answering every call, its behaviour chosen by the number.

Why one sipp and not one per call (as tests/campaigns/residents.py does): a thousand residents through 20
channels need a resident that answers many calls at once for minutes. The dialled number says what the
resident does — the third digit of the mobile number (``13<k>…``) picks the branch of the
scenario — so the dialler's single ``dialler_channel`` reaches every behaviour.

Why pcap media: ``AMD()`` must hear a person greet ("喂") and then silence, and the keys must be RFC 4733
events on the same RTP stream (Asterisk locks onto the first source it hears); sipp's ``play_pcap_audio``
plays a capture with its own timing, so each behaviour's media is one capture written here: a 440 Hz
greeting, silence, then the keys after the dialplan has handed the call to the dialler's AudioSocket.
"""

from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telephony.testphone import FRAME_SAMPLES, PT_EVENT, PT_PCMU, ulaw_encode
from tests.telephony.stand_ins import LOUD, QUIET

FRAME_S = FRAME_SAMPLES / 8000
GREETING_S = 0.4  # "喂": well under amd.conf's greeting limit; AMD says HUMAN after_greeting_silence later
KEYS_AT_S = 2.5  # keys start this long after the answer: AMD (≈1.2 s) is done and AudioSocket is connected
KEY_FRAMES = 5  # 100 ms per key (RFC 4733 event packets, one per 20 ms) …
KEY_END_REPEATS = 3  # … the end packet sent three times, as RFC 4733 advises …
KEY_GAP_FRAMES = 4  # … then 80 ms of silence before the next key
TAIL_S = 1.0  # silence after the last key (the line stays live while the robot says its closing)
MACHINE_SILENCE_S = 3.5  # longer than amd.conf's initial_silence: AMD says MACHINE
HANGUP_AFTER_KEYS_S = 1.0  # the mid-call hang-up: BYE this long after its last key
RING_BEFORE_ANSWER_MS = 1000  # 180 Ringing this long before 200 OK (a person walks to the phone)
EVENT_DIGITS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
RTP_VERSION = 0x80
MARKER = 0x80
EVENT_END = 0x80
EVENT_VOLUME = 10
SSRC = 0x5EED


ANSWER, BUSY, NO_ANSWER, HANG_UP, MACHINE = "answer", "busy", "no_answer", "hang_up", "machine"

OUTCOME_OF = {ANSWER: "answered", BUSY: "busy", NO_ANSWER: "no_answer", HANG_UP: "hung_up_early", MACHINE: "machine"}


@dataclass(frozen=True)
class Behaviour:
    """One kind of resident: the digit that selects it, what it does, the keys it presses and what they mean."""

    digit: str
    name: str
    does: str  # ANSWER (keys, then waits for the robot's BYE), BUSY, NO_ANSWER, HANG_UP (keys, then BYE), MACHINE
    keys: str = ""
    answers: dict[str, Any] = field(default_factory=dict)  # what the store must hold after this resident's call

    @property
    def outcome(self) -> str:
        """The attempt outcome the dialler must record for this resident."""
        return OUTCOME_OF[self.does]

    @property
    def media(self) -> str:
        """The capture played after the answer ("" for a resident who never answers)."""
        return f"{self.does}_{self.digit}.pcap" if self.does in (ANSWER, HANG_UP, MACHINE) else ""


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("0", "answers, normal", ANSWER, "136*5#221",
              {"temperature": 36.5, "cough": "no", "other_symptoms": "no", "needs": "none"}),
    Behaviour("1", "answers, fever", ANSWER, "138*2#122",
              {"temperature": 38.2, "cough": "yes", "other_symptoms": "no", "needs": "medicine"}),
    Behaviour("2", "busy (486)", BUSY),
    Behaviour("3", "never answers", NO_ANSWER),
    Behaviour("4", "hangs up mid-call", HANG_UP, "136*8#", {"temperature": 36.8}),
    Behaviour("5", "answering machine", MACHINE),
)
BY_DIGIT = {b.digit: b for b in BEHAVIOURS}
MIX = "001234501234"  # the share of each behaviour: residents take these digits in turn
NUMBER = "+8613{digit}{index:08d}"  # 13x: mobile ranges every digit of which is valid


def phone_of(index: int) -> str:
    return NUMBER.format(digit=MIX[index % len(MIX)], index=index)


def behaviour_of(phone: str) -> Behaviour:
    """The behaviour a stored (E.164) or dialled (national) number selects."""
    national = phone.removeprefix("+86")
    return BY_DIGIT[national[2]]


# -- the media captures -----------------------------------------------------------------------------

def _rtp(seq: int, stamp: int, payload_type: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", RTP_VERSION, payload_type | (MARKER if marker else 0), seq & 0xFFFF,
                       stamp & 0xFFFFFFFF, SSRC) + payload


def media_packets(greeting_s: float, keys: str, tail_s: float, silence_s: float = 0.0) -> list[bytes]:
    """RTP packets one per 20 ms: greeting tone, silence until KEYS_AT_S, the keys, ``tail_s`` of silence."""
    tone, quiet = ulaw_encode(LOUD), ulaw_encode(QUIET)
    audio = [tone] * round(greeting_s / FRAME_S)
    audio += [quiet] * max(round(((KEYS_AT_S if keys else silence_s) - greeting_s) / FRAME_S), 0)
    packets: list[bytes] = []
    seq = stamp = 0
    for payload in audio:
        packets.append(_rtp(seq, stamp, PT_PCMU, payload, marker=seq == 0))
        seq, stamp = seq + 1, stamp + FRAME_SAMPLES
    for key in keys:
        event = EVENT_DIGITS[key]
        for frame in range(KEY_FRAMES + KEY_END_REPEATS):
            ended = frame >= KEY_FRAMES
            duration = FRAME_SAMPLES * min(frame + 1, KEY_FRAMES)
            body = struct.pack("!BBH", event, (EVENT_END if ended else 0) | EVENT_VOLUME, duration)
            packets.append(_rtp(seq, stamp, PT_EVENT, body, marker=frame == 0))
            seq += 1
        stamp += FRAME_SAMPLES * KEY_FRAMES
        for _ in range(KEY_GAP_FRAMES):
            packets.append(_rtp(seq, stamp, PT_PCMU, quiet))
            seq, stamp = seq + 1, stamp + FRAME_SAMPLES
    for _ in range(round(tail_s / FRAME_S) if keys else 0):
        packets.append(_rtp(seq, stamp, PT_PCMU, quiet))
        seq, stamp = seq + 1, stamp + FRAME_SAMPLES
    return packets


def write_pcap(path: Path, packets: list[bytes]) -> float:
    """A libpcap file (Ethernet/IPv4/UDP, one packet per 20 ms) sipp can play; returns its length in seconds.

    Why by hand: the format is four fixed headers (RFC-documented, a few lines) and no pcap writer is in the
    app environment; sipp reads only the UDP payloads and the timestamps.
    """
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # magic, version 2.4, Ethernet
    for index, payload in enumerate(packets):
        udp = struct.pack("!HHHH", 4000, 4000, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = bytes(6) + bytes(6) + b"\x08\x00" + ip
        micros = round(index * FRAME_S * 1_000_000)
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return len(packets) * FRAME_S


def write_media(folder: Path) -> dict[str, float]:
    """Every behaviour's capture in ``folder``; returns each file's length in seconds."""
    lengths = {}
    for behaviour in BEHAVIOURS:
        if behaviour.does == MACHINE:
            packets = media_packets(0.0, "", 0.0, silence_s=MACHINE_SILENCE_S)
        elif behaviour.media:
            packets = media_packets(GREETING_S, behaviour.keys, TAIL_S if behaviour.does == ANSWER else 0.0)
        else:
            continue
        lengths[behaviour.media] = write_pcap(folder / behaviour.media, packets)
    return lengths


# -- the scenario -----------------------------------------------------------------------------------

REPLY = """
  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]resident[call_number]
      [last_Call-ID:]
      CSeq: [$cseq] INVITE
      Contact: <sip:resident@[local_ip]:[local_port]>
      {body}
    ]]>
  </send>"""
SDP = """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=resident 1 1 IN IP4 [media_ip]
      s=call
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv"""
OK_TO_REQUEST = """
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
  </send>"""
BYE = """
  <send retrans="500">
    <![CDATA[
      BYE [$contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[$number]@[local_ip]:[local_port]>;tag=[pid]resident[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Contact: <sip:resident@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>"""


HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="campaign residents">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="INVITE sip:([0-9]+)@" search_in="msg" check_it="true" assign_to="whole,number"/>
      <ereg regexp="INVITE sip:13([0-9])" search_in="msg" check_it="true" assign_to="whole,kind"/>
      <ereg regexp="([0-9]+)" search_in="hdr" header="CSeq:" check_it="true" assign_to="cseq"/>
      <ereg regexp="&lt;(sip:[^&gt;]+)&gt;" search_in="hdr" header="Contact:" check_it="true"
            assign_to="whole,contact"/>
      <ereg regexp="(&lt;[^[:cntrl:]]*)" search_in="hdr" header="From:" check_it="true" assign_to="whole,caller"/>"""
RINGING = REPLY.format(status="180 Ringing", body="Content-Length: 0")


def _answered(behaviour: Behaviour, lengths: dict[str, float], max_call_ms: int) -> list[str]:
    """Ring, answer, play the capture (and log the keys it presses); then wait for the robot's BYE, or hang up."""
    parts = [RINGING, f'  <pause milliseconds="{RING_BEFORE_ANSWER_MS}"/>', REPLY.format(status="200 OK", body=SDP),
             f'  <recv request="ACK">\n    <action>\n      <exec play_pcap_audio="{behaviour.media}"/>']
    if behaviour.keys:
        parts.append(f'      <log message="PRESSED [$number] {behaviour.keys}"/>')
    parts.append("    </action>\n  </recv>")
    if behaviour.does == HANG_UP:
        hang_up_ms = round((lengths[behaviour.media] + HANGUP_AFTER_KEYS_S) * 1000)
        return [*parts, f'  <pause milliseconds="{hang_up_ms}"/>', BYE]
    return [*parts, f'  <recv request="BYE" timeout="{max_call_ms}"/>', OK_TO_REQUEST]


def _busy(behaviour: Behaviour, lengths: dict[str, float], max_call_ms: int) -> list[str]:
    return [REPLY.format(status="486 Busy Here", body="Content-Length: 0"), '  <recv request="ACK"/>']


def _never_answers(behaviour: Behaviour, lengths: dict[str, float], max_call_ms: int) -> list[str]:
    """Ring until Asterisk gives up (the ring timeout): CANCEL → 200 OK, then 487 for the INVITE."""
    return [RINGING, f'  <recv request="CANCEL" timeout="{max_call_ms}"/>', OK_TO_REQUEST,
            REPLY.format(status="487 Request Terminated", body="Content-Length: 0"), '  <recv request="ACK"/>']


BRANCHES = {ANSWER: _answered, HANG_UP: _answered, MACHINE: _answered, BUSY: _busy, NO_ANSWER: _never_answers}


def scenario(lengths: dict[str, float], max_call_ms: int) -> str:
    """The UAS scenario: branch by the number's behaviour digit (``13<k>…``); log the keys each call pressed."""
    parts = [HEAD]
    for b in BEHAVIOURS:  # strcmp gives 0 for equal strings; test turns that into the branch's flag
        parts.append(f'      <strcmp assign_to="c{b.digit}" variable="kind" value="{b.digit}"/>\n'
                     f'      <test assign_to="is{b.digit}" variable="c{b.digit}" compare="equal" value="0"/>')
    parts.append("    </action>\n  </recv>")
    parts += [f'  <nop next="b{b.digit}" test="is{b.digit}"/>' for b in BEHAVIOURS]
    parts.append('  <nop next="done"/>')
    for b in BEHAVIOURS:
        parts += [f'  <label id="b{b.digit}"/>', *BRANCHES[b.does](b, lengths, max_call_ms), '  <nop next="done"/>']
    parts.append('  <label id="done"/>\n</scenario>\n')
    return "\n".join(parts)


PRESSED = re.compile(r"PRESSED (?P<number>\d+) (?P<keys>\S+)")


class Residents:
    """The sipp UAS on its own port (media from ``media_port``) in ``folder``; ``pressed()`` reads its log."""

    def __init__(self, folder: Path, sip_port: int, media_port: int, max_call_s: float) -> None:
        self.folder, self.sip_port, self.media_port = folder, sip_port, media_port
        self.max_call_ms = round(max_call_s * 1000)
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        from telephony.teststack import die_with_parent

        lengths = write_media(self.folder)
        path = self.folder / "residents.xml"
        path.write_text(scenario(lengths, self.max_call_ms), encoding="ascii")
        argv = ["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(self.sip_port), "-mi", "127.0.0.1",
                "-mp", str(self.media_port), "-trace_logs", "-log_file", str(self.folder / "pressed.log"),
                "-trace_err", "-error_file", str(self.folder / "errors.log"), "-nostdin"]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, cwd=self.folder, stdout=asyncio.subprocess.DEVNULL, stderr=open(self.folder / "sipp.err", "wb"),
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)

    def pressed(self) -> dict[str, list[str]]:
        """National number → the key strings sipp sent it (one entry per answered call that pressed keys)."""
        log = self.folder / "pressed.log"
        found: dict[str, list[str]] = {}
        for match in PRESSED.finditer(log.read_text(errors="replace") if log.exists() else ""):
            found.setdefault(match.group("number"), []).append(match.group("keys"))
        return found

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
