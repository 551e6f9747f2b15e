"""The terminal chat, driven through a pipe against the real stack."""

import os
import subprocess
import sys

import pytest

from common import settings

pytestmark = pytest.mark.e2e


def test_terminal_chat_in_mandarin(stack) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "channels.cli", "--url", stack.gateway, "--sender", "cli-test"],
        input="你好\n明天天气怎么样\n", capture_output=True, text=True, timeout=120, cwd=settings.ROOT,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "您：你好" in completed.stdout and "助手：您好" in completed.stdout
    assert "超出了我的服务范围" in completed.stdout


def test_terminal_chat_explains_an_unreachable_gateway() -> None:
    from common.net import free_port

    completed = subprocess.run(
        [sys.executable, "-m", "channels.cli", "--url", f"http://127.0.0.1:{free_port()}"],
        input="你好\n", capture_output=True, text=True, timeout=60, cwd=settings.ROOT,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT)},
    )
    assert "无法连接网关" in completed.stderr
