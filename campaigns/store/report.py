"""The daily report of a campaign: how each of the day's calls ended, by community and grid.

Why counted per *slot* (one resident's call at one daily time): a health check calls each resident at 09:00
and at 16:00, and a resident reached in the morning may be unreachable in the afternoon — each is a call the
community must account for. ``residents`` says how many people the day's slots belong to.

What each count means (a slot may be in more than one: an abnormal answer is also a reached resident):

* ``reached`` — a person answered and the call settled the slot (completed, opted out on the call, wrong
  person, refused); ``normal`` — completed with no abnormal answer; ``abnormal`` — any answer broke the rule;
* ``unreachable`` — every attempt failed; ``opted_out`` — on the do-not-call list (said so on the call or
  before); ``not_called`` — the day's time ran out before a call could be placed;
* ``wrong_person``, ``refused``, ``cancelled`` (the campaign was stopped), and ``in_progress`` (still
  pending, on the line or waiting for a retry).

Leases that ran out are settled and slots whose time is over closed first, as for the follow-up list, so a
past day's report is final even when no dialler ran since.

:meth:`ReportMixin.live_counts` is the campaign's live progress (the console's figures), counted exactly from
the attempts and slots rather than derived from slots per state: ``placed`` and ``answered`` count *attempts*
(a resident called three times is three placed calls), the others count slots. It only reads (polled every
few seconds): an attempt whose lease ran out unsettled is not ``on_line``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from campaigns import schedule
from campaigns.model import spec_from_dict
from campaigns.states import ANSWERED_FINALS, DIALING, OPEN_SLOT_STATES, OUTCOMES, RETRY
from campaigns.store.claims import ClaimsMixin
from campaigns.store.schema import attempts, slots, targets

ANSWERED_OUTCOMES = tuple(name for name, outcome in OUTCOMES.items() if outcome.answered)
REPORT_COUNTS = ("slots", "residents", "reached", "normal", "abnormal", "unreachable", "opted_out", "not_called",
                 "wrong_person", "refused", "cancelled", "in_progress")


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)


COUNT_COLUMNS = {
    "slots": func.count(slots.c.id),
    "residents": func.count(slots.c.target_id.distinct()),
    "reached": _count(and_(slots.c.state.in_(ANSWERED_FINALS), slots.c.last_outcome.in_(ANSWERED_OUTCOMES))),
    "normal": _count(and_(slots.c.state == "completed", slots.c.abnormal.is_(None))),
    "abnormal": _count(slots.c.abnormal.is_not(None)),
    "unreachable": _count(slots.c.state == "unreachable"),
    "opted_out": _count(slots.c.state == "dnc"),
    "not_called": _count(slots.c.state == "not_called"),
    "wrong_person": _count(slots.c.state == "wrong_person"),
    "refused": _count(slots.c.state == "refused"),
    "cancelled": _count(slots.c.state == "cancelled"),
    "in_progress": _count(slots.c.state.in_(OPEN_SLOT_STATES)),
}
LIVE_COUNT_LABELS = {"placed": "已拨打（次）", "answered": "已接通（次）", "completed": "已完成", "abnormal": "异常",
                     "unreachable": "未接通", "retrying": "等待重拨", "on_line": "通话中"}
LIVE_COUNTS = tuple(LIVE_COUNT_LABELS)


class ReportMixin(ClaimsMixin):
    def live_counts(self, campaign: int | str, now: datetime, day: date | None = None) -> dict[str, int]:
        """``placed`` (attempts dialled), ``answered`` (attempts a person picked up: the outcome table's
        ``answered`` flag), ``completed``, ``abnormal``, ``unreachable``, ``retrying`` (slots waiting for a
        retry) and ``on_line`` (attempts being dialled or talked now), over the campaign or one local ``day``."""
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            slot_where = [slots.c.campaign_id == row["id"], *([slots.c.day == day] if day is not None else [])]
            slot_counts = conn.execute(select(
                _count(slots.c.state == "completed").label("completed"),
                _count(slots.c.abnormal.is_not(None)).label("abnormal"),
                _count(slots.c.state == "unreachable").label("unreachable"),
                _count(slots.c.state == RETRY).label("retrying")).where(*slot_where)).mappings().one()
            attempt_query = select(
                _count(attempts.c.dialed_at.is_not(None)).label("placed"),
                _count(attempts.c.outcome.in_(ANSWERED_OUTCOMES)).label("answered"),
                _count(and_(attempts.c.state == DIALING, attempts.c.lease_until > now)).label("on_line"),
            ).where(attempts.c.campaign_id == row["id"])
            if day is not None:
                attempt_query = attempt_query.join(slots, slots.c.id == attempts.c.slot_id).where(slots.c.day == day)
            attempt_counts = conn.execute(attempt_query).mappings().one()
        found = {**slot_counts, **attempt_counts}
        return {name: int(found[name] or 0) for name in LIVE_COUNTS}

    def daily_report(self, campaign: int | str, now: datetime, day: date | None = None) -> dict[str, Any]:
        """``{"campaign", "day", "totals", "communities": [{community, counts…, "grids": [{grid, counts…}]}]}``.

        ``day`` is a local day of the campaign's zone (default: today there). Communities and grids are sorted
        by name; a resident imported without one is under "" (the CSV says 未填写).
        """
        with self._tx(write=True) as conn:
            self._housekeeping(conn, now)
        with self._tx() as conn:
            row = self._campaign(conn, campaign)
            spec = spec_from_dict(row["spec"])
            day = day or schedule.local_day(spec.schedule, now)
            where = (slots.c.campaign_id == row["id"], slots.c.day == day)
            totals = conn.execute(select(*_labelled()).select_from(slots).where(*where)).mappings().one()
            query = (select(targets.c.community, targets.c.grid, *_labelled())
                     .select_from(slots).join(targets, targets.c.id == slots.c.target_id).where(*where)
                     .group_by(targets.c.community, targets.c.grid).order_by(targets.c.community, targets.c.grid))
            grouped = conn.execute(query).mappings().all()
            community_totals = conn.execute(
                select(targets.c.community, *_labelled()).select_from(slots)
                .join(targets, targets.c.id == slots.c.target_id).where(*where)
                .group_by(targets.c.community).order_by(targets.c.community)).mappings().all()
        communities = []
        for item in community_totals:
            grids = [{"grid": g["grid"], **_counts(g)} for g in grouped if g["community"] == item["community"]]
            communities.append({"community": item["community"], **_counts(item), "grids": grids})
        return {"campaign": {"id": row["id"], "name": row["name"], "kind": row["kind"]}, "day": day.isoformat(),
                "timezone": spec.schedule.timezone, "totals": _counts(totals), "communities": communities}


def _labelled() -> list[Any]:
    return [column.label(name) for name, column in COUNT_COLUMNS.items()]


def _counts(row: Any) -> dict[str, int]:
    return {name: int(row[name] or 0) for name in REPORT_COUNTS}
