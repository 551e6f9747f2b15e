"""One transcript file per call: what the caller said, what the bot said, keys pressed, events.

Why a file of our own besides the assistant's conversation store: the conversation only sees
turns that reached the assistant; the call log also has the greeting, re-prompts, barge-ins,
apologies and why the call ended, which is what staff need to review a phone call. Lines are
written as they happen (JSON Lines), so a crash still leaves the call readable; the folder is
private (mode 700) because transcripts are residents' words.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from telephony.state import Turn


class CallLog:
    def __init__(self, folder: Path, call_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.path = folder / f"{call_id}.jsonl"

    def write(self, turn: Turn) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(turn), ensure_ascii=False) + "\n")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
