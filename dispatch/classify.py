"""Guess the Open311 service code of a complaint from its description, by keywords.

Why keywords and not a model: the guess is only a proposal the resident confirms in the dialogue, the
catalogue is a dozen codes, and the table must be readable and editable by the people who run the centre.
The table is ``classify.yaml`` next to this module; when the embedded server's catalogue
(``dispatch/server/catalogue.yaml``) exists its codes and names are authoritative and its keywords are added.
Imported by the Rasa action server (3.10) as well as our services: standard library and PyYAML only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).with_name("classify.yaml")
CATALOGUE = Path(__file__).parent / "server" / "catalogue.yaml"


@dataclass(frozen=True)
class ServiceKeywords:
    service_code: str
    service_name: str
    keywords: tuple[str, ...]
    urgent: bool = False


def _keywords(value: Any) -> list[str]:
    """Open311 writes keywords as a comma list; YAML tables as a list. Accept both."""
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    return [str(k).strip() for k in value or [] if str(k).strip()]


def _entries(doc: Any) -> list[dict[str, Any]]:
    """Service entries of a catalogue file: a list, ``{services: [...]}`` or ``{code: {...}}``."""
    if isinstance(doc, dict) and "services" in doc:
        doc = doc["services"]
    if isinstance(doc, dict):
        doc = [{"service_code": code, **(body or {})} for code, body in doc.items()]
    return [e for e in doc or [] if isinstance(e, dict)]


def _code(entry: dict[str, Any]) -> str:
    return str(entry.get("service_code") or entry.get("code") or "")


def _name(entry: dict[str, Any]) -> str:
    return str(entry.get("service_name") or entry.get("name") or "")


@lru_cache(maxsize=1)
def table() -> tuple[tuple[ServiceKeywords, ...], str]:
    """The merged keyword table and the fallback code (read once per process)."""
    local = yaml.safe_load(TABLE.read_text(encoding="utf-8")) or {}
    fallback = str(local.get("fallback", "other"))
    ours = {_code(e): e for e in _entries(local)}
    if CATALOGUE.exists():
        catalogue = _entries(yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")))
        merged = [
            ServiceKeywords(
                _code(e),
                _name(e) or _name(ours.get(_code(e), {})),
                tuple(dict.fromkeys(_keywords(e.get("keywords")) + _keywords(ours.get(_code(e), {}).get("keywords")))),
                bool(e.get("urgent") or ours.get(_code(e), {}).get("urgent")),
            )
            for e in catalogue
            if _code(e)
        ]
        if fallback not in {s.service_code for s in merged} and merged:
            fallback = merged[-1].service_code
    else:
        merged = [ServiceKeywords(_code(e), _name(e), tuple(_keywords(e.get("keywords"))), bool(e.get("urgent")))
                  for e in ours.values()]
    return tuple(merged), fallback


def service_name(service_code: str) -> str:
    """The human name of a code (the code itself when the table does not know it)."""
    return next((s.service_name for s in table()[0] if s.service_code == service_code), service_code)


def scores(description: str) -> dict[str, int]:
    """Each code's score: the summed length of its keywords found in the description (case-insensitive)."""
    text = (description or "").lower()
    return {s.service_code: sum(len(k) for k in s.keywords if k.lower() in text) for s in table()[0]}


def classify(description: str) -> tuple[str, str]:
    """(service_code, service_name) of the best-scoring service; the fallback ("其他") when nothing matches.

    Ties go to an urgent service (an emergency must not be filed as a routine case), then to the one
    listed first.
    """
    services, fallback = table()
    ranked = scores(description)
    best = max(services, key=lambda s: (ranked.get(s.service_code, 0), s.urgent), default=None)
    if best is None or ranked.get(best.service_code, 0) == 0:
        return fallback, service_name(fallback)
    return best.service_code, best.service_name
