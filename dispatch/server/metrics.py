"""Performance figures of the command centre, by period and department.

- 受理率 (acceptance): share of cases signed for.
- 按期办结率 (on-time closure): share of closed cases closed by their deadline.
- 满意率 (satisfaction): share of ratings of 4 or 5 (好评) among all ratings.
- median minutes from report to sign, to dispatch and to close.
Computed from the period's parent cases (a merged duplicate is one case, its reporters counted).
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

SATISFIED_MIN_SCORE = 4


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median_minutes(cases: list[dict[str, Any]], column: str) -> float | None:
    spans = [(c[column] - c["requested_at"]).total_seconds() / 60 for c in cases if c[column] is not None]
    return round(median(spans), 2) if spans else None


def figures(cases: list[dict[str, Any]], scores: list[int]) -> dict[str, Any]:
    closed = [c for c in cases if c["status"] == "closed"]
    on_time = [c for c in closed if c["closed_at"] <= c["close_due"]]
    signed = [c for c in cases if c["signed_at"] is not None]
    return {
        "cases": len(cases),
        "reports": sum(c["reporters"] for c in cases),
        "signed": len(signed),
        "closed": len(closed),
        "closed_on_time": len(on_time),
        "open": len(cases) - len(closed),
        "ratings": len(scores),
        "acceptance_rate": _rate(len(signed), len(cases)),
        "on_time_closure_rate": _rate(len(on_time), len(closed)),
        "satisfaction_rate": _rate(sum(1 for s in scores if s >= SATISFIED_MIN_SCORE), len(scores)),
        "average_score": round(sum(scores) / len(scores), 2) if scores else None,
        "median_minutes_to_sign": _median_minutes(cases, "signed_at"),
        "median_minutes_to_dispatch": _median_minutes(cases, "assigned_at"),
        "median_minutes_to_close": _median_minutes(closed, "closed_at"),
    }


def report(cases: list[dict[str, Any]], rated: list[dict[str, Any]], start: datetime, end: datetime,
           department: str | None = None) -> dict[str, Any]:
    """Totals and one block per department (the department that owns the case now)."""
    if department:
        cases = [c for c in cases if c["department"] == department]
    scores_by_case: dict[int, list[int]] = {}
    for r in rated:
        scores_by_case.setdefault(r["case_id"], []).append(r["score"])

    def scores(group: list[dict[str, Any]]) -> list[int]:
        return [s for c in group for s in scores_by_case.get(c["id"], [])]

    by_department: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        by_department.setdefault(case["department"], []).append(case)
    return {
        "start": start.isoformat(timespec="seconds"),
        "end": end.isoformat(timespec="seconds"),
        "total": figures(cases, scores(cases)),
        "departments": [{"department": name, **figures(group, scores(group))}
                        for name, group in sorted(by_department.items())],
    }
