"""A settings section read into a dataclass: conversions, missing keys and wrong types named."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from common.typed_settings import SettingsError, from_section


@dataclass(frozen=True)
class Sample:
    port: int
    ratio: float
    name: str
    enabled: bool
    window: tuple[str, ...]
    optional: int = 7


def test_values_are_converted_to_the_declared_types() -> None:
    made = from_section(Sample, {"port": 80, "ratio": 1, "name": "x", "enabled": True, "window": ["a", "b"],
                                 "unrelated": 1}, "demo", port=81)
    assert made == Sample(port=81, ratio=1.0, name="x", enabled=True, window=("a", "b"))
    assert isinstance(made.ratio, float)


@pytest.mark.parametrize(("conf", "message"), [
    ({"ratio": 1.0, "name": "x", "enabled": True, "window": []}, r"\[demo\] port: missing"),
    ({"port": "80", "ratio": 1.0, "name": "x", "enabled": True, "window": []}, "port: expected int"),
    ({"port": 1.5, "ratio": 1.0, "name": "x", "enabled": True, "window": []}, "whole number"),
    ({"port": 1, "ratio": 1.0, "name": "x", "enabled": "yes", "window": []}, "enabled: expected true or false"),
    ({"port": 1, "ratio": 1.0, "name": "x", "enabled": True, "window": "a"}, "window: expected a list"),
])
def test_a_bad_section_names_the_key(conf: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        from_section(Sample, conf, "demo")
