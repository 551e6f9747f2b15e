"""A 24/7 service survives ``kill -9``: the action server, then Rasa, then the dispatch backend die in the
middle of one resident's complaint; the supervisor behind the stack (as behind `make run`) brings each
back by itself, the others keep serving meanwhile, and the conversation goes on where it was. The
ticket confirmed while dispatch is down is stored by the outbox and arrives exactly once when dispatch
is back.

How long each service was away (kill → its own readiness check answers again) is printed and written
to ``restart_times.json`` in the test's tmp dir, for docs/measurements.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.services import Service
from ops.supervisor import READY
from tests.support import wait_until

pytestmark = pytest.mark.e2e
PLACE = "光明街道文化广场西侧"  # used by no other test, so the tickets filed here can be counted
PROBE_S = 2.0
MARGIN_S = 30.0


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def service(stack, name: str) -> Service:
    return next(s for s in stack.supervisor.services if s.name == name)


def kill_and_wait_back(stack, name: str, while_down: Callable[[], None], defer: bool = False) -> dict[str, Any]:
    """``kill -9`` one service; run ``while_down``; wait for the supervisor to report it ready again.

    ``defer``: the supervisor restarts the service only once ``while_down`` has run (and the service is
    seen to be down first), so what ``while_down`` checks happens during the outage however fast the
    restart would be. Its restart time is then counted from the end of the deferral.
    """
    supervisor = stack.supervisor
    state, pid = supervisor.status(name)
    assert state == READY and pid
    before = len(supervisor.restarts(name))
    killed_at = time.monotonic()
    with supervisor.restarts_deferred(name) if defer else contextlib.nullcontext():
        os.kill(pid, signal.SIGKILL)
        if defer:
            wait_until(lambda: not service(stack, name).ready(PROBE_S), MARGIN_S, step_s=0.05)
        while_down()
        released_at = time.monotonic() if defer else killed_at
    wait_until(lambda: supervisor.status(name)[0] == READY and supervisor.status(name)[1] != pid,
               service(stack, name).start_timeout_s + MARGIN_S)
    assert service(stack, name).ready(PROBE_S)  # its own readiness check, asked by us too
    [restart] = supervisor.restarts(name)[before:]
    assert restart.reason == "signal SIGKILL"
    return {"restart_s": round(restart.ready_at - released_at, 2),
            "detected_s": round(restart.exited_at - killed_at, 2),
            "pause_s": round(restart.started_at - max(restart.exited_at, released_at), 2),
            "start_to_ready_s": round(restart.ready_at - restart.started_at, 2)}


def others_serve(stack, down: str) -> Callable[[], None]:
    """While ``down`` is away, the processes that do not depend on it still answer."""

    def check() -> None:
        for name in ("gateway", "dispatch", "actions", "rasa"):
            if name != down:
                assert service(stack, name).ready(PROBE_S), f"{name} stopped serving while {down} was down"
        if down in ("rasa", "actions"):
            readyz = httpx.get(f"{stack.gateway}/readyz", timeout=10)
            assert readyz.status_code == 503 and readyz.json()[down] != "ready", readyz.text

    return check


def tickets_at_place(stack) -> list[dict]:
    """Every case filed at PLACE, linked duplicates included (the Open311 list has them all)."""
    cases = httpx.get(f"{stack.dispatch}/open311/v2/requests.json", timeout=10).json()
    return [c for c in cases if c.get("address") == PLACE]


def test_each_killed_service_comes_back_and_the_conversation_goes_on(stack, tmp_path: Path) -> None:
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    times: dict[str, dict[str, Any]] = {}

    reply = texts(stack.chat(sender, "路灯坏了好几天了，晚上黑乎乎的，走路很危险"))
    assert "哪里" in reply or "位置" in reply, reply

    times["actions"] = kill_and_wait_back(stack, "actions", others_serve(stack, "actions"))
    reply = texts(stack.chat(sender, PLACE))  # the form's validation runs in the restarted action server
    assert "电话" in reply, reply

    times["rasa"] = kill_and_wait_back(stack, "rasa", others_serve(stack, "rasa"))
    reply = texts(stack.chat(sender, "13812345678"))  # the tracker store kept the conversation
    assert "确认提交" in reply and PLACE in reply and "138****5678" in reply, reply

    assert tickets_at_place(stack) == []
    confirmed: dict[str, str] = {}

    def confirm_while_down() -> None:
        confirmed["reply"] = texts(stack.chat(sender, "确认"))
        others_serve(stack, "dispatch")()

    times["dispatch"] = kill_and_wait_back(stack, "dispatch", confirm_while_down, defer=True)
    provisional = re.search(r"TMP-\d{8}-[0-9A-F]+", confirmed["reply"])
    assert provisional, f"not filed while dispatch was down: {confirmed['reply']}"

    # The outbox drainer delivers it once dispatch is back; the resident's reference now finds the case.
    [case] = wait_until(lambda: tickets_at_place(stack), timeout_s=120, step_s=1)
    status = wait_until(lambda: (lambda t: t if case["service_request_id"] in t else None)(
        texts(stack.chat(sender, f"查询工单 {provisional.group(0)}"))), timeout_s=60, step_s=2)
    assert re.search(r"GB\d{8}-\d{4}", status), status
    assert "路灯" in case["description"]
    assert len(tickets_at_place(stack)) == 1  # exactly once, after the resident's look-ups too

    (tmp_path / "restart_times.json").write_text(json.dumps(times, indent=2), encoding="utf-8")
    print(f"\nrestart times (kill -9 → ready again, seconds): {json.dumps(times)}\n"
          f"written to {tmp_path / 'restart_times.json'}")
