"""The Rasa project's data: valid for Rasa, rich enough, and never overlapping the held-out set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parents[2]
INTENTS = {"greet", "goodbye", "thank", "ask_policy", "file_complaint", "check_ticket", "rate_service",
           "report_health", "request_human", "report_emergency", "affirm", "deny", "out_of_scope"}
ENTITIES = {"location", "phone_number", "ticket_id", "temperature", "symptom"}


def test_rasa_validates_the_project() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--domain", "assistant/domain.yml",
         "--data", "assistant/data", "--config", "config.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


def test_every_intent_has_enough_varied_examples() -> None:
    data = load_data(str(ROOT / "assistant" / "data" / "nlu.yml"))
    counts = Counter(example.get("intent") for example in data.training_examples)
    assert set(counts) == INTENTS
    assert min(counts.values()) >= 30, counts
    entities = Counter(e["entity"] for ex in data.training_examples for e in ex.get("entities") or [])
    assert set(entities) == ENTITIES and min(entities.values()) >= 25, entities


def test_english_examples_cover_every_intent() -> None:
    data = load_data(str(ROOT / "assistant" / "data" / "nlu_en.yml"))
    counts = Counter(example.get("intent") for example in data.training_examples)
    assert set(counts) == INTENTS and min(counts.values()) >= 15, counts
    entities = Counter(e["entity"] for ex in data.training_examples for e in ex.get("entities") or [])
    assert set(entities) == ENTITIES, entities


def test_english_examples_are_not_held_out() -> None:
    """Counts only: a failure must not print held-out sentences."""
    train = {ex.get("text") for ex in load_data(str(ROOT / "assistant" / "data" / "nlu_en.yml")).training_examples}
    held = {ex.get("text") for ex in load_data(str(ROOT / "bench" / "data" / "nlu_heldout.yml")).training_examples}
    overlap = len(train & held)
    assert held and overlap == 0, f"{overlap} English training examples are also held out"


def test_held_out_examples_are_not_in_training() -> None:
    train = {ex.get("text") for ex in load_data(str(ROOT / "assistant" / "data" / "nlu.yml")).training_examples}
    held = {ex.get("text") for ex in load_data(str(ROOT / "bench" / "data" / "nlu_heldout.yml")).training_examples}
    assert held and not (train & held)


def test_the_blind_set_covers_every_intent_and_is_mostly_unseen() -> None:
    """The blind set may share trivial texts with training (你好); the benchmark leaves those out. Counts only.

    Rasa's loader keeps one copy of a text: the two writers each wrote 32 per intent and overlap on the short
    replies (好的, 对), so affirm keeps 47 distinct texts of its 64."""
    blind = load_data(str(ROOT / "bench" / "data" / "nlu_blind.yml")).training_examples
    counts = Counter(example.get("intent") for example in blind)
    assert set(counts) == INTENTS and min(counts.values()) >= 45, counts
    train = {ex.get("text") for name in ("nlu.yml", "nlu_en.yml")
             for ex in load_data(str(ROOT / "assistant" / "data" / name)).training_examples}
    shared = sum(1 for example in blind if example.get("text") in train)
    # Short replies (好的, 不是, 你好) are bound to recur; the fresh set shares 174 of 832 with all training files.
    assert shared <= len(blind) // 4, f"{shared} of {len(blind)} blind texts are training examples"
