"""Answers for a service's required attributes that the dialogue did not ask about.

A GeoReport v2 server may require attributes (noise source, facility type…). The assistant asks
residents only what matters to them, so before sending, each missing required attribute gets the
listed value that best matches the description (施工 → 建筑施工, 路灯 → 路灯), else an "unknown"
value when the list has one, else the first; free-text attributes say that the resident did not
specify. Dispatchers see and correct these on the case; a ticket is never refused for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNKNOWN_NAMES = ("不清楚", "未知", "不确定", "其他")
NOT_SPECIFIED = "未说明（智能助手受理）"


def _match(name: str, description: str) -> tuple[int, int]:
    """(shared character pairs, shared characters): pairs weigh first so 建筑施工 beats 施 alone."""
    pairs = sum(1 for i in range(len(name) - 1) if name[i:i + 2] in description)
    return pairs, sum(1 for ch in set(name) if ch in description)


def fill_required(definition: Mapping[str, Any] | None, description: str,
                  given: Mapping[str, Any] | None) -> dict[str, Any]:
    answers = dict(given or {})
    for attribute in (definition or {}).get("attributes") or []:
        code = attribute.get("code")
        if not code or not attribute.get("required") or attribute.get("variable") is False or code in answers:
            continue
        values = [v for v in attribute.get("values") or [] if v.get("key") not in (None, "")]
        if attribute.get("datatype") in ("singlevaluelist", "multivaluelist") and values:
            best = max(values, key=lambda v: _match(str(v.get("name") or ""), description))
            if _match(str(best.get("name") or ""), description) == (0, 0):
                best = next((v for v in values if str(v.get("name")) in UNKNOWN_NAMES), values[0])
            answers[code] = [best["key"]] if attribute["datatype"] == "multivaluelist" else best["key"]
        elif attribute.get("datatype") in ("string", "text"):
            answers[code] = NOT_SPECIFIED
    return answers
