"""The AudioSocket wire format, over a real TCP connection."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from telephony import audiosocket
from telephony.audiosocket import FRAME_BYTES, Frame, Kind, ProtocolError


def test_frames_encode_as_kind_length_payload() -> None:
    call = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")
    assert audiosocket.hangup() == b"\x00\x00\x00"
    assert audiosocket.uuid_frame(call) == b"\x01\x00\x10" + call.bytes
    assert audiosocket.dtmf("0") == b"\x03\x00\x010"
    assert audiosocket.audio(bytes(FRAME_BYTES))[:3] == b"\x10\x01\x40"  # 320 bytes, big-endian length


def test_pcm_is_cut_into_320_byte_frames_padded_with_silence() -> None:
    frames = audiosocket.split_frames(b"\x01\x02" * 500)  # 1000 bytes
    assert [len(f) for f in frames] == [320, 320, 320, 320]
    assert frames[-1][40:] == bytes(280)
    assert audiosocket.split_frames(b"") == []


async def roundtrip(data: bytes) -> list[Frame | None]:
    """Send ``data`` over a real socket and read frames until the peer closes."""
    received: list[Frame | None] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (frame := await audiosocket.read_frame(reader)) is not None:
                received.append(frame)
            received.append(None)
        except ProtocolError as exc:
            received.append(Frame(Kind.ERROR, str(exc).encode()))
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for start in range(0, len(data), 7):  # dribbled: frames arrive split across TCP reads
        writer.write(data[start:start + 7])
        await writer.drain()
    writer.close()
    await asyncio.wait_for(done.wait(), 5)
    server.close()
    return received


async def test_frames_survive_tcp_fragmentation_and_close_means_hangup() -> None:
    call = uuid.uuid4()
    pcm = bytes(range(256)) + bytes(64)
    frames = await roundtrip(audiosocket.uuid_frame(call) + audiosocket.audio(pcm) + audiosocket.dtmf("#"))
    assert frames[0] is not None and frames[0].kind is Kind.UUID and frames[0].uuid == call
    assert frames[1] == Frame(Kind.AUDIO, pcm)
    assert frames[2] is not None and frames[2].digit == "#"
    assert frames[3] is None  # the socket closed: the caller hung up


@pytest.mark.parametrize("data, message", [(b"\x42\x00\x00", "unknown AudioSocket kind 0x42"),
                                            (b"\x01\x00\x02ab", "UUID frame of 2 bytes")])
async def test_garbage_is_a_protocol_error(data: bytes, message: str) -> None:
    frames = await roundtrip(data)
    assert frames[-1] is not None and frames[-1].kind is Kind.ERROR and message in frames[-1].payload.decode()
