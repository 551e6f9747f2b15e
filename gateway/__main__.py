"""Run the gateway: ``python -m gateway``."""

from __future__ import annotations

from common import settings
from common.logging import setup


def main() -> None:
    setup("gateway")
    from gateway.app import create_app

    conf = settings.section("gateway")
    app = create_app()
    app.run(host=conf["host"], port=int(conf["port"]), single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
