"""The terminal chat: against a gateway on a real port (with a stand-in Rasa) it keeps the session the
gateway issued and reads its own notifications with it; driven through a pipe against the real stack."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from channels.cli import ChatSession
from common import settings
from common.net import free_port
from tests.gateway.fake_rasa import REPLY, FakeRasa
from tests.support import serving


@pytest.fixture
def gateway_app(tmp_path, monkeypatch) -> Iterator[tuple[Any, FakeRasa]]:
    rasa = FakeRasa()
    monkeypatch.setenv("GOVBOT__PATHS__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVBOT__RASA__PORT", str(rasa.port))
    monkeypatch.setenv("GOVBOT__ACTIONS__PORT", str(free_port()))
    settings.reload()
    from gateway.app import create_app

    try:
        yield create_app(f"gateway-cli-{free_port()}"), rasa
    finally:
        rasa.close()
        monkeypatch.undo()
        settings.reload()


async def test_the_terminal_keeps_its_session_and_reads_its_own_notifications(gateway_app) -> None:
    from gateway.notifications import NotificationStore

    app, rasa = gateway_app
    async with serving(app) as base:
        cli = ChatSession(base)
        assert await asyncio.to_thread(cli.notifications) == []  # nothing to ask before it has a session
        first = await asyncio.to_thread(cli.send, "你好")
        assert first[0]["text"] == REPLY and cli.session and cli.sender.startswith("resident:")
        await asyncio.to_thread(cli.send, "我要投诉")
        assert [m["sender"] for m in rasa.received] == [cli.sender, cli.sender]  # one conversation
        event = {"service_request_id": "GB20261123-0001", "status": "closed", "result": "已修复",
                 "updated_datetime": "2026-11-23T10:00:00+08:00"}
        NotificationStore.from_settings().add(event, [{"sender_id": cli.sender, "channel": "rest"}])
        other = ChatSession(base)
        await asyncio.to_thread(other.send, "你好")
        assert await asyncio.to_thread(other.notifications) == []  # another resident sees none of it
        told = await asyncio.to_thread(cli.notifications)
        assert [n["service_request_id"] for n in told] == ["GB20261123-0001"]
        assert await asyncio.to_thread(cli.notifications) == []  # handed out once


@pytest.mark.e2e
def test_terminal_chat_in_mandarin(stack) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "channels.cli", "--url", stack.gateway],
        input="你好\n明天天气怎么样\n", capture_output=True, text=True, timeout=120, cwd=settings.ROOT,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "您：你好" in completed.stdout and "助手：您好" in completed.stdout
    assert "超出了我的服务范围" in completed.stdout


@pytest.mark.e2e
def test_terminal_chat_explains_an_unreachable_gateway() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "channels.cli", "--url", f"http://127.0.0.1:{free_port()}"],
        input="你好\n", capture_output=True, text=True, timeout=60, cwd=settings.ROOT,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT)},
    )
    assert "无法连接网关" in completed.stderr
