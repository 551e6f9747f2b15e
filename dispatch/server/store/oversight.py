"""Ratings, SLA supervision (督办) and the rows behind the metrics."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from dispatch.server.schema import ratings, supervision, tickets
from dispatch.server.store.cases import CasesMixin
from dispatch.server.store.rows import STAGE_NAMES, SYSTEM, TransitionError, db_time, row_dict


class OversightMixin(CasesMixin):
    # --- ratings ------------------------------------------------------------------------------

    def rate(self, service_request_id: str, score: int, comment: str, now: datetime) -> dict[str, Any]:
        with self._write() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                raise LookupError(service_request_id)
            ticket = row_dict(row)
            if ticket["status"] != "closed":
                raise TransitionError("not_closed", "工单办结后才能评价")
            if conn.execute(select(ratings.c.id).where(ratings.c.ticket_id == ticket["id"])).first():
                raise TransitionError("already_rated", "该工单已评价")
            try:  # the unique ticket_id settles two ratings racing past the check above (PostgreSQL)
                with conn.begin_nested():
                    conn.execute(ratings.insert().values(ticket_id=ticket["id"], score=score, comment=comment,
                                                         at=db_time(now)))
            except IntegrityError:
                raise TransitionError("already_rated", "该工单已评价") from None
            self._log(conn, ticket["id"], now, "rated", ticket["channel"] or SYSTEM, ticket["status"],
                      f"评价 {score} 分" + (f"：{comment}" if comment else ""), public=False)
            return {"service_request_id": service_request_id, "score": score, "comment": comment, "at": now}

    # --- SLA supervision (督办) -----------------------------------------------------------------

    def scan_overdue(self, now: datetime) -> list[dict[str, Any]]:
        """Record each newly overdue stage, escalate the case to the supervising department."""
        n = db_time(now)
        stages = {
            "sign": and_(tickets.c.status == "submitted", tickets.c.sign_due < n),
            "dispatch": and_(tickets.c.assigned_at.is_(None), tickets.c.dispatch_due < n),
            "close": tickets.c.close_due < n,
        }
        found: list[dict[str, Any]] = []
        with self._write() as conn:
            for stage, condition in stages.items():
                due = getattr(tickets.c, f"{stage}_due")
                seen = select(supervision.c.id).where(supervision.c.ticket_id == tickets.c.id,
                                                      supervision.c.stage == stage, supervision.c.due_at == due)
                rows = conn.execute(select(tickets).where(
                    tickets.c.parent_id.is_(None), tickets.c.status != "closed", condition, ~seen.exists()))
                for ticket in [row_dict(r) for r in rows]:
                    due_at = ticket[f"{stage}_due"]
                    conn.execute(supervision.insert().values(ticket_id=ticket["id"], stage=stage,
                                                             due_at=db_time(due_at), detected_at=n))
                    dept = self.config.supervision_department
                    joined = list(dict.fromkeys([*ticket["co_departments"], dept]))
                    deadline = due_at.astimezone(self.config.timezone)
                    note = f"超时未{STAGE_NAMES[stage]}（时限 {deadline:%m-%d %H:%M}），已升级至{dept}督办"
                    conn.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(
                        overdue_level=tickets.c.overdue_level + 1,
                        co_departments=json.dumps(joined, ensure_ascii=False), updated_at=n))
                    self._log(conn, ticket["id"], now, "overdue", SYSTEM, ticket["status"], note, public=False)
                    found.append({"service_request_id": ticket["service_request_id"], "stage": stage,
                                  "due_at": due_at, "department": ticket["department"]})
        return found

    def supervision_list(self, include_resolved: bool = False) -> list[dict[str, Any]]:
        query = (select(supervision, tickets.c.service_request_id, tickets.c.service_name, tickets.c.department,
                        tickets.c.status, tickets.c.urgent, tickets.c.overdue_level)
                 .join(tickets, tickets.c.id == supervision.c.ticket_id))
        if not include_resolved:
            query = query.where(supervision.c.resolved_at.is_(None))
        with self._read() as conn:
            return [row_dict(r) for r in conn.execute(query.order_by(supervision.c.due_at))]

    # --- metrics ------------------------------------------------------------------------------

    def metric_rows(self, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Parent cases reported in [start, end] and the ratings of them and their duplicates."""
        parent_of = func.coalesce(tickets.c.parent_id, tickets.c.id)
        with self._read() as conn:
            cases = [row_dict(r) for r in conn.execute(select(tickets).where(
                tickets.c.parent_id.is_(None), tickets.c.requested_at >= db_time(start),
                tickets.c.requested_at <= db_time(end)))]
            rated = [row_dict(r) for r in conn.execute(
                select(ratings.c.score, parent_of.label("case_id"))
                .join(tickets, tickets.c.id == ratings.c.ticket_id)
                .where(tickets.c.requested_at >= db_time(start), tickets.c.requested_at <= db_time(end)))]
        return cases, rated

