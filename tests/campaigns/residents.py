"""sipp as the resident a campaign calls (a UAS that answers, or answers busy) with our own RTP on loopback.

Why not the scenario's own media: the resident must react to what the robot says (press keys after the
question was asked) and must greet first, as a person does, so that ``AMD()`` hears a person; sipp's file
player cannot do either. So the 200 OK's SDP points Asterisk at :class:`telephony.testphone.CallMedia`,
and Asterisk's own RTP address is read from the INVITE that sipp logs (``-trace_msg``): Asterisk sends no
audio of its own while AMD listens, so the phone must start talking without hearing anything first.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from pathlib import Path

from bench.campaign_residents import OK_TO_REQUEST
from common.net import free_udp_port
from telephony.testphone import FRAME_SAMPLES, CallMedia, sipp_media_port

REPLY = """
  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]resident[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:resident@[local_ip]:[local_port]>
      {body}
    ]]>
  </send>"""
SDP = """Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=resident 1 1 IN IP4 127.0.0.1
      s=call
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {media_port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a=sendrecv"""
ANSWERS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="resident answers">
  <recv request="INVITE" crlf="true"/>
  {ringing}
  {ok}
  <recv request="ACK" crlf="true"/>
  <recv request="BYE" timeout="{hangup_after_ms}"/>
  {bye_ok}
</scenario>
"""
BUSY = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="resident is busy">
  <recv request="INVITE" crlf="true"/>
  {busy}
  <recv request="ACK"/>
</scenario>
"""
RTP_OF_INVITE = re.compile(r"c=IN IP4 (?P<ip>[0-9.]+).*?m=audio (?P<port>\d+)", re.S)


class Resident:
    """One sipp UAS for one call: ``busy`` answers 486, else it answers and ``media`` is the phone."""

    def __init__(self, busy: bool = False, max_call_s: float = 90.0, port: int | None = None) -> None:
        self.busy, self.max_call_s = busy, max_call_s
        self.folder = Path(tempfile.mkdtemp(prefix="govbot-resident-"))
        self.port = port or free_udp_port()  # the same port again: the same number called a second time
        self.messages = self.folder / "messages.log"
        self.media: CallMedia | None = None
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        from telephony.teststack import die_with_parent

        self.media = await CallMedia.open()
        if self.busy:
            text = BUSY.format(busy=REPLY.format(status="486 Busy Here", body="Content-Length: 0"))
        else:
            text = ANSWERS.format(
                ringing=REPLY.format(status="180 Ringing", body="Content-Length: 0"),
                ok=REPLY.format(status="200 OK", body=SDP.format(media_port=self.media.port)),
                hangup_after_ms=int(self.max_call_s * 1000), bye_ok=OK_TO_REQUEST)
        scenario = self.folder / "resident.xml"
        scenario.write_text(text, encoding="ascii")
        argv = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.port),
                "-mp", str(sipp_media_port()), "-m", "1", "-trace_msg", "-message_file", str(self.messages),
                "-trace_err", "-error_file", str(self.folder / "errors.log"),
                "-timeout", f"{int(self.max_call_s + 30)}s", "-timeout_error", "-nostdin"]
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)

    async def answered(self, timeout: float) -> CallMedia:
        """Once Asterisk's INVITE is logged: start this phone's RTP towards Asterisk (silence until it speaks)."""
        assert self.media is not None
        deadline = time.monotonic() + timeout
        while (found := self._asterisk_rtp()) is None:
            assert time.monotonic() < deadline, "no INVITE from Asterisk"
            await asyncio.sleep(0.05)
        media = self.media
        media.remote = found
        media._connected.set()
        media._sender = asyncio.get_running_loop().create_task(media._send_loop())
        return media

    def _asterisk_rtp(self) -> tuple[str, int] | None:
        text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
        match = RTP_OF_INVITE.search(text)
        return (match.group("ip"), int(match.group("port"))) if match else None

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            self.kill()
        return self.proc.returncode or 0

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            os.killpg(self.proc.pid, 9)
        if self.media:
            self.media.close()


def greeting(seconds: float, tone: bytes) -> bytes:
    """A short "喂" as AMD measures it: voiced audio of ``seconds`` (then the phone sends silence)."""
    frames = int(seconds / (FRAME_SAMPLES / 8000))
    return tone * frames
