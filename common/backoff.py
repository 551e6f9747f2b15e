"""One retry schedule for every loop that waits on something down (outbox, webhooks, AMI, supervisor).

Why one: each loop used to carry its own ``base * 2 ** (n - 1)`` arithmetic, some with jitter and
some without. The schedule is the same idea everywhere: double the wait after each failure up to a
ceiling, and spread the waits (half to full delay) when many waiters retry the same peer, so a
recovering backend is not hit by every queued item in the same second. Stdlib only, so both
environments (Rasa's 3.10 and the app's 3.11) use it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


def delay(attempt: int, base_s: float, ceiling_s: float, jitter: Callable[[], float] | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = after the first failure).

    ``jitter`` returns a float in [0, 1); with it the wait is drawn from half to full delay. Tests pass
    a fixed function so that schedules are deterministic.
    """
    if attempt < 1:
        return 0.0
    wait = min(ceiling_s, base_s * 2 ** (attempt - 1))
    return wait * (0.5 + 0.5 * jitter()) if jitter else wait


@dataclass
class Backoff:
    """The wait of a loop that retries one peer: ``failed()`` gives the next wait, ``succeeded()`` resets."""

    base_s: float
    ceiling_s: float
    jitter: Callable[[], float] | None = None
    failures: int = field(default=0, init=False)

    def failed(self) -> float:
        self.failures += 1
        return delay(self.failures, self.base_s, self.ceiling_s, self.jitter)

    def succeeded(self) -> None:
        self.failures = 0


def spread() -> float:
    """Default jitter source (module-level so tests can see what production uses)."""
    return random.random()
