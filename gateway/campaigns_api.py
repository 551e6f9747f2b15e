"""``/api/campaigns`` on the gateway: the operators' HTTP API for robocall campaigns (staff only).

The same operations as ``python -m campaigns`` (campaigns/cli.py), over the same store, for the staff console
and other tools. Every route needs the staff token (``common.web.require_staff``, as ``/api/kb`` and
``/api/dispatch``). Routes:

* ``GET /`` list · ``POST /`` create from a JSON spec (campaigns/validation.py; 201) · ``GET /<c>`` one campaign
  with its spec, target count, progress (slots per state) and ``counts``, the exact live figures (placed and
  answered attempts; completed, abnormal, unreachable, retrying slots; calls on the line — over the campaign,
  or over ``day=YYYY-MM-DD``) — ``<c>`` is the id or the name
* ``PATCH /<c>`` — edit: a JSON object of the fields to change (``schedule``/``retry`` may hold only some of
  their keys), plus ``updated_at`` as the editor read it (optional; given, an edit made meanwhile is a 409
  ``edit_conflict`` instead of being overwritten) → 200 with the campaign as ``GET /<c>`` shows it. Refused:
  a stopped campaign, removing or retyping a question that has answers (or narrowing one while calls are on
  the line) — 409 naming the field; the kind, or an invalid field — 422 (campaigns/store/campaigns.py)
* ``POST /<c>/start|pause|resume|stop`` · ``GET /<c>/targets``
* ``POST /<c>/targets`` — a CSV/XLSX list, as multipart field ``file`` or as the raw body (``?filename=`` gives
  its type; without one the content decides). Rows with errors → 422 with ``report.errors`` (row, field,
  message) and nothing imported, unless ``valid_only=1`` (query or form field)
* ``GET /<c>/followups`` (``day=YYYY-MM-DD``, ``all=1`` with the done ones, ``format=csv`` for door-to-door
  lists: UTF-8 with BOM so Excel shows the Chinese) · ``POST /followups/<slot id>/done`` ``{by, note}``
* ``GET /<c>/report`` — the daily report (``day=YYYY-MM-DD``, default today in the campaign's zone;
  ``format=csv``): reached, normal, abnormal, unreachable, opted out, not called … by community and grid
* ``GET /dnc?kind=`` · ``POST /dnc`` ``{kind, phone, reason}`` · ``DELETE /dnc/<kind>/<phone>``

Errors are ``{"error": {"code", "message", "field"}}``: bad JSON 400, an invalid field 422 (the spec's path, such
as ``schedule.window``), an unknown campaign or follow-up 404, a state that does not allow the action 409
(starting twice), a refused or conflicting edit 409, a file over ``[campaigns] max_import_bytes`` 413.
Translating the store's refusals, the replies and the work behind the routes are gateway/campaigns_http.py's.

One store per app (``app.ctx.campaigns``), opened at server start — or on first use, so a store that is down at
start-up does not stop the gateway — and closed at server stop. :func:`offer_callback` is the notification
path's hook (campaigns/callbacks.py) on the same store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse

from campaigns import callbacks, export
from campaigns.phones import display
from campaigns.store import Store
from campaigns.targets import import_data
from campaigns.validation import parse_spec
from common.web import ApiError, json_body, require_staff
from gateway.campaigns_http import (
    ACTIONS,
    BLUEPRINT_NAME,
    CTX_ATTR,
    PREFIX,
    act,
    brief,
    campaign_view,
    close_store,
    csv_download,
    day_of,
    edit,
    flag,
    format_of,
    kind_of,
    ref,
    reply,
    run,
    show,
    store_for,
    text_of,
    upload_of,
    utc_now,
)

log = logging.getLogger(__name__)


async def offer_callback(app: Sanic, event: Mapping[str, Any]) -> str | None:
    """A closed case's satisfaction call-back (campaigns/callbacks.py); never raises.

    Only on an app that mounts this API: call-backs go with the campaigns an operator can see and stop, and an
    app with the notification routes alone (tests, a bare webhook receiver) opens no campaign store.
    """
    if BLUEPRINT_NAME not in app.blueprints:
        return None
    return await callbacks.offer(lambda: store_for(app), event)


# --- routes -------------------------------------------------------------------------------------------------

def blueprint(clock: Callable[[], datetime] = utc_now) -> Blueprint:
    """The ``/api/campaigns`` blueprint (the store comes from ``[campaigns]`` of the settings; ``clock`` is
    for tests that place "now" inside a campaign's calling window)."""
    bp = Blueprint(BLUEPRINT_NAME, url_prefix=PREFIX)

    @bp.before_server_start
    async def _open(app: Sanic) -> None:
        try:
            await asyncio.to_thread(store_for, app)
        except Exception as exc:  # the gateway serves chat without campaigns; the next use tries again
            log.error("campaign store unavailable at start (%s): %s", type(exc).__name__, brief(exc))

    @bp.after_server_stop
    async def _close(app: Sanic) -> None:
        await asyncio.to_thread(close_store, app)

    async def store(request: Request) -> Store:
        opened = getattr(request.app.ctx, CTX_ATTR, None)
        if opened is not None:
            return opened
        try:
            return await asyncio.to_thread(store_for, request.app)
        except Exception as exc:
            log.error("campaign store unavailable (%s): %s", type(exc).__name__, brief(exc))
            raise ApiError(503, "campaigns_unavailable", "外呼活动存储暂时不可用，请稍后再试。") from None

    @bp.get("")
    @require_staff
    async def list_campaigns(request: Request) -> HTTPResponse:
        rows = await run((await store(request)).list_campaigns)
        return reply({"campaigns": [campaign_view(row) for row in rows], "count": len(rows)})

    @bp.post("")
    @require_staff
    async def create(request: Request) -> HTTPResponse:
        data = json_body(request)
        found = await store(request)
        spec = await run(parse_spec, data, found.config)
        row = await run(found.create_campaign, spec, clock())
        return reply(campaign_view(row, with_spec=True), status=201)

    @bp.get("/dnc")
    @require_staff
    async def dnc_list(request: Request) -> HTTPResponse:
        kind = request.args.get("kind")
        items = await run((await store(request)).list_dnc, kind_of(kind) if kind else None)
        return reply({"dnc": [{**item, "phone_display": display(item["phone"])} for item in items],
                      "count": len(items)})

    @bp.post("/dnc")
    @require_staff
    async def dnc_add(request: Request) -> HTTPResponse:
        data = json_body(request, required=("kind", "phone"))
        kind, phone = kind_of(data["kind"]), text_of(data, "phone")
        added = await run((await store(request)).add_dnc, kind, phone, clock(), reason=text_of(data, "reason"),
                          added_by=text_of(data, "by") or "staff")
        return reply({"kind": kind, "added": added}, status=201 if added else 200)

    @bp.delete("/dnc/<kind>/<phone>")
    @require_staff
    async def dnc_remove(request: Request, kind: str, phone: str) -> HTTPResponse:
        kind, phone = unquote(kind), unquote(phone)  # see campaigns_http.ref
        removed = await run((await store(request)).remove_dnc, kind_of(kind), phone)
        if not removed:
            raise ApiError(404, "not_found", f"免打扰名单（{kind}）中没有该号码", "phone")
        return reply({"kind": kind, "removed": True})

    @bp.post("/followups/<slot_id:int>/done")
    @require_staff
    async def followup_done(request: Request, slot_id: int) -> HTTPResponse:
        data = json_body(request, required=("by",))
        await run((await store(request)).mark_followup_done, slot_id, text_of(data, "by"), clock(),
                  note=text_of(data, "note"), missing="slot_id")
        return reply({"slot_id": slot_id, "done": True})

    @bp.get("/<campaign>")
    @require_staff
    async def show_one(request: Request, campaign: str) -> HTTPResponse:
        return reply(await run(show, await store(request), ref(campaign), clock(), day=day_of(request)))

    @bp.patch("/<campaign>")
    @require_staff
    async def edit_one(request: Request, campaign: str) -> HTTPResponse:
        data = json_body(request)
        return reply(await run(edit, await store(request), ref(campaign), data, clock()))

    @bp.post(f"/<campaign>/<action:{ACTIONS}>")
    @require_staff
    async def act_on(request: Request, campaign: str, action: str) -> HTTPResponse:
        row = await run(act, await store(request), ref(campaign), action, clock())
        return reply(campaign_view(row))

    @bp.get("/<campaign>/targets")
    @require_staff
    async def targets(request: Request, campaign: str) -> HTTPResponse:
        rows = await run((await store(request)).list_targets, ref(campaign))
        return reply({"targets": [{**row, "phone_display": display(row["phone"])} for row in rows],
                      "count": len(rows)})

    @bp.post("/<campaign>/targets")
    @require_staff
    async def upload(request: Request, campaign: str) -> HTTPResponse:
        found = await store(request)
        data, filename = upload_of(request, found.config.max_import_bytes)
        valid_only = flag(request, "valid_only")
        report = await run(import_data, found, ref(campaign), data, filename, clock(), valid_only)
        return reply(report.to_dict(), status=201 if report.imported else 200)

    @bp.get("/<campaign>/followups")
    @require_staff
    async def followups(request: Request, campaign: str) -> HTTPResponse:
        fmt = format_of(request)
        items = await run((await store(request)).followups, ref(campaign), clock(), day=day_of(request),
                          include_done=flag(request, "all"))
        if fmt == "csv":
            return csv_download(export.followups_csv(items), "followups.csv", f"人工补漏-{unquote(campaign)}.csv")
        return reply({"followups": [{**item, "phone_display": display(item["phone"])} for item in items],
                      "count": len(items)})

    @bp.get("/<campaign>/report")
    @require_staff
    async def report(request: Request, campaign: str) -> HTTPResponse:
        fmt = format_of(request)
        found = await run((await store(request)).daily_report, ref(campaign), clock(), day=day_of(request))
        if fmt == "csv":
            return csv_download(export.report_csv(found), "report.csv", f"日报-{unquote(campaign)}-{found['day']}.csv")
        return reply(found)

    return bp

