"""Fit the answer gate (knowledge_base/gate.py) on the labelled sets that may be fitted on, and show what it does.

What it is fitted on: every near-miss set that is *not* the blind one (``kb_nearmiss.DEV_FILES``: the dev
set and the spent blind sets) and the seed's *calibration* split — never the seed's evaluation split nor
the blind set, so ``make bench-kb`` still judges it on questions it never saw. The population is what
the gate will face: questions whose best entry already clears the answer thresholds; the label is
whether that entry is the one that answers the question (a near miss never is).

Why one held-out file at a time in the report: a gate that only learned one writer's habits would look
good on a random split of that writer's questions; leaving a whole file out shows what it does for a
writer it has not seen. Run: ``python -m bench.kb_gate`` (``--check`` reports without writing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.preprocessing import StandardScaler

from bench import kb, kb_nearmiss
from bench.report import table
from common import settings
from knowledge_base import calibration
from knowledge_base.config import KbConfig
from knowledge_base.gate import FEATURES, Gate, pair_features
from knowledge_base.search import SearchService

REGULARISATION_C = 1.0   # sklearn's inverse regularisation: 0.1 and 10 did no better on held-out files
SEED_SPLIT = "calibration"
# +1: more of it can only make the answer likelier; -1: only less likely; 0: either way (how long a question is).
SIGNS = {"fused": 1, "dense": 1, "keyword": 1, "dense_mean": 1, "margin": 1, "lead": 1, "content_chars": 0,
         "not_in_wording": -1, "not_in_entry": -1, "uncovered_chars": -1, "entry_chars_asked": 1,
         "entry_bigrams_asked": 1}


@dataclass
class Row:
    source: str
    near_miss: bool
    right: bool          # the best entry is the expected one
    by_thresholds: str
    decided: str         # the outcome without the gate (thresholds and verifier)
    x: list[float]


def collect(service: SearchService) -> list[Row]:
    """Every fitting question, observed once: the gate's features of its best entry and its outcomes."""
    if service.verifier is None:
        raise SystemExit("答复把关模型需要核对器：settings.toml [knowledge_base] verifier_enabled = true")
    sources: list[tuple[str, list[kb.Item]]] = []
    for path in kb_nearmiss.DEV_FILES:
        misses, covered, _ = kb_nearmiss.load(path)
        sources.append((path.stem, misses + covered))
    sources.append((f"seed-{SEED_SPLIT}", kb.load_items(SEED_SPLIT)))
    t = service.thresholds
    no_gate = calibration.Thresholds(t.answer_min_score, t.answer_min_margin, t.answer_min_lead,
                                     t.clarify_min_score, t.clarify_min_lead)
    rows = []
    for name, items in sources:
        for o in kb.observe(service, items):
            if not o.candidates or o.features is None:
                continue
            q = service.verifier.analyse(o.item.query)
            rows.append(Row(name, o.item.expected is None and not name.startswith("seed"),
                            o.candidates[0].entry.id == o.item.expected,
                            calibration.decide(o.features, t), o.outcome(no_gate, service.config.clarify_max),
                            pair_features(service.verifier, q, o.candidates[0], o.features)))
    return rows


def fit(rows: list[Row]) -> Gate:
    """Class-balanced, L2-regularised logistic regression whose coefficients keep the sign of their evidence.

    Why signs are fixed: the near-miss writers reuse an entry's own words on purpose, so in these sets a
    high keyword score or a question that repeats the entry's words is *more* often a near miss, and an
    unconstrained fit learns to doubt exactly the residents who ask in the entry's words. A resident's
    real question that shares more with an entry is not less likely to be about it; the gate may only
    weigh each signal, not turn it round (``SIGNS``).
    """
    population = [r for r in rows if r.by_thresholds == calibration.ANSWER]
    x = np.array([r.x for r in population], dtype=np.float64)
    y = np.array([r.right for r in population], dtype=np.float64)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    weight = np.where(y == 1, len(y) / (2 * max(y.sum(), 1)), len(y) / (2 * max(len(y) - y.sum(), 1)))

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        margin = z @ w + b
        p = expit(margin)
        value = np.sum(weight * (np.logaddexp(0, margin) - y * margin)) + 0.5 * (w @ w) / REGULARISATION_C
        residual = weight * (p - y)
        return float(value), np.append(z.T @ residual + w / REGULARISATION_C, residual.sum())

    bounds = [(0, None) if SIGNS[name] > 0 else (None, 0) if SIGNS[name] < 0 else (None, None) for name in FEATURES]
    result = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)])
    counts = {"questions": len(population), "right": int(y.sum()), "wrong": int(len(y) - y.sum()),
              "sources": sorted({r.source for r in population}), "C": REGULARISATION_C}
    return Gate(tuple(scaler.mean_), tuple(np.where(scaler.scale_ > 0, scaler.scale_, 1.0)),
                tuple(float(c) for c in result.x[:-1]), float(result.x[-1]), counts)


def rates(rows: list[Row], gate: Gate | None, min_confidence: float) -> tuple[float, float]:
    """Near misses answered (wrong) and covered questions answered right, in %."""
    def answered(r: Row) -> bool:
        return r.decided == calibration.ANSWER and (gate is None or gate.probability(r.x) >= min_confidence)
    near = [r for r in rows if r.near_miss]
    covered = [r for r in rows if not r.near_miss]
    return (100 * sum(map(answered, near)) / max(len(near), 1),
            100 * sum(answered(r) and r.right for r in covered) / max(len(covered), 1))


def held_out(rows: list[Row], min_confidence: float) -> list[tuple[str, str]]:
    """For each near-miss file: the gate fitted on the others, judged on it."""
    out = []
    for source in sorted({r.source for r in rows if r.near_miss}):
        test = [r for r in rows if r.source == source]
        gate = fit([r for r in rows if r.source != source])
        (w0, c0), (w1, c1) = rates(test, None, min_confidence), rates(test, gate, min_confidence)
        out.append((f"{source} (held out): near misses answered %", f"{w0:.1f} -> {w1:.1f}"))
        out.append((f"{source} (held out): covered answered right %", f"{c0:.1f} -> {c1:.1f}"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only; do not write the gate file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        # The service without a gate: the features must not depend on the gate being fitted.
        service = kb.seeded_service(Path(tmp), dataclasses.replace(KbConfig.load(), answer_gate_enabled=False))
        rows = collect(service)
        min_confidence = service.config.answer_gate_min_confidence
        gate = fit(rows)
        path = settings.resolve_path(service.config.answer_gate_file)
    report = [("fitted on (questions the thresholds answer)", str(gate.fitted_on["questions"])),
              ("  of which the best entry is right / wrong", f"{gate.fitted_on['right']} / {gate.fitted_on['wrong']}"),
              ("min confidence (settings)", str(min_confidence)),
              *held_out(rows, min_confidence),
              *((f"coef {name}", f"{c:+.3f}") for name, c in zip(FEATURES, gate.coef, strict=True))]
    print(table(report, "Answer gate (knowledge_base/gate.py)"))
    if not args.check:
        path.write_text(json.dumps(gate.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
