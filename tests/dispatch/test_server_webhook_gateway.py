"""The status webhook against the gateway's real ``/hooks/dispatch`` (gateway/notifications.py).

Proves the contract between the two packages: signature, body fields, and that every reporter of a
merged case (not only the first) is told the outcome and invited to rate.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sanic import Sanic

from tests.dispatch.conftest import backend_for, free_port
from tests.support import serving

notifications = pytest.importorskip("gateway.notifications")
SECRET = "shared-webhook-secret"


async def test_every_reporter_hears_the_outcome(tmp_path: Path):
    store = notifications.NotificationStore(sa.create_engine(f"sqlite:///{tmp_path / 'notes.sqlite3'}"))
    gateway = Sanic(f"gateway_hook_{free_port()}", configure_logging=False)
    gateway.config.TOUCHUP = False
    gateway.blueprint(notifications.blueprint(store=store, recipients=lambda _sid: [], secret=SECRET))
    from gateway.clients import ClientRegistry
    from gateway.identity import IdentityGate
    from gateway.sessions import ResidentSessions

    # The senders below are trusted clients' (web:…, cli:…): each reads its own with its credential.
    gateway.ctx.identity = IdentityGate(ResidentSessions("k", 60), ClientRegistry(tmp_path / "clients", ["web", "cli"]))
    try:
        async with serving(gateway) as base:
            async with backend_for("sqlite", tmp_path, status_webhook_url=f"{base}/hooks/dispatch",
                                   webhook_secret=SECRET, webhook_backoff_s=0.05) as backend:
                ids = []
                for sender in ("web:alice", "cli:bob"):
                    r = await backend.report(service_code="drainage", address_string="幸福路 8 号",
                                             description="下水道堵了，污水漫出来", channel=sender.split(":")[0],
                                             sender_id=sender)
                    ids.append(r.json()[0]["service_request_id"])
                await backend.act(ids[0], "close", result="已疏通")
                told: dict[str, list[dict]] = {}
                async with httpx.AsyncClient(base_url=base) as http:
                    for _ in range(100):
                        for sender in ("web:alice", "cli:bob"):
                            secret = (tmp_path / "clients" / sender.split(":")[0]).read_text().strip()
                            r = await http.get("/api/notifications", params={"sender": sender},
                                               headers={"Authorization": f"Bearer {secret}"})
                            told.setdefault(sender, []).extend(r.json()["notifications"])
                        if all(told.values()) and len(told) == 2:
                            break
                        await asyncio.sleep(0.05)
                alice, bob = told["web:alice"], told["cli:bob"]
                assert any(ids[0] in n["text"] and "已疏通" in n["text"] and n["rate"] for n in alice)
                assert any(ids[1] in n["text"] and "已疏通" in n["text"] and n["rate"] for n in bob)
    finally:
        Sanic._app_registry.pop(gateway.name, None)
