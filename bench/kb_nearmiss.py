"""Near-miss evaluation of the knowledge base: in-domain questions the FAQ does *not* answer.

The dangerous failure of an FAQ is not chit-chat (easy to refuse) but the near miss — same
department, same words, different matter — answered confidently with the wrong policy. Each set
has ``near_misses`` (right outcome: no answer; asking the resident to choose is counted apart) and
``covered_paraphrases`` (questions an entry does answer, to see the check does not refuse them).

The *dev* sets are tuned on: ``kb_nearmiss_dev.yaml``, written by the engineer who tunes the verifier
and thresholds; ``kb_nearmiss_seen.yaml``, the first blind set (run once in session 3, 3.4 % answered
wrong); ``kb_nearmiss_seen2.yaml``, the second (sessions 4–5, 3.6 % at its second look);
``kb_nearmiss_seen3.yaml``, the third (session 6, 8.3 % at its only look: its writer changed one or two
words far more often); ``kb_nearmiss_blind4.yaml``, the fourth (session 6, 8.1 % at its only look, with the
lexical answer gate); ``kb_nearmiss_blind5.yaml``, the fifth (session 8, 2.9 % at its only look, with the
gate's vector part). Spent blind sets may be read and fitted on (the answer gate, ``bench/kb_gate.py``).
The *blind* sets (``kb_nearmiss_blind6.yaml`` and ``kb_nearmiss_blind7.yaml``, session 9, each by its own
writer who read only the FAQ) are never looked at while tuning; each is reported on its own.
For the blind sets only aggregate rates are reported — no question text, no per-question misses —
so running the benchmark does not leak it.
Goal (issue 10): answered-wrong on blind near misses <= 2 %, covered top-1 >= 0.95, top-3 >= 0.99.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import yaml

from bench.kb import Item, Observation, observe
from knowledge_base.calibration import Thresholds
from knowledge_base.search import SearchService

DATA = Path(__file__).resolve().parent / "data"
DEV_FILES = (DATA / "kb_nearmiss_dev.yaml", DATA / "kb_nearmiss_seen.yaml", DATA / "kb_nearmiss_seen2.yaml",
             DATA / "kb_nearmiss_seen3.yaml", DATA / "kb_nearmiss_blind4.yaml", DATA / "kb_nearmiss_blind5.yaml")
BLIND_FILES = (DATA / "kb_nearmiss_blind6.yaml", DATA / "kb_nearmiss_blind7.yaml")


def load(*paths: Path) -> tuple[list[Item], list[Item], list[str]]:
    """Near misses (``expected`` None), covered paraphrases (``expected`` the entry), each near miss's kind."""
    misses: list[Item] = []
    kinds: list[str] = []
    covered: list[Item] = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        misses += [Item(str(x["q"]), None, str(x.get("style", ""))) for x in data.get("near_misses") or []]
        kinds += [str(x.get("kind", "")) for x in data.get("near_misses") or []]
        covered += [Item(str(x["q"]), str(x["id"]), str(x.get("style", "")))
                    for x in data.get("covered_paraphrases") or []]
    return misses, covered, kinds


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


def score(near: list[Observation], kinds: list[str], covered: list[Observation], t: Thresholds,
          clarify_max: int, with_misses: bool) -> dict[str, Any]:
    """Rates of one set; ``with_misses`` adds the failing questions (the dev set only)."""
    outcomes = collections.Counter()
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    misses: list[str] = []
    for o, kind in zip(near, kinds, strict=True):
        got = o.outcome(t, clarify_max)
        outcomes[got] += 1
        by_kind[kind][got] += 1
        if got == "answer" and with_misses:
            best = o.verdicts[0].reason if o.verdicts else ""
            misses.append(f"near-miss {kind:9} answered {o.ranked[:1]} {o.item.query} {best}")
    right = top1 = top3 = 0
    covered_outcomes = collections.Counter()
    for o in covered:
        got = o.outcome(t, clarify_max)
        covered_outcomes[got] += 1
        top1 += o.ranked[:1] == [o.item.expected]
        top3 += o.item.expected in o.ranked[:3]
        answered_right = got == "answer" and o.ranked[:1] == [o.item.expected]
        right += answered_right
        if not answered_right and with_misses:
            reason = o.verdicts[0].reason if o.verdicts else ""
            misses.append(f"covered   {got:9} want {o.item.expected} got {o.ranked[:3]} {o.item.query} {reason}")
    n, m = len(near), len(covered)
    result: dict[str, Any] = {
        "near_misses": n, "covered": m,
        "near_miss_answered_wrong": _rate(outcomes["answer"], n),
        "near_miss_declined": _rate(outcomes["none"], n),
        "near_miss_clarified": _rate(outcomes["clarify"], n),
        "near_miss_by_kind": {k: {o: _rate(c[o], sum(c.values())) for o in ("answer", "clarify", "none")}
                              for k, c in sorted(by_kind.items())},
        "covered_answered_right": _rate(right, m),
        "covered_clarified": _rate(covered_outcomes["clarify"], m),
        "covered_declined": _rate(covered_outcomes["none"], m),
        "covered_top1": _rate(top1, m), "covered_top3": _rate(top3, m),
    }
    if with_misses:
        result["misses"] = misses
    return result


def evaluate(service: SearchService, paths: tuple[Path, ...], with_misses: bool) -> dict[str, Any]:
    near, covered, kinds = load(*paths)
    return score(observe(service, near), kinds, observe(service, covered), service.thresholds,
                 service.config.clarify_max, with_misses)


def rows(label: str, r: dict[str, Any]) -> list[tuple[str, Any]]:
    """Table rows of one set, labelled ``dev`` or by the blind file's name."""
    return [
        (f"{label}: near misses / covered paraphrases", f"{r['near_misses']} / {r['covered']}"),
        (f"{label}: near miss answered wrong (goal <= 0.02)", r["near_miss_answered_wrong"]),
        (f"{label}: near miss declined (none)", r["near_miss_declined"]),
        (f"{label}: near miss clarified", r["near_miss_clarified"]),
        (f"{label}: covered answered right", r["covered_answered_right"]),
        (f"{label}: covered top-1 / top-3", f"{r['covered_top1']:.3f} / {r['covered_top3']:.3f}"),
    ]
