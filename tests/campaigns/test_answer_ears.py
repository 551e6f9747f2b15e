"""The second hearing with the question's answers as hotwords: only for what the first could not read, corroborated."""

from __future__ import annotations

from campaigns.answer_ears import AnswerEars
from campaigns.dialler_config import DiallerConfig
from campaigns.model import Question
from speech.base import AsrEngine, StreamingRecognizer, Transcript

CONF = DiallerConfig.load(answer_hotwords=True, sound_match=True)
IDENTITY = Question(id="identity", text="请问是张三吗？是请按1，不是请按2。", type="yes_no",
                    keys={"1": "yes", "2": "no"})
NUMBER = Question(id="temperature", text="请说出体温", type="number", unit="度")


class Scripted(StreamingRecognizer):
    def __init__(self, text: str) -> None:
        self.text, self.audio = text, b""

    @property
    def speaking(self) -> bool:
        return False

    def accept_audio(self, pcm: bytes) -> Transcript | None:
        self.audio += pcm
        return None

    def finish(self) -> Transcript:
        return Transcript(self.text if self.audio else "", True)


class Engine(AsrEngine):
    """Hears ``plain`` without phrases and ``hot`` with them; records the phrases it was given."""

    name = "scripted"

    def __init__(self, plain: str, hot: str) -> None:
        self.plain, self.hot = plain, hot
        self.given: list[list[str] | None] = []

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        self.given.append(phrases)
        return Scripted(self.hot if phrases else self.plain)

    def transcribe(self, audio, phrases=None) -> str:
        return self.plain


def heard(engine: Engine, question: Question | None, conf: DiallerConfig = CONF) -> str:
    ears = AnswerEars(engine, conf)
    ears.question = question
    recognizer = ears.recognizer(8000)
    recognizer.accept_audio(b"\0\1" * 800)
    return recognizer.finish().text


def test_an_unreadable_answer_is_heard_again_with_the_answers_as_hotwords() -> None:
    engine = Engine(plain="续", hot="是，")
    assert heard(engine, IDENTITY) == "是，"
    assert engine.given[0] is None and "是" in engine.given[1] and "不是" in engine.given[1]
    assert "不要再打" not in engine.given[1]  # hotwords are answers only


def test_a_readable_answer_is_not_heard_again() -> None:
    engine = Engine(plain="不是我", hot="是")
    assert heard(engine, IDENTITY) == "不是我" and engine.given == [None]


def test_hotwords_cannot_make_an_answer_out_of_something_else() -> None:
    assert heard(Engine(plain="位置", hot="对"), IDENTITY) == "位置"  # 喂, heard as 对 only with the hotwords


def test_nothing_heard_is_not_heard_again() -> None:
    engine = Engine(plain="", hot="不满意")  # what Whisper made of silence with the answers as hotwords
    assert heard(engine, IDENTITY) == "" and engine.given == [None]


def test_an_intent_heard_the_second_time_is_kept() -> None:
    assert heard(Engine(plain="电线大灯", hot="别再打了"), IDENTITY) == "别再打了"


def test_off_without_a_question_for_numbers_or_when_disabled() -> None:
    for question, conf in ((None, CONF), (NUMBER, CONF), (IDENTITY, DiallerConfig.load(answer_hotwords=False))):
        engine = Engine(plain="续", hot="是")
        assert heard(engine, question, conf) == "续" and engine.given == [None]
