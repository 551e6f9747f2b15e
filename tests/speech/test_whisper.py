"""The Whisper engine for real: the assembled Whisper-base model on a synthesized Mandarin sentence,
whole-file and streaming (energy endpointing), at 16 kHz and telephone 8 kHz."""

from __future__ import annotations

from bench.voice import comparable, edit_distance
from speech.audio import resample
from speech.base import Audio
from telephony.testphone import ulaw_decode, ulaw_encode
from tests.speech.conftest import MANDARIN, espeak, feed, noise

MAX_CER = 0.5  # espeak's Mandarin is hard for Whisper-base (bench CER ~0.5); this sentence usually scores 0


def cer(hypothesis: str) -> float:
    ref = comparable(MANDARIN)
    return edit_distance(ref, comparable(hypothesis)) / len(ref)


def test_transcribes_mandarin_in_simplified_characters(whisper_engine, mandarin_16k) -> None:
    text = whisper_engine.transcribe(mandarin_16k)
    assert cer(text) <= MAX_CER, text
    assert "險" not in text and "馬" not in text  # Simplified, whatever the model wrote


def test_telephone_rate(whisper_engine, mandarin_16k) -> None:
    assert cer(whisper_engine.transcribe(resample(mandarin_16k, 8_000))) <= MAX_CER


def test_streaming_endpoint_then_final(whisper_engine, mandarin_16k) -> None:
    rate = 8_000
    speech = resample(mandarin_16k, rate).pcm
    recognizer = whisper_engine.recognizer(rate)
    events = feed(recognizer, noise(0.5, rate) + speech + noise(1.5, rate, seed=1), rate)
    finals = [(at, t) for at, t in events if t.is_final]
    assert len(finals) == 1, events
    at, transcript = finals[0]
    speech_end = 0.5 + len(speech) / 2 / rate
    assert at - speech_end < 1.0  # trailing-silence setting (0.6 s) plus a frame or two
    assert cer(transcript.text) <= MAX_CER and transcript.confidence is not None
    assert not recognizer.speaking
    assert recognizer.finish().text == ""


def test_speaking_flag_for_barge_in(whisper_engine, mandarin_16k) -> None:
    rate = 16_000
    recognizer = whisper_engine.recognizer(rate)
    feed(recognizer, noise(0.3, rate) + mandarin_16k.pcm[: rate], rate)  # first second of speech
    assert recognizer.speaking
    assert cer(recognizer.finish().text) < 1.0  # finish() transcribes what was heard so far


def test_silence_gives_an_empty_final_after_the_timeout(whisper_engine) -> None:
    rate = 8_000
    recognizer = whisper_engine.recognizer(rate)
    events = feed(recognizer, noise(6.0, rate), rate)
    assert [t.text for _at, t in events] == [""]
    assert events[0][0] >= 4.9  # [speech] endpoint_silence_timeout_s = 5


def test_empty_audio(whisper_engine) -> None:
    assert whisper_engine.transcribe(Audio(b"", 16_000)) == ""


def test_the_same_phone_utterance_gives_the_same_words_every_time(whisper_engine) -> None:
    """faster-whisper's temperature fallback *sampled*: this µ-law complaint (espeak-ng's default voice,
    slow) came out differently on 10 of 10 decodes (我要求求求…, 我虽然是普通话…) before decoding was made
    deterministic; the phone, uploads and the CLI all decode this way."""
    spoken = espeak("我要投诉，小区门口的路灯坏了。", "cmn-latn-pinyin", 8_000, speed=110)
    heard = Audio(ulaw_decode(ulaw_encode(spoken.pcm)), 8_000)
    texts = {whisper_engine.transcribe(heard) for _ in range(4)}
    assert len(texts) == 1, texts


def test_a_short_answer_is_not_completed_with_a_prompt(whisper_engine) -> None:
    """An initial prompt ("以下是普通话的句子。") leaked into short answers: 不是 came out as 普通话。"""
    answer = espeak("不是", "cmn-latn-pinyin+f3", 16_000)
    for audio in (answer, resample(answer, 8_000)):
        text = whisper_engine.transcribe(audio)
        assert not any(word in text for word in ("普通话", "句子", "以下")), text
