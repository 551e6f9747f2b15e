"""The dispatch server's app factory: settings and clock in, a Sanic app out.

``create_app`` is the only place that reads settings (through ``DispatchConfig``); everything else
takes what it needs from ``app.ctx``. Tests create several apps (SQLite, PostgreSQL, different
SLAs) in one process, each with its own ``ManualClock``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import timedelta
from typing import Any

from sanic import Request, Sanic, response
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from common.web import ApiError
from dispatch.server import catalogue as catalogue_module
from dispatch.server import dispatcher, open311
from dispatch.server.catalogue import Sla
from dispatch.server.clock import Clock, SystemClock
from dispatch.server.config import DispatchConfig
from dispatch.server.output import FORMATS, Open311Error, render_error
from dispatch.server.sla import SlaScheduler
from dispatch.server.store import Store
from dispatch.server.webhook import Notifier

log = logging.getLogger("dispatch")
OPEN311_PREFIX = "/open311/"
STAFF_PREFIX = "/api/dispatch"
_names = itertools.count(1)


def create_app(conf: dict[str, Any], clock: Clock | None = None, *, name: str | None = None) -> Sanic:
    """An app for one ``[dispatch]`` settings dict; the store's tables are created if missing."""
    config = DispatchConfig.from_settings(conf)
    default_sla = Sla(sign=_minutes(config.sla_sign_minutes), dispatch=_minutes(config.sla_dispatch_minutes),
                      close=_minutes(config.sla_close_hours * 60))
    catalogue = catalogue_module.load(config.catalogue_file, default_sla)
    clock = clock or SystemClock()
    app = Sanic(name or f"dispatch_{next(_names)}", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = config.max_body_bytes
    app.config.TOUCHUP = False  # several apps per process (tests) break sanic's code rewriting
    app.config.ACCESS_LOG = False  # query strings may carry phone numbers; our own logs mask them
    store = Store(config, catalogue)
    notifier = Notifier(store, config)
    app.ctx.config, app.ctx.catalogue, app.ctx.clock, app.ctx.store = config, catalogue, clock, store
    app.ctx.notifier = notifier
    app.ctx.sla = SlaScheduler(store, clock, config.sla_scan_interval_s, notifier)
    app.blueprint(open311.bp)
    app.blueprint(open311.discovery_bp)
    app.blueprint(dispatcher.bp)

    @app.get("/healthz")
    async def healthz(_request: Request) -> HTTPResponse:
        await asyncio.to_thread(store.ping)
        return response.json({"status": "ok", "service": "dispatch"})

    @app.after_server_start
    async def _start(app: Sanic) -> None:
        app.ctx.sla.start()
        app.ctx.notifier.start()

    @app.before_server_stop
    async def _stop(app: Sanic) -> None:
        await app.ctx.sla.stop()
        await app.ctx.notifier.stop()

    @app.after_server_stop
    async def _close(app: Sanic) -> None:
        app.ctx.store.close()

    @app.on_response
    async def _cors(request: Request, resp: HTTPResponse) -> None:
        _add_cors(request, resp, config.cors_origins)

    _install_errors(app, config.cors_origins)
    return app


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def _add_cors(request: Request, resp: HTTPResponse, origins: tuple[str, ...]) -> None:
    """The console is served by the gateway (another origin) and calls the dispatcher API here."""
    origin = request.headers.get("origin")
    if origin and origin in origins and request.path.startswith(STAFF_PREFIX):
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers["Vary"] = "Origin"


def _open311_format(request: Request) -> str:
    ext = request.path.rpartition(".")[2]
    return ext if ext in FORMATS else "json"


def _install_errors(app: Sanic, origins: tuple[str, ...]) -> None:
    """Spec errors under /open311/, our JSON errors elsewhere; never an HTML page, never a bare 500."""

    def answer(request: Request, status: int, description: str, code: str = "http_error",
               reason: str | None = None) -> HTTPResponse:
        if request.path.startswith(OPEN311_PREFIX):
            resp = render_error(Open311Error(status, description, reason), _open311_format(request))
        else:
            resp = ApiError(status, code, description).to_response()
        _add_cors(request, resp, origins)
        return resp

    @app.exception(Open311Error)
    async def _open311_error(request: Request, exc: Open311Error) -> HTTPResponse:
        return answer(request, exc.status, exc.description, reason=exc.reason)

    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> HTTPResponse:
        resp = exc.to_response()
        _add_cors(request, resp, origins)
        return resp

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        if request.method == "OPTIONS" and request.path.startswith(STAFF_PREFIX):
            resp = response.empty(status=204)  # CORS pre-flight
            _add_cors(request, resp, origins)
            return resp
        messages = {404: "资源不存在", 405: "不支持该请求方法", 413: "请求体过大"}
        return answer(request, status, messages.get(status, str(exc) or "请求错误"))

    @app.exception(OperationalError, DBAPIError)
    async def _db_error(request: Request, exc: Exception) -> HTTPResponse:
        log.error("database unavailable: %s", exc)
        return answer(request, 503, "服务暂时不可用，请稍后重试", "unavailable")

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTTPResponse:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return answer(request, 500, "服务器内部错误", "internal")
