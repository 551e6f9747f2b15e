"""Campaign kinds: one module each, holding the kind's default script, opening and abnormal-answer rule.

Why modules and not a table in code: a new kind (vaccination reminders, say) is one new module here with a
``KIND`` object; nothing else changes. The defaults are raw dicts in the same shape an operator writes
(API, YAML), so :mod:`campaigns.validation` checks them like any operator's script.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class CampaignKind:
    name: str
    label: str  # shown to operators
    opening: str  # who is calling and why (the dialogue adds the identity check "请问是张三吗")
    closing: str
    script: tuple[dict[str, Any], ...]
    # Left on an answering machine (AMD MACHINE) before hanging up: who called and that we call again. It names the
    # caller as the opening does; a campaign's own ``machine_message`` replaces it ("" plays nothing).
    machine_message: str = ""
    abnormal: tuple[dict[str, Any], ...] = ()
    opening_required: bool = False  # a notice has no sensible default text
    accepts_empty: bool = False  # may start with no targets (call-backs arrive as cases close)
    required_target_fields: tuple[str, ...] = ("name", "phone")
    # One slot per target in all (the next daily time after it was added), not one per daily time every day:
    # a call-back or a notice is one conversation, however many days the campaign runs.
    once: bool = False
    # The dispatch service of its alert tickets; empty: ``[campaigns] alert_service_code`` (a fever goes to public
    # health, but an unsatisfied resident is a matter for whoever handled the case, not for the health office).
    alert_service: str = ""


@lru_cache(maxsize=1)
def kinds() -> dict[str, CampaignKind]:
    """Every kind module of this package, by name."""
    found: dict[str, CampaignKind] = {}
    for info in pkgutil.iter_modules(__path__):
        kind = getattr(importlib.import_module(f"{__name__}.{info.name}"), "KIND", None)
        if isinstance(kind, CampaignKind):
            found[kind.name] = kind
    return found


def get(name: str) -> CampaignKind | None:
    return kinds().get(name)
