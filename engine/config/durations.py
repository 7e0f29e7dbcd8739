"""Time spans in settings: Stalwart's duration syntax, read as whole seconds.

The engine's time-span settings (`delay`, `retry-max-age`, `https-timeout`...) count in
seconds, and a bare number means seconds. Stalwart's duration words (`3h`, `1d`, `90m`,
spec/expressions.md 2.4) evaluate to milliseconds inside an expression, so a duration setting
rewrites each duration word of its expression to seconds when it is compiled: `delay = "3h"` is
three hours, not 10,800,000 seconds. A text in the duration syntax (`delay = "'3h'"`) is read
the same way when the value is converted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from engine.expr import ast
from engine.expr.syntax import duration_value
from engine.expr.values import Value, integer_view

MILLISECONDS_PER_SECOND: Final = 1000


def _ceil_seconds(milliseconds: int) -> int:
    # A sub-second span becomes one second rather than none (lint says so: W414).
    return -(-milliseconds // MILLISECONDS_PER_SECOND)


def is_duration_word(node: ast.Node) -> bool:
    """A literal the author wrote as a duration word (`3h`), not as a bare number."""
    return (isinstance(node, ast.Literal) and node.name is not None
            and duration_value(node.name) is not None)


def in_seconds(node: ast.Node) -> ast.Node:
    """`node` with every duration word's value turned from milliseconds into seconds."""
    if isinstance(node, ast.Literal):
        if is_duration_word(node) and isinstance(node.value, int):
            return dataclasses.replace(node, value=_ceil_seconds(node.value))
        return node
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(node):
        part = getattr(node, field.name)
        if isinstance(part, tuple) and part and all(_is_node(item) for item in part):
            changes[field.name] = tuple(in_seconds(item) for item in part)
        elif _is_node(part):
            changes[field.name] = in_seconds(part)
    return dataclasses.replace(node, **changes) if changes else node


def _is_node(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type) \
        and hasattr(value, "span") and type(value).__module__ == ast.__name__


def seconds_of(value: Value) -> int | None:
    """The whole seconds a converted value means: a number is seconds (a float is truncated),
    a text is a number of seconds or a duration word (`'3h'`); None when it is neither."""
    if isinstance(value, str):
        text = value.strip()
        milliseconds = duration_value(text) if text and not text.isdigit() else None
        if milliseconds is not None:
            return _ceil_seconds(milliseconds) if milliseconds > 0 else None
    if isinstance(value, list) or value == "":
        return None
    return integer_view(value)
