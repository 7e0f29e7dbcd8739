"""Typed setting values as `tlsrpt eval` and `tlsrpt resolve` print them: a frequency by its
name, a size in bytes, a time span with its unit, a boolean as true/false."""

from __future__ import annotations

from typing import Any, Final

from engine.cli.common import jsonable, show
from engine.config.settings import Frequency, ResultType, SettingSpec

#: the largest unit that divides a span exactly is the one shown (`10800` -> `3h`)
_SPAN_UNITS: Final = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def unit_of(spec: SettingSpec | None) -> str | None:
    """The unit of a setting's typed number: "bytes", "seconds" or None."""
    if spec is None:
        return None
    if spec.result is ResultType.SIZE:
        return "bytes"
    if spec.result.name == "DURATION":
        return "seconds"
    # Time spans written as integers say so in their registry description ("Seconds ...").
    if spec.result is ResultType.INTEGER and "second" in spec.description.lower():
        return "seconds"
    return None


def typed_json(spec: SettingSpec | None, value: Any) -> Any:
    """The typed value for JSON: frequencies by name, tuples as lists, booleans as booleans;
    numbers stay numbers (their unit is given apart)."""
    if isinstance(value, Frequency):
        return value.name.lower()
    if isinstance(value, tuple):
        return list(value)
    if spec is not None and spec.result is ResultType.BOOLEAN and value is not None:
        return bool(value)
    if spec is not None and spec.result.name == "DURATION" and hasattr(value, "total_seconds"):
        seconds = value.total_seconds()
        return int(seconds) if float(seconds).is_integer() else seconds
    return jsonable(value)


def typed_display(spec: SettingSpec | None, value: Any) -> str:
    """The typed value for people."""
    shown = typed_json(spec, value)
    unit = unit_of(spec)
    if value is None or isinstance(shown, bool):
        return show(shown if not isinstance(shown, bool) else str(shown).lower())
    if unit == "bytes" and isinstance(shown, int):
        return f"{shown} bytes"
    if unit == "seconds" and isinstance(shown, (int, float)):
        return span_text(shown)
    return show(shown)


def span_text(seconds: float) -> str:
    """`10800` -> `3h (10800 s)`; `90` -> `90s`... the exact unit first, then seconds."""
    if not float(seconds).is_integer() or seconds <= 0:
        return f"{seconds:g}s"
    whole = int(seconds)
    for unit, size in _SPAN_UNITS:
        if whole % size == 0:
            text = f"{whole // size}{unit}"
            return text if unit == "s" else f"{text} ({whole} s)"
    return f"{whole}s"
