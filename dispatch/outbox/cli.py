"""``python -m dispatch.outbox drain [--once]`` (the "outbox" service) and ``status REFERENCE``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from dataclasses import asdict


def main(argv: list[str] | None = None) -> int:
    from common.logging import setup
    from dispatch.outbox import Outbox

    parser = argparse.ArgumentParser(prog="python -m dispatch.outbox", description="工单发件箱：补发、查询")
    sub = parser.add_subparsers(dest="command", required=True)
    drain = sub.add_parser("drain", help="send queued tickets (forever, or --once)")
    drain.add_argument("--once", action="store_true", help="one pass, then exit")
    status = sub.add_parser("status", help="show one ticket")
    status.add_argument("reference")
    args = parser.parse_args(argv)
    setup("outbox")
    outbox = Outbox.from_settings()
    if args.command == "status":
        print(json.dumps(outbox.status(args.reference), ensure_ascii=False, indent=2))
        return 0
    if args.once:
        print(json.dumps(asdict(outbox.drain()), ensure_ascii=False))
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    outbox.run_forever(stop)
    return 0
