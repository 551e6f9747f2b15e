"""Terminal chat with the assistant through the gateway: ``python -m channels.cli``.

Type a message and press Enter; type a button's number to choose it; Ctrl-D or "退出" to leave.
Case updates (a ticket closed, a staff reply) are shown before each prompt.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

import httpx

from common import settings

QUIT_WORDS = {"退出", "exit", "quit", "再见!"}


class ChatSession:
    def __init__(self, base_url: str, sender: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.client = httpx.Client(timeout=timeout_s)
        self.buttons: list[dict[str, str]] = []

    def send(self, text: str) -> list[dict[str, Any]]:
        """Send one message; raise RuntimeError with the gateway's explanation on failure."""
        if text.isdigit() and 1 <= int(text) <= len(self.buttons):
            text = self.buttons[int(text) - 1]["payload"]
        try:
            reply = self.client.post(f"{self.base_url}/api/chat", json={"sender": self.sender, "message": text,
                                                                      "metadata": {"channel_user": "cli"}})
        except httpx.HTTPError as exc:
            raise RuntimeError(f"无法连接网关 {self.base_url}（{type(exc).__name__}）。请先运行 make run。") from exc
        body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
        if reply.status_code != 200:
            raise RuntimeError((body.get("error") or {}).get("message") or f"网关返回 {reply.status_code}")
        messages = body.get("messages", [])
        self.buttons = [button for message in messages for button in message.get("buttons", [])]
        return messages

    def notifications(self) -> list[dict[str, Any]]:
        try:
            reply = self.client.get(f"{self.base_url}/api/notifications", params={"sender": self.sender})
        except httpx.HTTPError:
            return []
        return reply.json().get("notifications", []) if reply.status_code == 200 else []


def render(messages: list[dict[str, Any]]) -> str:
    lines, number = [], 0
    for message in messages:
        if message.get("text"):
            lines.append(f"助手：{message['text']}")
        for button in message.get("buttons", []):
            number += 1
            lines.append(f"   [{number}] {button['title']}")
    return "\n".join(lines) if lines else "助手：（无回复）"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="与政务服务智能助手对话（终端）")
    parser.add_argument("--url", default=settings.base_url("gateway"), help="网关地址")
    parser.add_argument("--sender", default=f"cli-{getpass.getuser()}-{uuid.uuid4().hex[:6]}", help="会话标识")
    args = parser.parse_args(argv)
    session = ChatSession(args.url, args.sender)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"已连接 {args.url}（会话 {args.sender}）。输入消息后回车；输入按钮编号可直接选择；Ctrl-D 退出。")
    while True:
        for note in session.notifications():
            print(f"【通知】{note.get('text', '')}")
        try:
            text = input("您：" if interactive else "").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not text:
            continue
        if text.lower() in QUIT_WORDS:
            return 0
        if not interactive:
            print(f"您：{text}")
        try:
            print(render(session.send(text)), flush=True)
        except RuntimeError as exc:
            print(f"（{exc}）", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
