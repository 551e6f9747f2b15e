"""The dispatchers' API under ``/api/dispatch/``: the work queue and the actions on a case.

Authenticated with the staff token and answering in our JSON error shape (``common.web.ApiError``).
The token check is ``common.web.require_staff``'s, except that the token is read once at app
creation (kept in ``app.ctx``) so several apps with different settings can run in one process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse

from common.web import ApiError, bearer_token, json_body, same_secret
from dispatch.limits import DESCRIPTION_MAX
from dispatch.server import metrics, views
from dispatch.server.forms import iso_datetime
from dispatch.server.output import Open311Error
from dispatch.server.store import TransitionError

bp = Blueprint("dispatcher", url_prefix="/api/dispatch")
STATUSES = ("open", "submitted", "signed", "assigned", "reopened", "closed")
PAGE_MAX = 500
PAGE_DEFAULT = 100
DEFAULT_METRICS_DAYS = 30


def staff_only(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not same_secret(bearer_token(request), request.app.ctx.config.staff_token):
            raise ApiError(401, "unauthorized", "需要工作人员身份（Authorization: Bearer <token>）", "authorization")
        return await handler(request, *args, **kwargs)

    return wrapper


def _json(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, ensure_ascii=False)


def _text(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, "missing_field", f"缺少字段 {name}", name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name} 须为字符串", name)
    if len(value) > DESCRIPTION_MAX or any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        raise ApiError(400, "invalid_field", f"{name} 过长或含控制字符", name)
    return value.strip()


def _actor(request: Request, data: dict[str, Any]) -> str:
    return _text(data, "actor", required=False) or "调度员"


@bp.get("/tickets")
@staff_only
async def list_tickets(request: Request) -> HTTPResponse:
    """``?status=open|submitted|...&overdue=1&department=&q=&limit=&offset=``"""
    ctx = request.app.ctx
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        raise ApiError(400, "invalid_field", f"status 须为 {'/'.join(STATUSES)}", "status")
    try:
        limit = min(int(request.args.get("limit", PAGE_DEFAULT)), PAGE_MAX)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        raise ApiError(400, "invalid_field", "limit/offset 须为整数", "limit") from None
    now = ctx.clock.now()
    rows = await asyncio.to_thread(
        ctx.store.queue, status=status, overdue=request.args.get("overdue") in ("1", "true"),
        department=request.args.get("department") or None, query_text=request.args.get("q") or None,
        now=now, limit=limit, offset=offset)
    return _json({"tickets": [views.staff_view(t, ctx.config.timezone, now) for t in rows]})


@bp.get("/tickets/<service_request_id>")
@staff_only
async def ticket_details(request: Request, service_request_id: str) -> HTTPResponse:
    ctx = request.app.ctx
    tz, now = ctx.config.timezone, ctx.clock.now()
    ticket = await asyncio.to_thread(ctx.store.details, service_request_id)
    if ticket is None:
        raise ApiError(404, "not_found", f"工单 {service_request_id} 不存在", "service_request_id")
    view = views.staff_view(ticket, tz, now)
    view["history"] = [{"at": views.local(h["at"], tz), "action": h["action"], "actor": h["actor"],
                        "status": h["status"], "note": h["note"], "public": h["public"]} for h in ticket["history"]]
    view["duplicates"] = [views.staff_view(d, tz, now) for d in ticket["duplicates"]]
    view["ratings"] = [{"score": r["score"], "comment": r["comment"], "at": views.local(r["at"], tz)}
                       for r in ticket["ratings"]]
    view["supervision"] = [{"stage": s["stage"], "due_at": views.local(s["due_at"], tz),
                            "detected_at": views.local(s["detected_at"], tz),
                            "resolved_at": views.local(s["resolved_at"], tz)} for s in ticket["supervision"]]
    return _json(view)


@bp.get("/tickets/<service_request_id>/history")
@staff_only
async def ticket_history(request: Request, service_request_id: str) -> HTTPResponse:
    ctx = request.app.ctx
    ticket = await asyncio.to_thread(ctx.store.details, service_request_id)
    if ticket is None:
        raise ApiError(404, "not_found", f"工单 {service_request_id} 不存在", "service_request_id")
    tz = ctx.config.timezone
    return _json({"service_request_id": service_request_id, "history": [
        {"at": views.local(h["at"], tz), "action": h["action"], "actor": h["actor"], "status": h["status"],
         "note": h["note"], "public": h["public"]} for h in ticket["history"]]})


def _action_args(action: str, data: dict[str, Any]) -> dict[str, Any]:
    """Each action's JSON body: sign {}, assign {department, grid?, note?}, note {note, public?},
    escalate {departments: [..], note?}, close {result}, reopen {reason}; all may carry actor."""
    if action == "assign":
        return {"department": _text(data, "department"), "grid": _text(data, "grid", False),
                "note": _text(data, "note", False)}
    if action == "note":
        public = data.get("public", True)
        if not isinstance(public, bool):
            raise ApiError(400, "invalid_field", "public 须为 true/false", "public")
        return {"note": _text(data, "note"), "public": public}
    if action == "escalate":
        departments = data.get("departments")
        if isinstance(departments, str):
            departments = [departments]
        if not departments or not isinstance(departments, list) or not all(isinstance(d, str) for d in departments):
            raise ApiError(400, "missing_field", "departments 须为部门列表", "departments")
        return {"departments": departments, "note": _text(data, "note", False)}
    if action == "close":
        return {"result": _text(data, "result")}
    if action == "reopen":
        return {"reason": _text(data, "reason")}
    return {}


@bp.post("/tickets/<service_request_id>/<action:sign|assign|note|escalate|close|reopen>")
@staff_only
async def ticket_action(request: Request, service_request_id: str, action: str) -> HTTPResponse:
    ctx = request.app.ctx
    data = json_body(request) if request.body else {}
    args = _action_args(action, data)
    try:
        ticket = await asyncio.to_thread(ctx.store.act, service_request_id, action, _actor(request, data),
                                         ctx.clock.now(), **args)
    except LookupError:
        raise ApiError(404, "not_found", f"工单 {service_request_id} 不存在", "service_request_id") from None
    except TransitionError as exc:
        raise ApiError(409, exc.code, exc.message) from None
    ctx.notifier.wake()
    return _json(views.staff_view(ticket, ctx.config.timezone, ctx.clock.now()))


@bp.get("/supervision")
@staff_only
async def supervision_list(request: Request) -> HTTPResponse:
    """督办: the overdue stages not yet resolved (``?all=1`` includes resolved ones)."""
    ctx = request.app.ctx
    tz = ctx.config.timezone
    rows = await asyncio.to_thread(ctx.store.supervision_list, request.args.get("all") in ("1", "true"))
    return _json({"supervision": [{
        "service_request_id": r["service_request_id"], "service_name": r["service_name"],
        "department": r["department"], "status": r["status"], "urgent": bool(r["urgent"]),
        "stage": r["stage"], "due_at": views.local(r["due_at"], tz), "detected_at": views.local(r["detected_at"], tz),
        "resolved_at": views.local(r["resolved_at"], tz), "overdue_level": r["overdue_level"],
    } for r in rows]})


@bp.post("/sla/scan")
@staff_only
async def sla_scan(request: Request) -> HTTPResponse:
    """Run the overdue scan now (the scheduler runs it every ``sla_scan_interval_s`` anyway)."""
    ctx = request.app.ctx
    found = await ctx.sla.scan()
    tz = ctx.config.timezone
    return _json({"found": [{**f, "due_at": views.local(f["due_at"], tz)} for f in found]})


@bp.get("/metrics")
@staff_only
async def metrics_report(request: Request) -> HTTPResponse:
    """``?start=&end=`` (ISO 8601; default the last 30 days) ``&department=``"""
    ctx = request.app.ctx
    now = ctx.clock.now()
    try:
        end = iso_datetime(request.args.get("end"), "end", ctx.config) if request.args.get("end") else now
        start = (iso_datetime(request.args.get("start"), "start", ctx.config) if request.args.get("start")
                 else end - timedelta(days=DEFAULT_METRICS_DAYS))
    except Open311Error as exc:
        raise ApiError(400, "invalid_field", exc.description, "start/end") from None
    cases, rated = await asyncio.to_thread(ctx.store.metric_rows, start, end)
    tz = ctx.config.timezone
    return _json(metrics.report(cases, rated, _local(start, tz), _local(end, tz),
                                request.args.get("department") or None))


def _local(dt: datetime, tz: Any) -> datetime:
    return dt.astimezone(tz)


@bp.get("/departments")
@staff_only
async def departments(request: Request) -> HTTPResponse:
    catalogue = request.app.ctx.catalogue
    return _json({
        "departments": [{"key": k, "name": v} for k, v in catalogue.departments.items()],
        "services": [{"code": s.code, "name": s.name, "department": s.department_name, "urgent": s.urgent}
                     for s in catalogue.services.values()],
    })
