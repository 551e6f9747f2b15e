"""The Rasa server and the action server, both in the Rasa environment (CPython 3.10).

Rasa loads its model for about a minute on two cores and holds ~1.5 GB, so it runs long-lived
and the gateway reports readiness instead of making callers wait.
"""

from __future__ import annotations

from common import settings
from common.services import RASA_PYTHON, Service

RASA_ENV = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}


def services() -> list[Service]:
    from ops import model

    actions, rasa = settings.section("actions"), settings.section("rasa")
    endpoints = model.write_endpoints()
    token = model.rasa_token()
    return [
        Service(
            name="actions",
            argv=[str(RASA_PYTHON), "-m", "rasa_sdk", "--actions", "assistant.actions",
                  "--port", str(actions["port"])],
            url=f"http://{actions['host']}:{actions['port']}",
            ready_url=f"http://{actions['host']}:{actions['port']}/health",
            env={**RASA_ENV, "SANIC_HOST": actions["host"]},
        ),
        Service(
            name="rasa",
            argv=[str(RASA_PYTHON), "-m", "rasa", "run", "-i", rasa["host"], "-p", str(rasa["port"]),
                  "--model", str(model.current_model()), "--endpoints", str(endpoints),
                  "--credentials", str(model.ROOT / "assistant" / "credentials.yml"),
                  "--enable-api", f"--auth-token={token}",  # "=" form: a token may start with "-"
                  "--logging-config-file", str(model.ROOT / "ops" / "rasa_logging.yml")],
            url=f"http://{rasa['host']}:{rasa['port']}",
            ready_url=f"http://{rasa['host']}:{rasa['port']}/status?token={token}",
            env=RASA_ENV,
            start_timeout_s=float(rasa.get("start_timeout_s", 300)),
        ),
    ]
