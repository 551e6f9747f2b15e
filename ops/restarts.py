"""When to restart a service that exited, and when to give up: the supervisor's restart policy.

Why a window instead of a retry counter: a counter that resets once a process is "up" (supervisord's
``startretries`` only counts deaths within ``startsecs``) restarts forever a service that loads, serves
for a minute and dies again. Counting every exit within ``crash_loop_window_s`` catches that loop as
well as a fast one, and the pause before each restart grows with the same count (common.backoff),
so a service that crashes once a day is back after the base pause every time.
"""

from __future__ import annotations

import signal
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from common import backoff


def describe_exit(returncode: int | None) -> str:
    """``exit code 3`` or ``signal SIGKILL`` (Popen gives a signal as a negative return code)."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


@dataclass(frozen=True)
class RestartPolicy:
    backoff_base_s: float
    backoff_max_s: float
    max_restarts: int
    window_s: float

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> RestartPolicy:
        """From the ``[supervisor]`` section."""
        return cls(backoff_base_s=float(conf["restart_backoff_base_s"]),
                   backoff_max_s=float(conf["restart_backoff_max_s"]),
                   max_restarts=int(conf["crash_loop_restarts"]), window_s=float(conf["crash_loop_window_s"]))


@dataclass
class RestartHistory:
    """The recent exits of one service under one policy."""

    policy: RestartPolicy
    exits: deque[float] = field(default_factory=deque)

    def failed(self, now: float) -> float | None:
        """Record an exit at ``now`` (monotonic seconds): the pause before the restart, or None for a crash loop."""
        self.exits.append(now)
        while self.exits and now - self.exits[0] > self.policy.window_s:
            self.exits.popleft()
        if len(self.exits) > self.policy.max_restarts:
            return None
        return backoff.delay(len(self.exits), self.policy.backoff_base_s, self.policy.backoff_max_s)

    @property
    def recent(self) -> int:
        return len(self.exits)
