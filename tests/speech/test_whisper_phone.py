"""Whisper tuned for the phone (issue 11): no prompt, no timestamps, bounded hotwords, fitted windows,
several callers' utterances decoded together, each getting its own transcript."""

from __future__ import annotations

import pytest

from bench.voice import comparable
from common import settings
from speech.asr import vocabulary
from speech.asr.whisper import WHISPER_WINDOW_S, DecodeOptions
from speech.base import Audio
from tests.speech.conftest import MANDARIN, espeak, noise

FRAMES_PER_S = 100


def test_settings_decode_without_prompt_and_timestamps() -> None:
    options = DecodeOptions.from_settings(settings.section("speech"))
    assert options.initial_prompt is None and options.without_timestamps
    assert options.temperatures == (0.0,)


def test_the_engine_prompt_carries_no_previous_text(whisper_engine) -> None:
    tokenizer = whisper_engine.tokenizer
    assert tokenizer.sot_prev not in whisper_engine.prompt  # nothing before the start of transcript
    assert whisper_engine.prompt[-1] == tokenizer.no_timestamps


def test_window_is_fitted_and_bounded() -> None:
    options = DecodeOptions(window_min_s=10.0, window_step_s=1.0, window_margin_s=3.0)
    assert options.window_frames(1.2, FRAMES_PER_S) == 10 * FRAMES_PER_S
    assert options.window_frames(8.5, FRAMES_PER_S) == 12 * FRAMES_PER_S
    assert options.window_frames(29.0, FRAMES_PER_S) == WHISPER_WINDOW_S * FRAMES_PER_S


@pytest.mark.parametrize(("key", "value"), [("WHISPER_WINDOW_MIN_S", "0"), ("WHISPER_WINDOW_MIN_S", "31"),
                                            ("WHISPER_WINDOW_STEP_S", "0"), ("WHISPER_TEMPERATURES", "[]")])
def test_bad_decode_settings_name_the_field(key: str, value: str) -> None:
    with settings.overrides({f"GOVBOT__SPEECH__{key}": value}):
        with pytest.raises(ValueError, match=key.lower()):
            DecodeOptions.from_settings(settings.section("speech"))


def test_hotwords_are_bounded_deduplicated_and_emergency_first() -> None:
    text = vocabulary.bounded(["燃气泄漏", "着火", "燃气泄漏", "KTV", "路灯", "一个很长很长的词语"], 10)
    assert text == "燃气泄漏 着火 路灯"  # duplicate and Latin dropped; the next term would pass 10 characters


def test_hotwords_from_settings() -> None:
    conf = settings.section("speech")
    with settings.overrides({"GOVBOT__SPEECH__WHISPER_HOTWORDS": "false"}):
        assert vocabulary.hotwords(settings.section("speech")) is None
    with settings.overrides({"GOVBOT__SPEECH__WHISPER_HOTWORDS": "true"}):
        text = vocabulary.hotwords(settings.section("speech"))
    assert text is not None and len(text) <= int(conf["whisper_hotwords_max_chars"])
    assert text.startswith(conf["whisper_hotwords_emergency"][0])
    assert "燃气" in text.split()  # the urgent service keywords of the catalogue follow


def test_hotwords_reach_the_prompt_of_sentences_but_not_of_short_answers(whisper_engine) -> None:
    tokenizer, options = whisper_engine.tokenizer, whisper_engine.options
    assert options.hotwords and options.hotwords_min_s > 0  # the settings turn them on
    hot = whisper_engine.prompt_for(options.hotwords_min_s + 1.0)
    assert hot[0] == tokenizer.sot_prev
    spoken = tokenizer.decode(hot[1:hot.index(tokenizer.sot)]).strip()
    assert spoken == options.hotwords  # bounded by whisper_hotwords_max_chars, well under half the context
    assert len(hot) < whisper_engine.model.max_length // 2
    assert whisper_engine.prompt_for(options.hotwords_min_s / 2) == whisper_engine.prompt  # 是的 / 不是


def test_a_batch_gives_each_caller_their_own_transcript(whisper_engine, mandarin_16k) -> None:
    other_text = "请帮我查一下工单进度"
    other = espeak(other_text, "cmn-latn-pinyin+f3", mandarin_16k.sample_rate)
    first, second, empty = whisper_engine.decode_batch([mandarin_16k, other, Audio(b"", 16_000)])
    assert empty.text == ""

    def shared(text: str, reference: str) -> int:
        return len(set(comparable(text)) & set(comparable(reference)))

    assert shared(first.text, MANDARIN) > shared(first.text, other_text), first
    assert shared(second.text, other_text) > shared(second.text, MANDARIN), second


def test_a_two_minute_monologue_is_transcribed_without_exceeding_the_token_limit(whisper_engine,
                                                                                 mandarin_16k) -> None:
    rate = mandarin_16k.sample_rate
    pause = noise(2.0, rate)
    repeats = int(120 / (mandarin_16k.seconds + 2.0)) + 1
    long = Audio((mandarin_16k.pcm + pause) * repeats, rate)
    assert long.seconds >= 120
    # Before the per-window token cap this raised ValueError (466 new tokens > Whisper's 448).
    assert isinstance(whisper_engine.transcribe(long), str)
