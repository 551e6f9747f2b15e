"""Ticket backends, one module per kind of command-centre system (see :mod:`dispatch.backends.base`).

``[dispatch] backend`` names the module: ``open311`` (the default: our embedded server or any GeoReport v2
server) is ``dispatch.backends.open311``; a dotted name (``mycity.tickets``) is imported as is. A module
provides ``from_settings(conf) -> TicketBackend`` and may provide ``reference_syntax(conf) -> (pattern,
format)`` so that ticket numbers can be recognised without building the backend (the actions parse every
message). Nothing is imported at package load, so the Rasa environment pays only for the backend it uses.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from dispatch.backends.base import TicketBackend

DEFAULT = "open311"


def _module(conf: Mapping[str, Any]) -> ModuleType:
    name = str(conf.get("backend") or DEFAULT)
    return importlib.import_module(name if "." in name else f"dispatch.backends.{name}")


def from_settings(conf: Mapping[str, Any]) -> TicketBackend:
    """The backend ``[dispatch] backend`` names, built from the ``[dispatch]`` settings."""
    return _module(conf).from_settings(conf)


def reference_syntax(conf: Mapping[str, Any]) -> tuple[re.Pattern[str], str]:
    """(reference_pattern, reference_format) of the configured backend's ticket numbers."""
    module = _module(conf)
    if hasattr(module, "reference_syntax"):
        return module.reference_syntax(conf)
    backend = module.from_settings(conf)
    return backend.reference_pattern, backend.reference_format


def adapt(backend_or_client: Any, conf: Mapping[str, Any]) -> TicketBackend:
    """A backend from a backend, or from a bare Open311 client (what callers passed before backends existed)."""
    from dispatch.open311_client import Open311Client

    if isinstance(backend_or_client, Open311Client):
        from dispatch.backends.open311 import Open311Backend

        return Open311Backend(backend_or_client, conf)
    return backend_or_client
