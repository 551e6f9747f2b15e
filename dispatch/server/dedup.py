"""Is a new report the same problem as an open case? (汇总去重)

Same service, same place (within a distance when both have coordinates; otherwise the same address
id, address text or grid) and similar wording. Chinese has no spaces, so wording is compared by
character bigrams (Dice coefficient), which tolerates 的/了 and reordered phrases.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

EARTH_RADIUS_M = 6_371_000.0
_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str | None) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def bigrams(text: str) -> set[str]:
    text = normalize(text)
    if len(text) < 2:
        return {text} if text else set()
    return {text[i:i + 2] for i in range(len(text) - 1)}


def similarity(a: str | None, b: str | None) -> float:
    left, right = bigrams(a or ""), bigrams(b or "")
    if not left or not right:
        return 0.0
    return 2 * len(left & right) / (len(left) + len(right))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); plenty for a few hundred metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degrees_box(lat: float, metres: float) -> tuple[float, float]:
    """Half-widths in degrees (lat, long) of a square around a point, for a cheap SQL pre-filter."""
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return dlat, dlon


def same_place(new: dict[str, Any], case: dict[str, Any], max_distance_m: float) -> bool:
    if new.get("lat") is not None and case.get("lat") is not None:
        return distance_m(new["lat"], new["long"], case["lat"], case["long"]) <= max_distance_m
    if new.get("address_id") and new.get("address_id") == case.get("address_id"):
        return True
    if new.get("grid") and new.get("grid") == case.get("grid"):
        return True
    a, b = normalize(new.get("address_string")), normalize(case.get("address_string"))
    return bool(a and b) and (a == b or (min(len(a), len(b)) >= 4 and (a in b or b in a)))


def is_duplicate(new: dict[str, Any], case: dict[str, Any], max_distance_m: float, min_similarity: float) -> bool:
    """Both texts empty counts as similar: the place and the service then decide alone."""
    if not same_place(new, case, max_distance_m):
        return False
    if not normalize(new.get("description")) and not normalize(case.get("description")):
        return True
    return similarity(new.get("description"), case.get("description")) >= min_similarity
