"""Terminal chat with the assistant through the gateway: ``python -m channels.cli``.

Type a message and press Enter; type a button's number to choose it; Ctrl-D or "退出" to leave.
Case updates (a ticket closed, a staff reply) are shown before each prompt.

The gateway names the conversation: the first reply brings a resident session, which the terminal sends
back as ``Authorization: Bearer <session>`` on every turn and when it reads its notifications
(``--session`` continues an earlier conversation).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from common import settings

QUIT_WORDS = {"退出", "exit", "quit", "再见!"}


class ChatSession:
    def __init__(self, base_url: str, session: str | None = None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session  # the gateway's resident session, renewed by every reply
        self.sender: str | None = None  # the conversation's name at the gateway, once it told us
        self.client = httpx.Client(timeout=timeout_s)
        self.buttons: list[dict[str, str]] = []

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session}"} if self.session else {}

    def send(self, text: str) -> list[dict[str, Any]]:
        """Send one message; raise RuntimeError with the gateway's explanation on failure."""
        if text.isdigit() and 1 <= int(text) <= len(self.buttons):
            text = self.buttons[int(text) - 1]["payload"]
        try:
            reply = self.client.post(f"{self.base_url}/api/chat", headers=self._auth(),
                                     json={"message": text, "metadata": {"channel_user": "cli"}})
        except httpx.HTTPError as exc:
            raise RuntimeError(f"无法连接网关 {self.base_url}（{type(exc).__name__}）。请先运行 make run。") from exc
        body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
        if reply.status_code != 200:
            if reply.status_code == 401:
                self.session = None  # expired: the next message starts a new conversation
            raise RuntimeError((body.get("error") or {}).get("message") or f"网关返回 {reply.status_code}")
        self.session, self.sender = body.get("session") or self.session, body.get("sender") or self.sender
        messages = body.get("messages", [])
        self.buttons = [button for message in messages for button in message.get("buttons", [])]
        return messages

    def notifications(self) -> list[dict[str, Any]]:
        """Our own case updates; none before the gateway gave us a session."""
        if not self.session:
            return []
        try:
            reply = self.client.get(f"{self.base_url}/api/notifications", headers=self._auth())
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
    parser.add_argument("--session", default=None, help="继续之前的会话（网关返回的 session）")
    args = parser.parse_args(argv)
    session = ChatSession(args.url, args.session)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"已连接 {args.url}。输入消息后回车；输入按钮编号可直接选择；Ctrl-D 退出。")
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
