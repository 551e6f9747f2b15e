"""Upload decoding and validation (speech.audio): the containers residents' apps send, and every way a
recording can be unusable — empty, corrupt, wrong container, silent, clipped, too short, too long."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest

from common import settings
from speech.audio import AudioError, Limits, decode, resample, resample_with, to_wav, validate
from speech.base import Audio

RATE = 16_000
LIMITS = Limits.from_settings(settings.section("speech"))


def tone(seconds: float = 1.0, amplitude: float = 0.3, rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * amplitude * 32767).astype("<i2")


def encode(container: str, codec: str, samples: np.ndarray, rate: int = 48_000) -> bytes:
    """Encode with PyAV, as a browser (WebM/Opus), WeChat-like app (OGG/Opus) or a recorder would."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(("container", "codec"), [("wav", "pcm_s16le"), ("ogg", "libopus"), ("webm", "libopus")])
def test_decodes_uploads_to_mono_16k(container: str, codec: str) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV build without {codec}")
    audio = decode(encode(container, codec, tone(1.0)), RATE)
    assert audio.sample_rate == RATE
    assert 0.9 < audio.seconds < 1.2
    validate(audio, LIMITS)


def test_wav_from_our_own_writer() -> None:
    audio = decode(to_wav(Audio(tone(0.5, rate=8_000).tobytes(), 8_000)), RATE)
    assert abs(audio.seconds - 0.5) < 0.02


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_audio"),
    (b"\x00\x01garbage" * 100, "corrupt_audio"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 8, "corrupt_audio"),  # truncated header
])
def test_bad_files(data: bytes, code: str) -> None:
    with pytest.raises(AudioError) as info:
        decode(data, RATE)
    assert info.value.code == code


def test_wrong_container_is_named() -> None:
    if "flac" not in av.codecs_available:
        pytest.skip("PyAV build without flac")
    with pytest.raises(AudioError) as info:
        decode(encode("flac", "flac", tone(1.0)), RATE)
    assert info.value.code == "unsupported_container" and "WAV" in info.value.message


@pytest.mark.parametrize(("samples", "code"), [
    (np.zeros(RATE, dtype="<i2"), "silent_audio"),
    ((np.random.default_rng(0).normal(0, 3, RATE)).astype("<i2"), "silent_audio"),
    (np.full(RATE, 32767, dtype="<i2"), "clipped_audio"),
    (tone(0.1, rate=RATE), "audio_too_short"),
    (tone(LIMITS.max_seconds + 1, rate=RATE), "audio_too_long"),
])
def test_unusable_recordings(samples: np.ndarray, code: str) -> None:
    with pytest.raises(AudioError) as info:
        validate(Audio(samples.tobytes(), RATE), LIMITS)
    assert info.value.code == code and info.value.message


def test_resample_keeps_duration_and_format() -> None:
    audio = Audio(tone(2.0, rate=22_050).tobytes(), 22_050)
    phone = resample(audio, 8_000)
    assert phone.sample_rate == 8_000 and len(phone.pcm) % 2 == 0
    assert abs(phone.seconds - 2.0) < 0.01
    assert resample(Audio(b"", 22_050), 8_000).pcm == b""


def test_8_bit_and_48k_wav_uploads_are_converted() -> None:
    """Old recorders write 8-bit WAV and browsers 48 kHz: both decode to 16-bit mono at the asked rate."""
    loud = tone(1.0, rate=48_000)
    for sample_width, pcm in [(1, ((loud.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()),
                              (2, loud.tobytes())]:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(sample_width)
            out.setframerate(48_000)
            out.writeframes(pcm)
        audio = decode(buffer.getvalue(), RATE)
        assert audio.sample_rate == RATE and abs(audio.seconds - 1.0) < 0.02
        validate(audio, LIMITS)  # neither silent nor clipped after conversion


def test_a_two_minute_monologue_is_refused_with_the_limit_named() -> None:
    with pytest.raises(AudioError) as info:
        validate(Audio(tone(120.0, rate=RATE).tobytes(), RATE), LIMITS)
    assert info.value.code == "audio_too_long" and f"{LIMITS.max_seconds:.0f}" in info.value.message


@pytest.mark.parametrize("method", ["swr", "poly"])
def test_both_resamplers_keep_duration_level_and_format(method: str) -> None:
    phone = Audio(tone(1.0, rate=8_000).tobytes(), 8_000)
    wide = resample_with(phone, 16_000, method)
    assert wide.sample_rate == 16_000 and abs(wide.seconds - 1.0) < 0.01
    level = np.abs(np.frombuffer(wide.pcm, dtype="<i2")).max() / np.abs(tone(1.0, rate=8_000)).max()
    assert 0.9 < level < 1.1


def test_unknown_resampler_names_the_setting() -> None:
    with pytest.raises(ValueError, match="whisper_resampler"):
        resample_with(Audio(tone(0.5, rate=8_000).tobytes(), 8_000), 16_000, "sox")
