"""Trusted clients: services allowed to vouch for who a resident is, each with its own generated secret.

A trusted client (the voice bot, which has Asterisk's caller id; a mini-program that verified a phone
number) sends ``Authorization: Bearer <its secret>``; the gateway then lets it set ``metadata.phone`` /
``metadata.channel`` and choose sender ids, which are namespaced ``<client>:<sender>`` so no client can
step into a web resident's (``resident:…``) or another client's conversation.

Why one file per client under the data dir (``[security] client_secret_dir``): adding a client is creating
a file (``python -m gateway clients add NAME``), revoking it is deleting that file, and the gateway sees
either on the next request without a restart. The clients in ``[security] clients`` always exist.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from common import settings
from common.web import client_secret, client_secret_path, same_secret
from gateway.sessions import RESIDENT_NAMESPACE

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class InvalidClientName(ValueError):
    pass


def check_name(name: str) -> str:
    if not NAME.match(name) or name == RESIDENT_NAMESPACE:
        raise InvalidClientName(
            f"客户端名须为小写字母开头的 1–32 个字母、数字、_ 或 -，且不能是 {RESIDENT_NAMESPACE!r}: {name!r}")
    return name


class ClientRegistry:
    """The secrets in one folder, re-read when a file in it changes (a client added, rotated or revoked).

    Each look-up lists the folder and stats its few files (microseconds); a secret is read again only
    when its file's size or modification time moved.
    """

    def __init__(self, folder: Path, always: list[str] | tuple[str, ...] = ()) -> None:
        self.folder = folder
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._secrets: dict[str, str] = {}
        for name in always:
            add(check_name(name), folder)

    @classmethod
    def from_settings(cls) -> ClientRegistry:
        conf = settings.section("security")
        return cls(settings.resolve_path(conf["client_secret_dir"]), list(conf.get("clients") or []))

    def _load(self) -> dict[str, str]:
        try:
            stats = [(e.name, e.stat()) for e in os.scandir(self.folder) if NAME.match(e.name) and e.is_file()]
            stamp = tuple(sorted((name, st.st_mtime_ns, st.st_size) for name, st in stats))
        except FileNotFoundError:  # the folder, or a file revoked while we looked
            return {}
        if stamp != self._seen:
            found: dict[str, str] = {}
            for name, _mtime, _size in stamp:
                try:
                    value = (self.folder / name).read_text(encoding="utf-8").strip()
                except FileNotFoundError:
                    continue
                if value:
                    found[name] = value
            self._secrets, self._seen = found, stamp
        return self._secrets

    def client_for(self, token: str) -> str | None:
        """The name of the client whose secret this is, or None. Every secret is compared in constant time."""
        match = None
        for name, secret in self._load().items():
            if same_secret(token, secret):
                match = name
        return match

    def names(self) -> list[str]:
        return sorted(self._load())


def add(name: str, folder: Path | None = None) -> str:
    """The client's secret, created (mode 600) when it has none."""
    check_name(name)
    if folder is None:
        return client_secret(name)
    return settings.read_or_create_secret(str(folder / name))


def remove(name: str) -> bool:
    path = client_secret_path(check_name(name))
    if not path.exists():
        return False
    os.unlink(path)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway clients list | add NAME | remove NAME``: the operators' way to manage clients."""
    parser = argparse.ArgumentParser(prog="python -m gateway clients", description="管理受信任的客户端（平台凭据）")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="列出客户端")
    for command, text in (("add", "新建客户端并打印其密钥（已存在则打印现有密钥）"), ("remove", "吊销客户端")):
        sub.add_parser(command, help=text).add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(ClientRegistry.from_settings().names()))
        elif args.command == "add":
            print(add(args.name))
        elif not remove(args.name):
            print(f"没有客户端 {args.name}", file=sys.stderr)
            return 1
    except InvalidClientName as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
