"""``python -m dispatch``: run the embedded Open311 server on [dispatch] host:port."""

from __future__ import annotations

from common import settings
from common.logging import setup


def main() -> None:
    setup("dispatch")
    from dispatch.server import create_app

    conf = settings.section("dispatch")
    app = create_app(conf, name="dispatch")
    app.run(host=conf["host"], port=int(conf["port"]), single_process=True, access_log=False,
            motd=False)


if __name__ == "__main__":
    main()
