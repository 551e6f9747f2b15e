"""Run the gateway: ``python -m gateway``; manage trusted clients: ``python -m gateway clients …``."""

from __future__ import annotations

import sys

from common import settings
from common.logging import setup


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["clients"]:
        from gateway.clients import main as clients_main

        return clients_main(argv[1:])
    setup("gateway")
    from gateway.app import create_app

    conf = settings.section("gateway")
    app = create_app()
    app.run(host=conf["host"], port=int(conf["port"]), single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
