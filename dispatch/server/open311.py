"""The GeoReport v2 endpoints under ``/open311/v2/``: one handler per method, output via ``render``.

Paths end in ``.json`` or ``.xml``; the format of an error follows the path too (JSON when the path
has no recognisable format). Extensions beyond the spec are marked as such and optional.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from dispatch.server import forms, views
from dispatch.server.output import Open311Error, render, split_format
from dispatch.server.store import TransitionError

bp = Blueprint("open311", url_prefix="/open311/v2")
discovery_bp = Blueprint("open311_discovery", url_prefix="/open311")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-23T00:00:00+08:00"  # when the API last changed (the catalogue is read at start)


def _ctx(request: Request) -> Any:
    return request.app.ctx


def _check_jurisdiction(request: Request, values: dict[str, list[str]]) -> None:
    given = (values.get("jurisdiction_id") or [None])[0]
    if given and given != _ctx(request).config.jurisdiction_id:
        raise Open311Error(404, f"jurisdiction_id {given} 不存在")


def _api_key_ok(request: Request, values: dict[str, list[str]]) -> bool:
    given = (values.get("api_key") or [""])[0]
    return bool(given) and hmac.compare_digest(given.encode(), _ctx(request).config.api_key.encode())


def _format_of(name: str, resource: str) -> str:
    """The output format of ``<resource>.{json,xml}``; 404 for any other resource name."""
    stem, fmt = split_format(name)
    if stem != resource:
        raise Open311Error(404, f"资源 {stem} 不存在")
    return fmt


def _keyed_form(request: Request) -> dict[str, list[str]]:
    """The form of a write request, which must carry a valid api_key (403 otherwise)."""
    form = forms.form_fields(request)
    if not _api_key_ok(request, form):
        raise Open311Error(403, "api_key 缺失或无效")
    return form


@bp.get("/<name>")
async def collection(request: Request, name: str) -> HTTPResponse:
    """GET services.{fmt} and GET requests.{fmt}."""
    stem, fmt = split_format(name)
    args = forms.query_fields(request)
    _check_jurisdiction(request, args)
    ctx = _ctx(request)
    if stem == "services":
        return render([s.to_open311() for s in ctx.catalogue.services.values()], fmt, "services")
    if stem == "requests":
        now = ctx.clock.now()
        filters = forms.parse_filters(args, now, ctx.config, authenticated=_api_key_ok(request, args))
        rows = await asyncio.to_thread(ctx.store.search, filters)
        tz = ctx.config.timezone
        return render([views.request_view(t, tz) for t in rows], fmt, "service_requests")
    raise Open311Error(404, f"资源 {stem} 不存在")


@bp.post("/<name>")
async def create(request: Request, name: str) -> HTTPResponse:
    """POST requests.{fmt}: form-encoded; the same idempotency key answers with the original ticket."""
    fmt = _format_of(name, "requests")
    ctx = _ctx(request)
    form = _keyed_form(request)
    _check_jurisdiction(request, form)
    new = forms.parse_new_request(form, request.headers, ctx.catalogue, ctx.config)
    ticket, created = await asyncio.to_thread(ctx.store.create, new, ctx.clock.now())
    if created:
        ctx.notifier.wake()
    return render([views.created_view(ticket, ctx.config.timezone)], fmt, "service_requests",
                  status=201 if created else 200)


@bp.get("/services/<name>")
async def service_definition(request: Request, name: str) -> HTTPResponse:
    code, fmt = split_format(name)
    _check_jurisdiction(request, forms.query_fields(request))
    service = _ctx(request).catalogue.get(code)
    if service is None:
        raise Open311Error(404, f"服务 {code} 不存在")
    return render(service.definition(), fmt, "service_definition")


@bp.get("/requests/<name>")
async def one_request(request: Request, name: str) -> HTTPResponse:
    """GET requests/{id}.{fmt}; extension: with a valid api_key also who reported it (``phone``,
    ``sender_id``), so the assistant can tell the reporter from anyone else who names the number."""
    service_request_id, fmt = split_format(name)
    ctx = _ctx(request)
    args = forms.query_fields(request)
    _check_jurisdiction(request, args)
    ticket = await asyncio.to_thread(ctx.store.get, service_request_id)
    if ticket is None:
        raise Open311Error(404, f"工单 {service_request_id} 不存在")
    view = views.request_view(ticket, ctx.config.timezone)
    if _api_key_ok(request, args):
        view.update(views.reporter_view(ticket))
    return render([view], fmt, "service_requests")


@bp.get("/tokens/<name>")
async def token(request: Request, name: str) -> HTTPResponse:
    value, fmt = split_format(name)
    ctx = _ctx(request)
    ticket = await asyncio.to_thread(ctx.store.get_by_token, value)
    if ticket is None:
        raise Open311Error(404, f"令牌 {value} 不存在")
    return render([{"service_request_id": ticket["service_request_id"], "token": value}], fmt, "service_requests")


@bp.post("/requests/<service_request_id>/<name>")
async def rating(request: Request, service_request_id: str, name: str) -> HTTPResponse:
    """Extension: POST requests/{id}/rating.{fmt} — a reporter rates a closed case."""
    fmt = _format_of(name, "rating")
    ctx = _ctx(request)
    form = _keyed_form(request)
    score, comment = forms.parse_rating(form, ctx.config)
    try:
        saved = await asyncio.to_thread(ctx.store.rate, service_request_id, score, comment, ctx.clock.now())
    except LookupError:
        raise Open311Error(404, f"工单 {service_request_id} 不存在") from None
    except TransitionError as exc:  # not_closed, already_rated (one rating per ticket)
        raise Open311Error(400, exc.message, reason=exc.code) from None
    saved["at"] = views.local(saved["at"], ctx.config.timezone)
    return render([saved], fmt, "ratings", status=201)


@discovery_bp.get("/<name>")
async def discovery(request: Request, name: str) -> HTTPResponse:
    """GET /open311/discovery.{fmt}: the spec's service discovery document."""
    fmt = _format_of(name, "discovery")
    base = f"{request.scheme}://{request.host}/open311/v2/"
    return render({
        "changeset": CHANGESET,
        "contact": _ctx(request).config.jurisdiction_id,
        "key_service": "API 密钥由区网格化管理中心发放（开发环境见 make run 输出）",
        "endpoints": [{"specification": SPECIFICATION, "url": base, "changeset": CHANGESET,
                       "type": "production", "formats": ["text/xml", "application/json"]}],
    }, fmt, "discovery")
