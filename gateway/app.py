"""The gateway app: channels, knowledge-base API, notifications, hand-offs and the staff console.

What it mounts is listed here and nowhere else; each entry is one module with a ``blueprint``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from sanic import Request, Sanic, response

from channels.base import BotMessage, InputChannel, UserMessage
from common import settings
from common.web import ApiError, install_error_handlers
from gateway.assistant import AssistantUnavailable, RasaAssistant
from gateway.handoff import HandoffStore
from gateway.handoff import blueprint as handoff_blueprint
from gateway.identity import IdentityGate

log = logging.getLogger(__name__)
CONSOLE_DIR = settings.ROOT / "console" / "static"
# Channels a resident can use through the gateway: "module:Class" implementing InputChannel.
CHANNELS = ["channels.rest:RestInput", "channels.voice:VoiceInput"]
# Other APIs mounted on the gateway: modules with a ``blueprint()`` factory.
APIS = ["knowledge_base.api", "gateway.notifications", "gateway.dispatch_proxy", "gateway.campaigns_api"]


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def create_app(name: str = "govbot-gateway") -> Sanic:
    conf = settings.section("gateway")
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = int(conf.get("request_max_bytes", 20 * 1024 * 1024))
    app.config.FALLBACK_ERROR_FORMAT = "json"
    install_error_handlers(app)
    store = HandoffStore.from_settings()
    app.ctx.handoffs = store
    gate = app.ctx.identity = IdentityGate.from_settings()  # who is talking, for every channel and API

    async def on_handoff(message: UserMessage, details: dict[str, Any]) -> None:
        store.open(message, str(details.get("reason") or ""))

    assistant = RasaAssistant.from_settings(on_handoff=on_handoff)
    app.ctx.assistant = assistant

    async def on_new_message(message: UserMessage) -> list[BotMessage]:
        message = gate.admitted(message)  # the one place identity metadata of untrusted callers is dropped
        try:
            return await assistant.handle(message)
        except AssistantUnavailable as exc:
            log.warning("assistant unavailable: %s", exc)
            raise ApiError(503, "assistant_unavailable", "智能助手正在启动或暂时不可用，请稍后再试。") from exc

    for path in CHANNELS:
        channel_class: type[InputChannel] = _load(path)
        app.blueprint(channel_class.from_settings(conf).blueprint(on_new_message))
    for path in APIS:
        app.blueprint(_load(path).blueprint())
    app.blueprint(handoff_blueprint(store, assistant))

    app.static("/staff/", str(CONSOLE_DIR), name="console")

    @app.get("/staff")
    async def console_index(_request: Request):
        return response.redirect("/staff/index.html")

    @app.get("/healthz")
    async def healthz(_request: Request):
        return response.json({"status": "ok"})

    @app.get("/readyz")
    async def readyz(_request: Request):
        status = await assistant.readiness()
        return response.json(status, status=200 if status["ready"] else 503, ensure_ascii=False)

    @app.after_server_stop
    async def close_clients(_app: Sanic) -> None:
        await assistant.close()

    return app

