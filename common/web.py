"""Sanic helpers shared by our HTTP services (application environment only).

One error shape for every JSON API of ours: ``{"error": {"code", "message", "field"}}`` with a 4xx
status, so a client always learns which field was wrong. (The Open311 API keeps the spec's own
error form; see dispatch.)
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

from sanic import Request, response
from sanic.response import HTTPResponse

from common import settings


class ApiError(Exception):
    """Raise anywhere in a handler; the app's error handler turns it into the JSON error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def to_response(self) -> HTTPResponse:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return response.json({"error": body}, status=self.status, ensure_ascii=False)


def json_body(request: Request, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, or an ApiError naming what is wrong with it."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "请求须为 JSON（Content-Type: application/json）", "content-type")
    try:
        data = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON", "body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "请求体须为 JSON 对象", "body")
    for name in required:
        if data.get(name) in (None, ""):
            raise ApiError(400, "missing_field", f"缺少字段 {name}", name)
    return data


def bearer_token(request: Request) -> str:
    """The credential of ``Authorization: Bearer <token>``, or "" (one parser for every API of ours)."""
    scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also survives non-ASCII input (``hmac`` refuses such ``str``)."""
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def staff_token() -> str:
    return settings.read_or_create_secret(settings.section("security")["staff_token_file"])


def client_secret_path(name: str) -> Path:
    """Where the credential of trusted client ``name`` lives (one generated secret per client)."""
    return settings.resolve_path(settings.section("security")["client_secret_dir"]) / name


def client_secret(name: str) -> str:
    """A trusted client's credential (the voice bot's is ``client_secret("phone")``), created on first use.

    Read the same way as the staff token: a file under the data dir, so the client and the gateway
    on one machine agree without any secret in the repository.
    """
    return settings.read_or_create_secret(str(client_secret_path(name)))


def require_staff(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
    """Staff endpoints need ``Authorization: Bearer <token>`` (the token file under the data dir)."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if not same_secret(bearer_token(request), staff_token()):
            raise ApiError(401, "unauthorized", "需要工作人员身份（Authorization: Bearer <token>）", "authorization")
        return await handler(request, *args, **kwargs)

    return wrapper


def install_error_handlers(app: Any) -> None:
    """JSON errors for ApiError, unknown routes and anything unexpected (never an HTML page)."""
    from sanic.exceptions import SanicException

    @app.exception(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> HTTPResponse:
        return exc.to_response()

    @app.exception(SanicException)
    async def _sanic_error(_request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        return ApiError(status, "http_error", str(exc) or "请求错误").to_response()
