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


def test_held_out_examples_are_not_in_training() -> None:
    train = {ex.get("text") for ex in load_data(str(ROOT / "assistant" / "data" / "nlu.yml")).training_examples}
    held = {ex.get("text") for ex in load_data(str(ROOT / "bench" / "data" / "nlu_heldout.yml")).training_examples}
    assert held and not (train & held)
