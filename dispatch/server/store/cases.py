"""Dispatcher actions on a case (sign, assign, note, escalate, close, reopen) and merged duplicates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from dispatch.server.schema import supervision, tickets
from dispatch.server.store.intake import IntakeMixin
from dispatch.server.store.rows import TransitionError, db_time, row_dict


class CasesMixin(IntakeMixin):
    def act(self, service_request_id: str, action: str, actor: str, now: datetime, **args: Any) -> dict[str, Any]:
        """Apply one dispatcher action (sign, assign, note, escalate, close, reopen) in one transaction."""
        with self._write() as conn:
            row = conn.execute(select(tickets).where(tickets.c.service_request_id == service_request_id)).first()
            if row is None:
                raise LookupError(service_request_id)
            ticket = row_dict(row)
            if ticket["parent_id"] is not None:
                parent = conn.execute(select(tickets.c.service_request_id)
                                      .where(tickets.c.id == ticket["parent_id"])).scalar_one()
                raise TransitionError("merged", f"该工单已并入 {parent}，请在主工单上操作")
            changes, note, public = getattr(self, f"_do_{action}")(ticket, now, **args)
            changes["updated_at"] = db_time(now)
            conn.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**changes))
            status = changes.get("status", ticket["status"])
            self._log(conn, ticket["id"], now, action, actor, status, note, public=public)
            for stage in {"sign": ("sign",), "assign": ("sign", "dispatch"),
                          "close": ("sign", "dispatch", "close")}.get(action, ()):
                conn.execute(supervision.update().where(
                    supervision.c.ticket_id == ticket["id"], supervision.c.stage == stage,
                    supervision.c.resolved_at.is_(None)).values(resolved_at=db_time(now)))
            updated = row_dict(conn.execute(select(tickets).where(tickets.c.id == ticket["id"])).one())
            self._mirror_children(conn, updated, now, notify=public)
            if public:
                self._enqueue_event(conn, updated, now)
            return updated

    def _do_sign(self, t: dict[str, Any], now: datetime) -> tuple[dict[str, Any], str, bool]:
        if t["status"] != "submitted":
            raise TransitionError("already_signed", "该工单已签收")
        return {"status": "signed", "signed_at": db_time(now), "status_notes": "已签收，正在派遣"}, "签收", True

    def _do_assign(self, t: dict[str, Any], now: datetime, department: str,
                   grid: str | None = None, note: str | None = None) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结，请先重新办理")
        name = self.catalogue.department_name(department)
        if name is None:
            raise TransitionError("unknown_department", f"未知部门：{department}")
        place = f"{name}（{grid}）" if grid else name
        changes: dict[str, Any] = {"status": "assigned", "department": name, "grid": grid or t["grid"],
                                   "status_notes": f"已派遣至{place}" + (f"：{note}" if note else "")}
        if t["signed_at"] is None:
            changes["signed_at"] = db_time(now)
        if t["assigned_at"] is None:
            changes["assigned_at"] = db_time(now)
        return changes, f"派遣至{place}" + (f"：{note}" if note else ""), True

    def _do_note(self, t: dict[str, Any], now: datetime, note: str,
                 public: bool = True) -> tuple[dict[str, Any], str, bool]:
        return ({"status_notes": note} if public else {}), note, public

    def _do_escalate(self, t: dict[str, Any], now: datetime, departments: list[str],
                     note: str | None = None) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结，请先重新办理")
        names = []
        for dept in departments:
            name = self.catalogue.department_name(dept)
            if name is None:
                raise TransitionError("unknown_department", f"未知部门：{dept}")
            names.append(name)
        joined = list(dict.fromkeys([*t["co_departments"], *names]))
        message = f"已吹哨召集{'、'.join(names)}协同处置" + (f"：{note}" if note else "")
        return {"co_departments": json.dumps(joined, ensure_ascii=False), "status_notes": message}, message, True

    def _do_close(self, t: dict[str, Any], now: datetime, result: str) -> tuple[dict[str, Any], str, bool]:
        if t["status"] == "closed":
            raise TransitionError("closed", "工单已办结")
        changes: dict[str, Any] = {"status": "closed", "closed_at": db_time(now), "result": result,
                                   "status_notes": f"已办结：{result}"}
        if t["signed_at"] is None:
            changes["signed_at"] = db_time(now)
        return changes, f"办结：{result}", True

    def _do_reopen(self, t: dict[str, Any], now: datetime, reason: str) -> tuple[dict[str, Any], str, bool]:
        if t["status"] != "closed":
            raise TransitionError("not_closed", "只有已办结的工单可以重新办理")
        service = self.catalogue.services.get(t["service_code"])
        close = service.sla.close if service else timedelta(hours=self.config.sla_close_hours)
        changes: dict[str, Any] = {"status": "reopened", "closed_at": None, "result": None,
                                   "close_due": db_time(now + close), "status_notes": f"重新办理：{reason}"}
        if t["assigned_at"] is None:  # closed without dispatch: the dispatch clock starts again too
            dispatch = service.sla.dispatch if service else timedelta(minutes=self.config.sla_dispatch_minutes)
            changes["dispatch_due"] = db_time(now + dispatch)
        return changes, f"重新办理：{reason}", True

    def _mirror_children(self, conn: Connection, parent: dict[str, Any], now: datetime, notify: bool) -> None:
        """Every reporter of a merged case sees (and is told) what the parent's reporter sees."""
        children = [row_dict(r) for r in conn.execute(select(tickets).where(tickets.c.parent_id == parent["id"]))]
        if not children:
            return
        conn.execute(tickets.update().where(tickets.c.parent_id == parent["id"]).values(
            status=parent["status"], status_notes=self._child_notes(parent), result=parent["result"],
            closed_at=db_time(parent["closed_at"]) if parent["closed_at"] else None,
            close_due=db_time(parent["close_due"]), department=parent["department"], updated_at=db_time(now)))
        if notify:
            for child in children:
                self._enqueue_event(conn, {**child, "status": parent["status"], "result": parent["result"],
                                           "status_notes": self._child_notes(parent), "updated_at": now}, now,
                                    duplicate_of=parent["service_request_id"])

