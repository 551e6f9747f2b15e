"""What the ``/api/campaigns`` routes (gateway/campaigns_api.py) share: the app's store, the translation of
the store's refusals into the API's errors, the JSON and CSV replies, the request parsing, and the synchronous
work behind the routes (run in worker threads).

Why a module of its own: the routes stay readable in one file, and these helpers are the only place that
says which store error is which status (a refused edit 409, an invalid field 422 …).
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

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from campaigns import kinds
from campaigns.cli import campaign_ref
from campaigns.config import CampaignsConfig
from campaigns.phones import PhoneError
from campaigns.states import CAMPAIGN_ACTIONS, CAMPAIGN_STATE_LABELS, SLOT_LABELS, TransitionError
from campaigns.store import DuplicateName, EditConflict, EditRefused, EmptyCampaign, NotFound, Store
from campaigns.targets import ImportRefused, ImportReport, TargetFileError
from campaigns.validation import SpecError, parse_spec
from common.logging import mask_pii
from common.web import ApiError

log = logging.getLogger(__name__)
PREFIX = "/api/campaigns"
CTX_ATTR = "campaigns"
BLUEPRINT_NAME = "campaigns"
ACTIONS = "|".join(CAMPAIGN_ACTIONS)
TRUE_FLAGS, FALSE_FLAGS = frozenset({"1", "true", "yes", "on"}), frozenset({"", "0", "false", "no", "off"})
MULTIPART = "multipart/form-data"
UPLOAD_FIELD = "file"
VERSION_FIELD = "updated_at"  # a PATCH body's version: the campaign's updated_at as it was read
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


# --- errors and replies -------------------------------------------------------------------------------------

class ImportRejected(ApiError):
    """422 with the validation report: which rows and fields are wrong (nothing was imported)."""

    def __init__(self, report: ImportReport, message: str) -> None:
        super().__init__(422, "invalid_rows", message, UPLOAD_FIELD)
        self.report = report

    def to_response(self) -> HTTPResponse:
        error = {"code": self.code, "message": self.message, "field": self.field}
        return reply({"error": error, "report": self.report.to_dict()}, status=self.status)


def translate(exc: Exception, missing: str) -> ApiError:
    """A store or validation error as the API's error; ``missing`` names the field of a NotFound."""
    if isinstance(exc, ImportRefused):
        return ImportRejected(exc.report, str(exc).replace("--valid-only", "valid_only=1"))
    if isinstance(exc, SpecError):
        return ApiError(422, "invalid_field", exc.message, exc.field)
    if isinstance(exc, EditRefused):
        return ApiError(409, "edit_refused", exc.message, exc.field)
    if isinstance(exc, EditConflict):
        return ApiError(409, "edit_conflict", str(exc).removeprefix(f"{VERSION_FIELD}: "), VERSION_FIELD)
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


async def run(func: Callable[..., Any], *args: Any, missing: str = "campaign", **kwargs: Any) -> Any:
    """Store work off the event loop; its refusals become ApiErrors."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except (SpecError, NotFound, TransitionError, TargetFileError, PhoneError, ValueError) as exc:
        raise translate(exc, missing) from None


def encode(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def reply(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, dumps=json.dumps, ensure_ascii=False, default=encode)


def flag(request: Request, name: str) -> bool:
    value = request.args.get(name)
    if value is None and request.content_type.startswith(MULTIPART):
        value = request.form.get(name)
    text = str(value or "").strip().lower()
    if text not in TRUE_FLAGS | FALSE_FLAGS:
        raise ApiError(400, "invalid_field", f"{name} 须为 1/0（true/false）", name)
    return text in TRUE_FLAGS


def ref(segment: str) -> int | str:
    """A campaign named in the path: its id when all digits, else its name.

    Path parameters arrive %-encoded (a Chinese name, the + of a number). Decoded here rather than with the
    routes' ``unquote=True``: sanic-routing applies that flag by the order routes are added (a shared prefix
    node made by another blueprint's route keeps it off), so it holds on some runs and not on others.
    """
    return campaign_ref(unquote(segment))


def kind_of(value: Any) -> str:
    if not isinstance(value, str) or kinds.get(value) is None:
        raise ApiError(422, "invalid_field", f"活动类型须为 {' / '.join(kinds.kinds())} 之一", "kind")
    return value


def text_of(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a phone number sent as a JSON number
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"{name} 须为文本", name)
    return value.strip()


def campaign_view(row: Mapping[str, Any], with_spec: bool = False) -> dict[str, Any]:
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


def brief(exc: Exception) -> str:
    """An error for the log: its first line, numbers masked (SQL errors carry their parameters)."""
    text = str(exc).strip()
    return mask_pii(text.splitlines()[0] if text else "")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --- the work behind the routes (synchronous, in worker threads) --------------------------------------------

def show(store: Store, campaign: int | str, now: datetime, day: date | None = None) -> dict[str, Any]:
    """One campaign: its spec, targets, slots per state (``progress``) and the exact live ``counts``
    (campaigns/store/report.py: over the campaign, or over ``day``; ``counts_day`` says which)."""
    row = store.get_campaign(campaign)
    progress = store.progress(row["id"])
    return {**campaign_view(row, with_spec=True), "targets": len(store.existing_phones(row["id"])),
            "progress": progress, "progress_labels": {state: SLOT_LABELS.get(state, state) for state in progress},
            "counts": store.live_counts(row["id"], now, day=day), "counts_day": day.isoformat() if day else None}


def edit(store: Store, campaign: int | str, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A PATCH: ``changes`` without the version, checked against it (campaigns/store/campaigns.py)."""
    expected = version_of(changes.pop(VERSION_FIELD, None))
    row = store.update_campaign(campaign, changes, now, expected_updated_at=expected)
    return show(store, row["id"], now)


def version_of(value: Any) -> datetime | None:
    """The ``updated_at`` an editor read (ISO 8601 with its zone, as the API gave it), or None."""
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise ApiError(400, "invalid_field", f"{VERSION_FIELD} 须为本接口给出的时间（ISO 8601，带时区）",
                       VERSION_FIELD)
    return stamp


def act(store: Store, campaign: int | str, action: str, now: datetime) -> dict[str, Any]:
    row = store.get_campaign(campaign)
    if action == "start":  # the spec again, against today's settings (a lowered channel cap refuses it)
        parse_spec(row["spec"], store.config)
    return store.set_state(row["id"], action, now)


def upload_of(request: Request, limit: int) -> tuple[bytes, str]:
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


def format_of(request: Request) -> str:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(400, "invalid_field", "format 须为 json 或 csv", "format")
    return fmt


def csv_download(text: str, ascii_name: str, name: str) -> HTTPResponse:
    """A CSV download (UTF-8 with BOM); RFC 6266: a UTF-8 file name besides the ASCII one."""
    return response.raw(text.encode(), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"})


def day_of(request: Request) -> date | None:
    value = request.args.get("day")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_field", f"日期须为 YYYY-MM-DD：{value}", "day") from None
