"""Domain vocabulary for Whisper's ``hotwords``: the words a government hotline must not mishear.

Why a bounded list built from the project's own data: faster-whisper puts ``hotwords`` in the decoder's
prompt, so every term costs prompt tokens on every utterance (at most half of Whisper's 448-token context
is used for it, and a long prompt slows each decode and can leak into short answers, as the old
``initial_prompt`` did). The terms come in order of how bad a miss is: the emergency words first (a
gas leak heard as 园去泄露 sends no one), then the service catalogue (the names and keywords dispatch
classifies on), then the knowledge base's keywords; the list is cut at ``whisper_hotwords_max_chars``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def catalogue_terms() -> tuple[list[str], list[str]]:
    """``(urgent, other)`` service names and keywords from dispatch's merged keyword table."""
    from dispatch import classify

    services, _fallback = classify.table()
    urgent: list[str] = []
    other: list[str] = []
    for service in services:
        (urgent if service.urgent else other).extend([service.service_name, *service.keywords])
    return urgent, other


def kb_terms(path: Path) -> list[str]:
    """Keywords of the knowledge-base file (``entries: [{keywords: [...]}, ...]``, the seed's format)."""
    if not path.exists():
        raise FileNotFoundError(f"[speech] whisper_hotwords_kb_file：找不到知识库文件 {path}")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(k) for entry in doc.get("entries", []) if isinstance(entry, dict)
            for k in entry.get("keywords") or []]


def bounded(terms: Iterable[str], max_chars: int) -> str:
    """Chinese terms, deduplicated in order, joined by spaces, no longer than ``max_chars``.

    Latin-letter terms (KTV, gas) are left out: the transcript is Mandarin and they only cost tokens.
    """
    kept: list[str] = []
    used = 0
    for term in dict.fromkeys(t.strip() for t in terms):
        if not term or not any("\u3400" <= ch <= "\u9fff" for ch in term) or any(ch.isascii() and ch.isalpha()
                                                                                 for ch in term):
            continue
        cost = len(term) + (1 if kept else 0)
        if used + cost > max_chars:
            break
        kept.append(term)
        used += cost
    return " ".join(kept)


def hotwords(conf: dict[str, Any]) -> str | None:
    """The ``hotwords`` string of ``[speech]`` (None when ``whisper_hotwords`` is off)."""
    from common.settings import resolve_path

    if not conf["whisper_hotwords"]:
        return None
    max_chars = int(conf["whisper_hotwords_max_chars"])
    if max_chars <= 0:
        raise ValueError(f"[speech] whisper_hotwords_max_chars 必须大于 0（现在是 {max_chars}）")
    urgent, other = catalogue_terms()
    terms = [*conf["whisper_hotwords_emergency"], *urgent, *other,
             *kb_terms(resolve_path(conf["whisper_hotwords_kb_file"]))]
    return bounded(terms, max_chars) or None
