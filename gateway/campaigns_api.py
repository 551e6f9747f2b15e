"""``/api/campaigns`` on the gateway: the operators' HTTP API for robocall campaigns (staff only).

The same operations as ``python -m campaigns`` (campaigns/cli.py), over the same store, for the staff console
and other tools. Every route needs the staff token (``common.web.require_staff``, as ``/api/kb`` and
``/api/dispatch``). Routes:

* ``GET /`` list · ``POST /`` create from a JSON spec (campaigns/validation.py; 201) · ``GET /<c>`` one campaign
  with its spec, target count and progress (slots per state) — ``<c>`` is the id or the name
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
(starting twice), a file over ``[campaigns] max_import_bytes`` 413.

One store per app (``app.ctx.campaigns``), opened at server start — or on first use, so a store that is down at
start-up does not stop the gateway — and closed at server stop. :func:`offer_callback` is the notification
path's hook (campaigns/callbacks.py) on the same store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote, unquote

from sanic import Blueprint, Request, Sanic, response
from sanic.response import HTTPResponse

from campaigns import callbacks, export, kinds
from campaigns.cli import campaign_ref
from campaigns.config import CampaignsConfig
from campaigns.phones import PhoneError, display
from campaigns.states import CAMPAIGN_ACTIONS, CAMPAIGN_STATE_LABELS, SLOT_LABELS, TransitionError
from campaigns.store import DuplicateName, EmptyCampaign, NotFound, Store
from campaigns.targets import ImportRefused, ImportReport, TargetFileError, import_data
from campaigns.validation import SpecError, parse_spec
from common.logging import mask_pii
from common.web import ApiError, json_body, require_staff

log = logging.getLogger(__name__)
PREFIX = "/api/campaigns"
CTX_ATTR = "campaigns"
BLUEPRINT_NAME = "campaigns"
ACTIONS = "|".join(CAMPAIGN_ACTIONS)
TRUE_FLAGS, FALSE_FLAGS = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})
MULTIPART = "multipart/form-data"
UPLOAD_FIELD = "file"
FIELD_PREFIX = re.compile(r"^([a-z_]+): (.+)$", re.DOTALL)  # the store's ValueErrors name their field this way
_store_lock = threading.Lock()


# --- the app's store ----------------------------------------------------------------------------------------

def store_for(app: Sanic) -> Store:
    """The app's campaign store, opened on first use (thread-safe: callers run in worker threads)."""
    with _store_lock:
        store = getattr(app.ctx, CTX_ATTR, None)
        if store is None:
            store = Store(CampaignsConfig.load())
            setattr(app.ctx, CTX_ATTR, store)
        return store


def close_store(app: Sanic) -> None:
    with _store_lock:
        store = getattr(app.ctx, CTX_ATTR, None)
        setattr(app.ctx, CTX_ATTR, None)
    if store is not None:
        store.close()


async def offer_callback(app: Sanic, event: Mapping[str, Any]) -> str | None:
    """A closed case's satisfaction call-back (campaigns/callbacks.py); never raises.

    Only on an app that mounts this API: call-backs go with the campaigns an operator can see and stop, and an
    app with the notification routes alone (tests, a bare webhook receiver) opens no campaign store.
    """
    if BLUEPRINT_NAME not in app.blueprints:
        return None
    return await callbacks.offer(lambda: store_for(app), event)


# --- errors and replies -------------------------------------------------------------------------------------

class ImportRejected(ApiError):
    """422 with the validation report: which rows and fields are wrong (nothing was imported)."""

    def __init__(self, report: ImportReport, message: str) -> None:
        super().__init__(422, "invalid_rows", message, UPLOAD_FIELD)
        self.report = report

    def to_response(self) -> HTTPResponse:
        error = {"code": self.code, "message": self.message, "field": self.field}
        return _json({"error": error, "report": self.report.to_dict()}, status=self.status)


def _translate(exc: Exception, missing: str) -> ApiError:
    """A store or validation error as the API's error; ``missing`` names the field of a NotFound."""
    if isinstance(exc, ImportRefused):
        return ImportRejected(exc.report, str(exc).replace("--valid-only", "valid_only=1"))
    if isinstance(exc, SpecError):
        return ApiError(422, "invalid_field", exc.message, exc.field)
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", str(exc), missing)
    if isinstance(exc, TransitionError):
        return ApiError(409, exc.code, exc.message, "action" if exc.code == "action" else "state")
    if isinstance(exc, DuplicateName):
        return ApiError(409, "duplicate", str(exc), "name")
    if isinstance(exc, EmptyCampaign):
        return ApiError(409, "empty_campaign", str(exc), "targets")
    if isinstance(exc, PhoneError):
        return ApiError(422, "invalid_field", str(exc), "phone")
    if isinstance(exc, TargetFileError):
        return ApiError(422, "invalid_file", str(exc), UPLOAD_FIELD)
    named = FIELD_PREFIX.match(str(exc))
    if named:
        return ApiError(422, "invalid_field", named.group(2), named.group(1))
    return ApiError(409, "conflict", str(exc))  # e.g. importing into a stopped campaign


async def _run(func: Callable[..., Any], *args: Any, missing: str = "campaign", **kwargs: Any) -> Any:
    """Store work off the event loop; its refusals become ApiErrors."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except (SpecError, NotFound, TransitionError, TargetFileError, PhoneError, ValueError) as exc:
        raise _translate(exc, missing) from None


def _encode(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, dumps=json.dumps, ensure_ascii=False, default=_encode)


def _flag(request: Request, name: str) -> bool:
    value = request.args.get(name)
    if value is None and request.content_type.startswith(MULTIPART):
        value = request.form.get(name)
    text = str(value or "").strip().lower()
    if text not in TRUE_FLAGS | FALSE_FLAGS:
        raise ApiError(400, "invalid_field", f"{name} 须为 1/0（true/false）", name)
    return text in TRUE_FLAGS


def _ref(segment: str) -> int | str:
    """A campaign named in the path: its id when all digits, else its name.

    Path parameters arrive %-encoded (a Chinese name, the + of a number). Decoded here rather than with the
    routes' ``unquote=True``: sanic-routing applies that flag by the order routes are added (a shared prefix
    node made by another blueprint's route keeps it off), so it holds on some runs and not on others.
    """
    return campaign_ref(unquote(segment))


def _kind(value: Any) -> str:
    if not isinstance(value, str) or kinds.get(value) is None:
        raise ApiError(422, "invalid_field", f"活动类型须为 {' / '.join(kinds.kinds())} 之一", "kind")
    return value


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a phone number sent as a JSON number
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"{name} 须为文本", name)
    return value.strip()


def _campaign_view(row: Mapping[str, Any], with_spec: bool = False) -> dict[str, Any]:
    kind = kinds.get(row["kind"])
    view = {"id": row["id"], "name": row["name"], "kind": row["kind"],
            "kind_label": kind.label if kind else row["kind"], "state": row["state"],
            "state_label": CAMPAIGN_STATE_LABELS.get(row["state"], row["state"]),
            "created_at": row["created_at"], "updated_at": row["updated_at"]}
    if "targets" in row:
        view["targets"] = row["targets"]
    if with_spec:
        view["spec"] = row["spec"]
    return view


def _brief(exc: Exception) -> str:
    """An error for the log: its first line, numbers masked (SQL errors carry their parameters)."""
    text = str(exc).strip()
    return mask_pii(text.splitlines()[0] if text else "")


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- the work behind the routes (synchronous, in worker threads) --------------------------------------------

def _show(store: Store, campaign: int | str) -> dict[str, Any]:
    row = store.get_campaign(campaign)
    progress = store.progress(row["id"])
    return {**_campaign_view(row, with_spec=True), "targets": len(store.existing_phones(row["id"])),
            "progress": progress, "progress_labels": {state: SLOT_LABELS.get(state, state) for state in progress}}


def _act(store: Store, campaign: int | str, action: str, now: datetime) -> dict[str, Any]:
    row = store.get_campaign(campaign)
    if action == "start":  # the spec again, against today's settings (a lowered channel cap refuses it)
        parse_spec(row["spec"], store.config)
    return store.set_state(row["id"], action, now)


def _upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded list and its file name (multipart ``file``, or the raw body with ``?filename=``)."""
    if request.content_type.startswith(MULTIPART):
        item = request.files.get(UPLOAD_FIELD)
        if item is None:
            raise ApiError(400, "missing_field", "请以 file 字段上传名单（CSV 或 XLSX）", UPLOAD_FIELD)
        data, filename = item.body, item.name or ""
    else:
        data, filename = request.body or b"", request.args.get("filename") or ""
    if not data:
        raise ApiError(400, "missing_field", "名单文件为空", UPLOAD_FIELD)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"文件过大（上限 {limit // 1_000_000} MB）", UPLOAD_FIELD)
    return data, filename


def _format(request: Request) -> str:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, "invalid_field", "format 须为 json 或 csv", "format")
    return fmt


def _csv(text: str, ascii_name: str, name: str) -> HTTPResponse:
    """A CSV download (UTF-8 with BOM); RFC 6266: a UTF-8 file name besides the ASCII one."""
    return response.raw(text.encode(), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"})


def _day(request: Request) -> date | None:
    value = request.args.get("day")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_field", f"日期须为 YYYY-MM-DD：{value}", "day") from None


# --- routes -------------------------------------------------------------------------------------------------

def blueprint(clock: Callable[[], datetime] = _now) -> Blueprint:
    """The ``/api/campaigns`` blueprint (the store comes from ``[campaigns]`` of the settings; ``clock`` is
    for tests that place "now" inside a campaign's calling window)."""
    bp = Blueprint(BLUEPRINT_NAME, url_prefix=PREFIX)

    @bp.before_server_start
    async def _open(app: Sanic) -> None:
        try:
            await asyncio.to_thread(store_for, app)
        except Exception as exc:  # the gateway serves chat without campaigns; the next use tries again
            log.error("campaign store unavailable at start (%s): %s", type(exc).__name__, _brief(exc))

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
            log.error("campaign store unavailable (%s): %s", type(exc).__name__, _brief(exc))
            raise ApiError(503, "campaigns_unavailable", "外呼活动存储暂时不可用，请稍后再试。") from None

    @bp.get("")
    @require_staff
    async def list_campaigns(request: Request) -> HTTPResponse:
        rows = await _run((await store(request)).list_campaigns)
        return _json({"campaigns": [_campaign_view(row) for row in rows], "count": len(rows)})

    @bp.post("")
    @require_staff
    async def create(request: Request) -> HTTPResponse:
        data = json_body(request)
        found = await store(request)
        spec = await _run(parse_spec, data, found.config)
        row = await _run(found.create_campaign, spec, clock())
        return _json(_campaign_view(row, with_spec=True), status=201)

    @bp.get("/dnc")
    @require_staff
    async def dnc_list(request: Request) -> HTTPResponse:
        kind = request.args.get("kind")
        items = await _run((await store(request)).list_dnc, _kind(kind) if kind else None)
        return _json({"dnc": [{**item, "phone_display": display(item["phone"])} for item in items],
                      "count": len(items)})

    @bp.post("/dnc")
    @require_staff
    async def dnc_add(request: Request) -> HTTPResponse:
        data = json_body(request, required=("kind", "phone"))
        kind, phone = _kind(data["kind"]), _text(data, "phone")
        added = await _run((await store(request)).add_dnc, kind, phone, clock(), reason=_text(data, "reason"),
                           added_by=_text(data, "by") or "staff")
        return _json({"kind": kind, "added": added}, status=201 if added else 200)

    @bp.delete("/dnc/<kind>/<phone>")
    @require_staff
    async def dnc_remove(request: Request, kind: str, phone: str) -> HTTPResponse:
        kind, phone = unquote(kind), unquote(phone)  # see _ref
        removed = await _run((await store(request)).remove_dnc, _kind(kind), phone)
        if not removed:
            raise ApiError(404, "not_found", f"免打扰名单（{kind}）中没有该号码", "phone")
        return _json({"kind": kind, "removed": True})

    @bp.post("/followups/<slot_id:int>/done")
    @require_staff
    async def followup_done(request: Request, slot_id: int) -> HTTPResponse:
        data = json_body(request, required=("by",))
        await _run((await store(request)).mark_followup_done, slot_id, _text(data, "by"), clock(),
                   note=_text(data, "note"), missing="slot_id")
        return _json({"slot_id": slot_id, "done": True})

    @bp.get("/<campaign>")
    @require_staff
    async def show(request: Request, campaign: str) -> HTTPResponse:
        return _json(await _run(_show, await store(request), _ref(campaign)))

    @bp.post(f"/<campaign>/<action:{ACTIONS}>")
    @require_staff
    async def act(request: Request, campaign: str, action: str) -> HTTPResponse:
        row = await _run(_act, await store(request), _ref(campaign), action, clock())
        return _json(_campaign_view(row))

    @bp.get("/<campaign>/targets")
    @require_staff
    async def targets(request: Request, campaign: str) -> HTTPResponse:
        rows = await _run((await store(request)).list_targets, _ref(campaign))
        return _json({"targets": [{**row, "phone_display": display(row["phone"])} for row in rows],
                      "count": len(rows)})

    @bp.post("/<campaign>/targets")
    @require_staff
    async def upload(request: Request, campaign: str) -> HTTPResponse:
        found = await store(request)
        data, filename = _upload(request, found.config.max_import_bytes)
        valid_only = _flag(request, "valid_only")
        report = await _run(import_data, found, _ref(campaign), data, filename, clock(), valid_only)
        return _json(report.to_dict(), status=201 if report.imported else 200)

    @bp.get("/<campaign>/followups")
    @require_staff
    async def followups(request: Request, campaign: str) -> HTTPResponse:
        fmt = _format(request)
        ref = _ref(campaign)
        items = await _run((await store(request)).followups, ref, clock(), day=_day(request),
                           include_done=_flag(request, "all"))
        if fmt == "csv":
            return _csv(export.followups_csv(items), "followups.csv", f"人工补漏-{unquote(campaign)}.csv")
        return _json({"followups": [{**item, "phone_display": display(item["phone"])} for item in items],
                      "count": len(items)})

    @bp.get("/<campaign>/report")
    @require_staff
    async def report(request: Request, campaign: str) -> HTTPResponse:
        fmt = _format(request)
        found = await _run((await store(request)).daily_report, _ref(campaign), clock(), day=_day(request))
        if fmt == "csv":
            return _csv(export.report_csv(found), "report.csv", f"日报-{unquote(campaign)}-{found['day']}.csv")
        return _json(found)

    return bp

