"""HTTP API of the knowledge base, mounted by the gateway at ``/api/kb``.

Public: ``GET /search?q=&top=`` and ``POST /search {query, top, sender?}`` (what the Rasa actions
call; ``explain`` in the reply says why: score, margin, lead, the verifier's reason). Staff (Bearer
token): entries CRUD, publish / archive / restore, history, import / export, the unanswered-questions
list, and ``POST /entries/<id>/also-answers`` (adopt a resident's wording for an entry). Writes
answer after their transaction commits and wake this process's index refresher; other processes
notice through the revision counter within ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse

from common.web import ApiError, json_body, require_staff
from knowledge_base import curation, files, unanswered
from knowledge_base.entry import LIMITS, STATUSES, EntryError
from knowledge_base.search import QueryError, SearchService
from knowledge_base.text import has_words

IMPORT_TYPES = {"application/json": "json", "application/x-yaml": "yaml", "application/yaml": "yaml",
                "text/yaml": "yaml", "text/csv": "csv", "application/octet-stream": None, "text/plain": None}
EXPORT_TYPES = {"json": "application/json", "yaml": "application/x-yaml", "csv": "text/csv"}


class ServiceHolder:
    """One SearchService per process, created at server start (or on first use in tests)."""

    def __init__(self, service: SearchService | None = None) -> None:
        self._service = service
        self._lock = threading.Lock()

    def get(self) -> SearchService:
        with self._lock:
            if self._service is None:
                self._service = SearchService()
            return self._service


def _json(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, ensure_ascii=False)


def _author(data: dict[str, Any]) -> str:
    author = str(data.pop("author", "") or "").strip()
    return author[:100] or "staff"


def _int_list(data: dict[str, Any], name: str) -> list[int]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ApiError(400, "invalid_field", f"{name} 须为整数列表", name)
    return value


def _also_answer_text(data: dict[str, Any]) -> str:
    """The resident's wording a curator adopts; refused with the field named, before any store work."""
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or not has_words(text):
        raise ApiError(400, "invalid_field", "text 须为居民的问法（不能为空）", "text")
    text = text.strip()
    if len(text) > LIMITS["alternate"]:
        raise ApiError(400, "invalid_field", f"text 过长（{len(text)} 字，上限 {LIMITS['alternate']}）", "text")
    return text


def _nearest_questions(store: Any, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each hot question with the wording of its nearest entry, so curators see what it was mistaken for."""
    questions: dict[str, str | None] = {}
    for group in groups:
        entry_id = group.get("nearest_entry_id")
        if entry_id and entry_id not in questions:
            entry = store.get(entry_id)
            questions[entry_id] = entry.question if entry else None
        group["nearest_entry_question"] = questions.get(entry_id) if entry_id else None
    return groups


def _translate(exc: Exception) -> ApiError:
    if isinstance(exc, QueryError):
        return ApiError(exc.status, exc.code, exc.message, exc.field)
    if isinstance(exc, EntryError):
        return ApiError(400, "invalid_field", exc.message, exc.field)
    if isinstance(exc, curation.NotFound):
        return ApiError(404, "not_found", exc.message, "id")
    if isinstance(exc, curation.Conflict):
        return ApiError(409, "conflict", exc.message, exc.field)
    if isinstance(exc, files.FileError):
        detail = "；".join(str(e) for e in exc.errors[:5])
        field = exc.errors[0].field if exc.errors else "body"
        return ApiError(400, "invalid_file", f"{exc.message}{detail}", field)
    raise exc


async def _run(func: Any, *args: Any) -> Any:
    """Store and model work runs off the event loop; domain errors become ApiErrors."""
    try:
        return await asyncio.to_thread(func, *args)
    except (QueryError, EntryError, curation.NotFound, curation.Conflict, files.FileError) as exc:
        raise _translate(exc) from None


def blueprint(service: SearchService | None = None) -> Blueprint:
    """The ``/api/kb`` blueprint; pass a service in tests, else one is built from settings at start."""
    holder = ServiceHolder(service)
    bp = Blueprint("knowledge_base", url_prefix="/api/kb")

    @bp.before_server_start
    async def _start(_app: Any) -> None:
        svc = await asyncio.to_thread(holder.get)
        await asyncio.to_thread(svc.refresh)
        svc.start()

    @bp.after_server_stop
    async def _stop(_app: Any) -> None:
        if holder._service is not None:
            await asyncio.to_thread(holder._service.stop)

    def changed() -> None:
        holder.get().changed()

    # --- public search ----------------------------------------------------------------------

    @bp.get("/search")
    async def search_get(request: Request) -> HTTPResponse:
        """``log=0`` keeps a curator's trial search out of the residents' unanswered log."""
        log = request.args.get("log", "1") not in ("0", "false", "no")
        result = await _run(holder.get().search, request.args.get("q"), request.args.get("top"), log)
        return _json(result.to_dict())

    @bp.post("/search")
    async def search_post(request: Request) -> HTTPResponse:
        data = json_body(request)
        result = await _run(holder.get().search, data.get("query"), data.get("top"))
        return _json(result.to_dict())

    # --- staff: entries ---------------------------------------------------------------------

    @bp.get("/entries")
    @require_staff
    async def list_entries(request: Request) -> HTTPResponse:
        status = request.args.get("status") or None
        if status and status not in STATUSES:
            raise ApiError(400, "invalid_field", f"status 须为 {' / '.join(STATUSES)} 之一", "status")
        entries = await _run(holder.get().store.list, status, request.args.get("category") or None,
                             request.args.get("q") or None)
        return _json({"entries": [e.to_dict() for e in entries], "count": len(entries)})

    @bp.post("/entries")
    @require_staff
    async def create_entry(request: Request) -> HTTPResponse:
        data = json_body(request)
        author = _author(data)
        entry = await _run(curation.create, holder.get().store, data, author)
        changed()
        return _json(entry.to_dict(), status=201)

    @bp.get("/entries/<entry_id>")
    @require_staff
    async def get_entry(_request: Request, entry_id: str) -> HTTPResponse:
        entry = await _run(holder.get().store.get, entry_id)
        if entry is None:
            raise ApiError(404, "not_found", f"没有编号为 {entry_id} 的条目", "id")
        return _json(entry.to_dict())

    @bp.put("/entries/<entry_id>")
    @require_staff
    async def update_entry(request: Request, entry_id: str) -> HTTPResponse:
        data = json_body(request)
        author = _author(data)
        entry = await _run(curation.update, holder.get().store, entry_id, data, author)
        changed()
        return _json(entry.to_dict())

    @bp.delete("/entries/<entry_id>")
    @require_staff
    async def delete_entry(_request: Request, entry_id: str) -> HTTPResponse:
        """Delete is archive: the entry leaves the index but its history stays restorable."""
        entry = await _run(curation.set_status, holder.get().store, entry_id, "archived", "staff")
        changed()
        return _json(entry.to_dict())

    async def _status(request: Request, entry_id: str, status: str) -> HTTPResponse:
        data = json_body(request) if request.body else {}
        entry = await _run(curation.set_status, holder.get().store, entry_id, status, _author(data))
        changed()
        return _json(entry.to_dict())

    @bp.post("/entries/<entry_id>/publish")
    @require_staff
    async def publish(request: Request, entry_id: str) -> HTTPResponse:
        return await _status(request, entry_id, "published")

    @bp.post("/entries/<entry_id>/archive")
    @require_staff
    async def archive(request: Request, entry_id: str) -> HTTPResponse:
        return await _status(request, entry_id, "archived")

    @bp.post("/entries/<entry_id>/draft")
    @require_staff
    async def unpublish(request: Request, entry_id: str) -> HTTPResponse:
        return await _status(request, entry_id, "draft")

    @bp.post("/entries/<entry_id>/restore")
    @require_staff
    async def restore(request: Request, entry_id: str) -> HTTPResponse:
        data = json_body(request, required=("version",))
        try:
            version = int(data["version"])
        except (TypeError, ValueError):
            raise ApiError(400, "invalid_field", "version 须为整数", "version") from None
        entry = await _run(curation.restore, holder.get().store, entry_id, version, _author(data))
        changed()
        return _json(entry.to_dict())

    @bp.post("/entries/<entry_id>/also-answers")
    @require_staff
    async def add_also_answer(request: Request, entry_id: str) -> HTTPResponse:
        """A near miss from the unanswered list becomes a wording this entry also answers (and is resolved)."""
        data = json_body(request, required=("text",))
        text = _also_answer_text(data)
        ids = _int_list(data, "ids")
        version = data.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise ApiError(400, "invalid_field", "version 须为整数", "version")
        store = holder.get().store
        entry, added = await _run(curation.add_also_answer, store, entry_id, text, _author(data), version)
        resolved = await _run(store.resolve_unanswered, ids, entry_id) if ids else 0
        changed()
        return _json({"entry": entry.to_dict(), "added": added, "resolved": resolved})

    @bp.get("/entries/<entry_id>/history")
    @require_staff
    async def history(_request: Request, entry_id: str) -> HTTPResponse:
        versions = await _run(holder.get().store.history, entry_id)
        if not versions:
            raise ApiError(404, "not_found", f"没有编号为 {entry_id} 的条目", "id")
        return _json({"id": entry_id, "versions": versions})

    @bp.get("/categories")
    @require_staff
    async def categories(_request: Request) -> HTTPResponse:
        entries = await _run(holder.get().store.list)
        return _json({"categories": sorted({e.category for e in entries})})

    @bp.get("/stats")
    @require_staff
    async def stats(_request: Request) -> HTTPResponse:
        svc = holder.get()
        data = await _run(svc.store.stats)
        data["index"] = {"revision": svc.index.revision, "entries": len(svc.index), "embedder": svc.embedder.name}
        return _json(data)

    # --- staff: files -----------------------------------------------------------------------

    @bp.post("/import")
    @require_staff
    async def import_file(request: Request) -> HTTPResponse:
        svc = holder.get()
        body = request.body or b""
        if len(body) > svc.config.max_import_bytes:
            raise ApiError(413, "too_large", f"文件过大（上限 {svc.config.max_import_bytes} 字节）", "body")
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type not in IMPORT_TYPES:
            raise ApiError(415, "unsupported_media_type", "请上传 JSON、YAML 或 CSV 文件", "content-type")
        fmt = request.args.get("format") or IMPORT_TYPES[content_type]
        if fmt not in files.FORMATS:
            raise ApiError(400, "invalid_field", "请用 format=json|yaml|csv 指明文件格式", "format")
        status = request.args.get("status") or svc.config.seed_status
        if status not in ("draft", "published"):
            raise ApiError(400, "invalid_field", "status 须为 draft 或 published", "status")
        author = (request.args.get("author") or "staff")[:100]
        entries, encoding = await _run(files.read_entries, body, fmt, status)
        report = await _run(curation.import_entries, svc.store, entries, author)
        changed()
        return _json({**report.to_dict(), "encoding": encoding})

    @bp.get("/export")
    @require_staff
    async def export_file(request: Request) -> HTTPResponse:
        fmt = request.args.get("format", "json")
        if fmt not in files.FORMATS:
            raise ApiError(400, "invalid_field", "format 须为 json / yaml / csv", "format")
        status = request.args.get("status") or None
        entries = await _run(holder.get().store.list, status)
        data = await _run(files.dump, entries, fmt)
        return response.raw(data, content_type=f"{EXPORT_TYPES[fmt]}; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="knowledge_base.{fmt}"'})

    # --- staff: unanswered questions --------------------------------------------------------

    @bp.get("/unanswered")
    @require_staff
    async def unanswered_list(_request: Request) -> HTTPResponse:
        svc = holder.get()
        result = await _run(unanswered.groups, svc.store, svc.embedder, svc.config.unanswered_group_similarity,
                            svc.config.unanswered_list_limit)
        return _json({"groups": await _run(_nearest_questions, svc.store, result)})

    @bp.post("/unanswered/resolve")
    @require_staff
    async def unanswered_resolve(request: Request) -> HTTPResponse:
        data = json_body(request, required=("ids", "entry_id"))
        ids = _int_list(data, "ids")
        svc = holder.get()
        if await _run(svc.store.get, str(data["entry_id"])) is None:
            raise ApiError(404, "not_found", f"没有编号为 {data['entry_id']} 的条目", "entry_id")
        count = await _run(svc.store.resolve_unanswered, ids, str(data["entry_id"]))
        return _json({"resolved": count})

    return bp
