"""A settings section read into a frozen dataclass, each value converted to the type its field declares.

Why a helper: every package that wants "every tunable named once, a missing key fails at start-up" wrote its
own ``from_settings`` with one ``int(conf["x"])`` line per field (``dispatch.server.config`` is such a copy).
Declaring the fields is enough: this reads them by name from the section, converts ``int``/``float``/``str``/
``bool``/``tuple[str, ...]`` values, and says which key is missing or of the wrong type. Stdlib only (both
environments import ``common``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")
SCALARS: dict[Any, type] = {int: int, float: float, str: str}


class SettingsError(ValueError):
    """A key of a settings section is missing or cannot be read as its field's type."""


def from_section(cls: type[T], conf: Mapping[str, Any], section: str, **overrides: Any) -> T:
    """``cls`` built from ``conf`` (one settings section, named ``section`` in errors) plus ``overrides``.

    Keys of ``conf`` that ``cls`` does not declare are ignored (a section may hold settings of several
    objects); a field with a default may be absent.
    """
    values = {**conf, **overrides}
    hints = typing.get_type_hints(cls)
    built: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if item.name not in values:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise SettingsError(f"[{section}] {item.name}: missing")
            continue
        built[item.name] = convert(hints[item.name], values[item.name], f"[{section}] {item.name}")
    return cls(**built)


def convert(hint: Any, value: Any, where: str) -> Any:
    """``value`` as ``hint`` (int, float, str, bool, tuple[X, ...]); SettingsError when it is not one."""
    if hint is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in SCALARS:
        if isinstance(value, bool) or (hint is not str and not isinstance(value, (int, float))):
            raise SettingsError(f"{where}: expected {hint.__name__}, got {value!r}")
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise SettingsError(f"{where}: expected a whole number, got {value!r}")
        return SCALARS[hint](value)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise SettingsError(f"{where}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(convert(inner, element, where) for element in value)
    return value
