"""NLU quality and speed on utterances the model was never trained on.

Two sets: ``blind`` (bench/data/nlu_blind.yml, the headline number) was written by two writers who
never saw the training data; ``heldout`` (bench/data/nlu_heldout.yml) was also written apart from
it, but its misses have been read to decide what training data to add, so it flatters the model.
The blind set's misses are therefore not printed (``--show-blind-errors`` does, and after that the
set should be replaced); an example whose text is also a training example is left out and counted.

Starts a real Rasa server with the current model and sends every utterance to ``/model/parse``:
intent accuracy and macro-F1 (a low-confidence ``nlu_fallback`` counts as wrong), entity recall,
and parse latency p50/p95. Goals: macro-F1 >= 0.95, p50 <= 25 ms.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

from assistant.actions.validators import merge_locations, place_mentioned
from bench.report import percentile, table, write
from common import settings

DATA = Path(__file__).resolve().parent / "data"
SETS = {"blind": DATA / "nlu_blind.yml", "heldout": DATA / "nlu_heldout.yml"}
TRAINING = Path(__file__).resolve().parents[1] / "assistant" / "data"
MODEL_SUFFIX = ".tar.gz"
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>[^)]+)\)|\{(?P<json>[^}]+)\})")


def load_examples(path: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(plain text, intent, [(entity, surface text)]) for each example."""
    examples = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            raw = line[2:].strip()
            entities = []
            for match in ANNOTATION.finditer(raw):
                name = match.group("name") or yaml.safe_load("{" + match.group("json") + "}")["entity"]
                entities.append((name, match.group("text")))
            examples.append((ANNOTATION.sub(lambda m: m.group("text"), raw), block["intent"], entities))
    return examples


def macro_f1(pairs: list[tuple[str, str]]) -> tuple[float, dict[str, float]]:
    labels = sorted({gold for gold, _ in pairs})
    scores = {}
    for label in labels:
        tp = sum(1 for gold, pred in pairs if gold == label and pred == label)
        fp = sum(1 for gold, pred in pairs if gold != label and pred == label)
        fn = sum(1 for gold, pred in pairs if gold == label and pred != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return sum(scores.values()) / len(scores), scores


def training_texts() -> set[str]:
    return {text for path in TRAINING.glob("nlu*.yml") for text, _, _ in load_examples(path)}


def run(base_url: str, token: str, path: Path) -> dict:
    trained = training_texts()
    everything = load_examples(path)
    examples = [example for example in everything if example[0] not in trained]
    client = httpx.Client(timeout=30)
    for _ in range(10):  # warm-up
        client.post(f"{base_url}/model/parse", params={"token": token}, json={"text": "你好"})
    pairs, latencies, confusions = [], [], Counter()
    entity_hits, entity_total, unannotated = Counter(), Counter(), Counter()
    for text, intent, entities in examples:
        start = time.perf_counter()
        reply = client.post(f"{base_url}/model/parse", params={"token": token}, json={"text": text})
        latencies.append((time.perf_counter() - start) * 1000)
        parsed = reply.json()
        predicted = parsed["intent"]["name"]
        pairs.append((intent, predicted))
        if predicted != intent:
            confusions[f"{intent} → {predicted}: {text}"] += 1
        found = {(e["entity"], e.get("value")) for e in parsed.get("entities", [])}
        found_text = {(e["entity"], text[e["start"]:e["end"]]) for e in parsed.get("entities", []) if "start" in e}
        merged = merge_locations(text, parsed.get("entities", []))
        floored = place_mentioned(text, parsed.get("entities", []))
        annotated = {name for name, _ in entities}
        # Recall alone rewards an extractor that finds entities everywhere: count what was found
        # where the writers annotated none of that kind (some are real, most are not).
        unannotated.update({e["entity"] for e in parsed.get("entities", [])} - annotated)
        for name, surface in entities:
            if name == "location":  # what the actions use: the extractor's pieces joined into one place
                entity_total["location (as the forms read it)"] += 1
                entity_hits["location (as the forms read it)"] += merged == surface
                # …and with the forms' confidence floor (actions.location_min_confidence), which
                # depends on how the extractor's confidences are spread, not only on its spans
                entity_total["location (forms, confidence floor)"] += 1
                entity_hits["location (forms, confidence floor)"] += floored == surface
            entity_total[name] += 1
            if (name, surface) in found_text or any(n == name and surface in str(v) for n, v in found):
                entity_hits[name] += 1
    macro, per_intent = macro_f1(pairs)
    accuracy = sum(1 for gold, pred in pairs if gold == pred) / len(pairs)
    return {
        "set": path.name, "examples": len(examples), "left_out_as_training_text": len(everything) - len(examples),
        "intent_accuracy": accuracy, "intent_macro_f1": macro,
        "fallback_rate": sum(1 for _, pred in pairs if pred == "nlu_fallback") / len(pairs),
        "per_intent_f1": per_intent,
        "entity_recall": {name: entity_hits[name] / entity_total[name] for name in sorted(entity_total)},
        "entity_found_unannotated": {name: unannotated[name] / len(examples) for name in sorted(unannotated)},
        "parse_ms_p50": percentile(latencies, 50), "parse_ms_p95": percentile(latencies, 95),
        "errors": sorted(confusions),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="an already running Rasa server (default: start one)")
    parser.add_argument("--model", type=Path,
                        help="start the server with this model file instead of the current one (for comparing "
                             "pipelines without touching models/; with --url it only names the results); results go to "
                             "bench/results/nlu-<name>.json")
    parser.add_argument("--set", choices=[*SETS, "all"], default="all", help="which evaluation set (default: all)")
    parser.add_argument("--show-blind-errors", action="store_true",
                        help="print the blind set's misses too (then write a new blind set before tuning again)")
    args = parser.parse_args(argv)
    if args.model and not args.model.is_file():
        parser.error(f"no model file at {args.model}")
    from ops.model import current_model, rasa_token

    names = list(SETS) if args.set == "all" else [args.set]
    if args.url:
        results = {name: run(args.url, rasa_token(), SETS[name]) for name in names}
    else:
        from common.net import free_port
        from ops.supervisor import Supervisor, collect_services

        with settings.overrides({"GOVBOT__RASA__PORT": str(free_port()), "GOVBOT__ACTIONS__PORT": str(free_port())}):
            rasa = [s for s in collect_services(["assistant"]) if s.name == "rasa"]
            if args.model:
                rasa[0].argv[rasa[0].argv.index("--model") + 1] = str(args.model.resolve())
            supervisor = Supervisor(rasa, settings.data_dir() / "log" / "bench")
            start = time.monotonic()
            try:
                supervisor.start_all(echo=lambda line: None)
                load_s = time.monotonic() - start
                results = {name: run(settings.base_url("rasa"), rasa_token(), SETS[name]) for name in names}
                results["model_load_s"] = load_s
            finally:
                supervisor.stop_all()
    results["model"] = args.model.name if args.model else current_model().name
    for name in names:
        r = results[name]
        rows = [("examples (left out: same text as training)", f"{r['examples']} ({r['left_out_as_training_text']})"),
                ("intent accuracy", r["intent_accuracy"]), ("intent macro-F1 (goal >= 0.95)", r["intent_macro_f1"]),
                ("nlu_fallback rate", r["fallback_rate"]),
                *[(f"F1 {k}", v) for k, v in sorted(r["per_intent_f1"].items())],
                *[(f"entity recall: {k}", v) for k, v in r["entity_recall"].items()],
                *[(f"found, not annotated (share of examples): {k}", v)
                  for k, v in r["entity_found_unannotated"].items()],
                ("parse p50 ms (goal <= 25)", r["parse_ms_p50"]), ("parse p95 ms", r["parse_ms_p95"])]
        print(table(rows, f"NLU benchmark, {name} set ({results['model']})"))
        if name != "blind" or args.show_blind_errors:
            for line in r["errors"][:40]:
                print("  miss:", line)
    if "model_load_s" in results:
        print(f"model load: {results['model_load_s']:.1f} s")
    print(f"written: {write(f'nlu-{args.model.name.removesuffix(MODEL_SUFFIX)}' if args.model else 'nlu', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
