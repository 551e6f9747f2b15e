"""The AudioSocket wire protocol between Asterisk's ``AudioSocket()`` application and the voice bot.

Why our own few lines instead of a library: the protocol is a 3-byte header (1-byte kind, 2-byte
big-endian payload length) and a payload, and the bot must control exactly when each frame is
written (20 ms pacing, barge-in), which a wrapper would hide.

Kinds understood by Asterisk 22 (``res/res_audiosocket.c``): 0x00 hang-up, 0x01 the call's UUID
(16 bytes, sent first), 0x03 one DTMF digit as ASCII (Asterisk ≥ 20.13/21.8/22.3), 0x10 audio as
8 kHz signed-linear 16-bit little-endian mono, 0xff error (optional 1-byte code). A caller hanging
up shows as the socket closing (or a hang-up frame).
"""

from __future__ import annotations

import asyncio
import enum
import struct
import uuid
from dataclasses import dataclass

HEADER = struct.Struct(">BH")
SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320 bytes: 160 samples of 16 bits
SILENCE_FRAME = bytes(FRAME_BYTES)


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class ProtocolError(ValueError):
    """The peer sent something that is not AudioSocket."""


@dataclass(frozen=True)
class Frame:
    kind: Kind
    payload: bytes = b""

    def encode(self) -> bytes:
        return HEADER.pack(self.kind, len(self.payload)) + self.payload

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    @property
    def digit(self) -> str:
        return self.payload[:1].decode("ascii", errors="replace")


def audio(pcm: bytes) -> bytes:
    """An encoded audio frame (the caller of this pads or splits to FRAME_BYTES)."""
    return Frame(Kind.AUDIO, pcm).encode()


def hangup() -> bytes:
    return Frame(Kind.HANGUP).encode()


def uuid_frame(call_id: uuid.UUID) -> bytes:
    return Frame(Kind.UUID, call_id.bytes).encode()


def dtmf(digit: str) -> bytes:
    return Frame(Kind.DTMF, digit.encode("ascii")[:1]).encode()


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut 8 kHz PCM into 320-byte frames, padding the last with silence."""
    frames = [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + bytes(FRAME_BYTES - len(frames[-1]))
    return frames


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or None when the peer closed the socket (a hang-up)."""
    try:
        header = await reader.readexactly(HEADER.size)
        kind_value, length = HEADER.unpack(header)
        payload = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    try:
        kind = Kind(kind_value)
    except ValueError:
        raise ProtocolError(f"unknown AudioSocket kind 0x{kind_value:02x}") from None
    if kind is Kind.UUID and len(payload) != 16:
        raise ProtocolError(f"UUID frame of {len(payload)} bytes")
    return Frame(kind, payload)
