"""Read a TOML configuration into Stalwart's flat map of dotted keys, with a source map.

Stalwart keeps its configuration as a map from flat keys (`report.tls.aggregate.send`) to texts,
ordered by the bytes of the keys (spec 12.1). This stage parses standard TOML with tomli,
flattens it the same way (array positions become four-digit levels: `route.0000.if`) and records
where every key, value and table sits in the file so that later stages can point at the exact
characters of a bad setting.

It deliberately does not copy the quirks of Stalwart's own reader (bare words, escapes inside
'...', case folding of table names, spec 12.1.3): the file must be TOML. Numbers keep their
source text (`1e3` stays `1e3`), since that text is what Stalwart would compile. Macros are
expanded by `macros.py`; nothing here looks inside values.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, replace
from typing import Any, Final

import tomli

from engine._bounded_io import MAX_CONFIG_BYTES, InputTooLarge, read_file_bounded
from engine.config._toml_positions import KeyPath, ScanError, ValuePosition, scan_positions
from engine.config.stalwart_toml import StalwartReadError, read_stalwart
from engine.errors import Diagnostic, Severity, Span

CODE_SYNTAX: Final = "E001"
CODE_UNREADABLE: Final = "E002"
CODE_DUPLICATE_KEY: Final = "E003"
CODE_DATETIME: Final = "W003"
CODE_STALWART_REFUSES: Final = "E020"
CODE_STALWART_READS_DIFFERENTLY: Final = "W020"


@dataclass(frozen=True, slots=True)
class ValueOrigin:
    """Where a flat key's value comes from in the file.

    `key_span` covers the full dotted key as written on its line (for a value inside an inline
    table, the innermost key; for an array element, the element). `value_span` covers the value
    token, quotes included. `content_offset` is the file offset of the first character of the
    decoded string when the decoded text maps one to one onto the file characters (literal
    strings, and basic strings without a backslash); None otherwise. `kind` is one of "string",
    "integer", "float", "boolean", "datetime".
    """

    file: str | None
    key_span: Span
    value_span: Span
    content_offset: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class FlatConfig:
    """A configuration file as Stalwart's flat map, with the source map of every key.

    `values` and `origins` are ordered by the bytes of the keys. `tables` maps the flat path of
    every table, array of tables, inline table and array (and of each array element that is a
    container, e.g. `route.0000`) to the span where it is defined. `diagnostics` is empty when
    the file loads; after an error (E001, E002) `values` is empty. `unreadable` is True when the
    file could not be read at all or is not UTF-8 (the E002 cases): callers treat that as a
    usage problem (wrong path), not as a configuration to fix.
    """

    text: str
    file: str | None
    values: dict[str, str]
    origins: dict[str, ValueOrigin]
    tables: dict[str, Span]
    diagnostics: tuple[Diagnostic, ...]
    unreadable: bool = False


def load_toml(text: str, file: str | None = None) -> FlatConfig:
    """Parse TOML `text` and flatten it; `file` is only recorded for diagnostics.

    Never raises for bad input: a syntax error becomes one E001 diagnostic and an empty map.

    >>> load_toml('[report]\\nsend = "daily"\\nports = [25, 0x1F]\\n').values
    {'report.ports.0000': '25', 'report.ports.0001': '0x1F', 'report.send': 'daily'}
    """
    try:
        document = tomli.loads(text)
    except tomli.TOMLDecodeError as error:
        pos = _original_offset(text, error.pos)
        return _failed(text, file, CODE_SYNTAX, error.msg, Span.in_text(text, pos, pos + 1))
    except RecursionError:
        # tomli gives up on values nested hundreds of levels deep, without a position.
        return _failed(text, file, CODE_SYNTAX, "TOML values are nested too deeply", None)
    try:
        positions = scan_positions(text)
    except ScanError as error:
        # Only nesting deeper than the scanner's limit gets here: tomli accepted the text.
        span = Span.in_text(text, error.pos, error.pos + 1)
        return _failed(text, file, CODE_SYNTAX, error.message, span)
    return _flatten(text, file, document, positions.values, positions.tables)


def load_stalwart_toml(text: str, file: str | None = None) -> FlatConfig:
    """Like `load_toml`, but with the keys and texts Stalwart's own reader gets (spec 12.1).

    When standard TOML reads the same flat map, that reading (with its exact source map) is
    returned. Otherwise the map is Stalwart's, with one W020 diagnostic at the first key read
    differently; value spans cover the value as written and no content offsets are given.
    When Stalwart's reader refuses the file, the result is one E020 diagnostic and an empty
    map, as Stalwart starts with nothing from it.
    """
    try:
        reading = read_stalwart(text)
    except StalwartReadError as error:
        span = Span.in_text(text, error.pos, error.pos + 1)
        return _failed(text, file, CODE_STALWART_REFUSES,
                       f"Stalwart's reader refuses the file: {error.message}", span)
    standard = load_toml(text, file)
    if not standard.diagnostics and standard.values == dict(
            sorted(reading.values.items(), key=lambda item: item[0].encode())):
        return standard
    values: dict[str, str] = {}
    origins: dict[str, ValueOrigin] = {}
    diagnostics: list[Diagnostic] = []
    for entry in reading.entries:
        span = Span.in_text(text, entry.start, entry.end)
        values[entry.key] = entry.value
        origins[entry.key] = ValueOrigin(file, span, span, None, "string")
        if not diagnostics and standard.values.get(entry.key) != entry.value:
            seen = standard.values.get(entry.key)
            other = "refuses the file" if standard.diagnostics else (
                "has no such key" if seen is None else f"reads {seen!r}")
            diagnostics.append(Diagnostic(
                CODE_STALWART_READS_DIFFERENTLY, Severity.WARNING,
                f"Stalwart's reader gives `{entry.key}` the text {entry.value!r}; standard "
                f"TOML {other}", span=span, file=file, key=entry.key,
                help="write it so that both readers agree (see docs/configuration.md)"))
    order = sorted(values, key=str.encode)
    return FlatConfig(text, file, {key: values[key] for key in order},
                      {key: origins[key] for key in order}, {}, tuple(diagnostics))


def read_config_file(path: str | os.PathLike[str], *, stalwart: bool = False) -> FlatConfig:
    """Read a UTF-8 file of at most MAX_CONFIG_BYTES and load it with `load_toml`.

    An unreadable file or invalid UTF-8 becomes one E002 diagnostic, never an exception; for
    invalid UTF-8 the text is decoded with replacement characters and the span points at the
    first bad byte.
    """
    file = os.fspath(path)
    try:
        data = read_file_bounded(file, MAX_CONFIG_BYTES, "configuration file")
    except InputTooLarge as error:
        return _unreadable("", file, f"cannot read configuration file: {error}", None)
    except OSError as error:
        message = f"cannot read configuration file: {error.strerror or error}"
        return _unreadable("", file, message, None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        pos = len(data[: error.start].decode("utf-8"))
        message = f"configuration file is not valid UTF-8 (byte 0x{data[error.start]:02x})"
        return _unreadable(text, file, message, Span.in_text(text, pos, pos + 1))
    return load_stalwart_toml(text, file) if stalwart else load_toml(text, file)


def flat_key(path: KeyPath) -> str:
    """Join a key path the way Stalwart does: array positions as four-digit levels."""
    return ".".join(part if isinstance(part, str) else f"{part:04d}" for part in path)


def _failed(text: str, file: str | None, code: str, message: str, span: Span | None) -> FlatConfig:
    diagnostic = Diagnostic(code, Severity.ERROR, message, span=span, file=file)
    return FlatConfig(text, file, {}, {}, {}, (diagnostic,))


def _unreadable(text: str, file: str, message: str, span: Span | None) -> FlatConfig:
    return replace(_failed(text, file, CODE_UNREADABLE, message, span), unreadable=True)


def _original_offset(text: str, pos: int) -> int:
    """Map an offset in tomli's view of `text` (CRLF turned into LF) back to `text`."""
    shift = 0
    start = text.find("\r\n")
    while start >= 0 and start - shift < pos:
        shift += 1
        start = text.find("\r\n", start + 2)
    return pos + shift


def _flatten(
    text: str,
    file: str | None,
    document: dict[str, Any],
    positions: dict[KeyPath, ValuePosition],
    table_positions: dict[KeyPath, Span],
) -> FlatConfig:
    values: dict[str, str] = {}
    origins: dict[str, ValueOrigin] = {}
    diagnostics: list[Diagnostic] = []
    for path, position in positions.items():
        key = flat_key(path)
        value = _lookup(document, path)
        kind = _kind(value)
        token = text[position.value_span.start : position.value_span.end]
        if key in values:
            # Only quoted dots can do this: `"a.b" = 1` and `a.b = 2` flatten to one key.
            diagnostics.append(_duplicate(file, key, position))
            continue
        values[key] = _value_text(value, kind, token)
        origins[key] = ValueOrigin(
            file, position.key_span, position.value_span, position.content_offset, kind
        )
        if kind == "datetime":
            diagnostics.append(_datetime_warning(file, key, position))
    order = sorted(values, key=str.encode)
    tables = {flat_key(path): span for path, span in table_positions.items()}
    return FlatConfig(
        text,
        file,
        {key: values[key] for key in order},
        {key: origins[key] for key in order},
        {key: tables[key] for key in sorted(tables, key=str.encode)},
        tuple(diagnostics),
    )


def _lookup(document: dict[str, Any], path: KeyPath) -> Any:
    node: Any = document
    for part in path:
        node = node[part]
    return node


def _kind(value: object) -> str:
    # bool before int: True is an int in Python.
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, (datetime.date, datetime.time)):
        return "datetime"
    raise TypeError(f"not a TOML scalar: {value!r}")


def _value_text(value: object, kind: str, token: str) -> str:
    if kind == "string":
        assert isinstance(value, str)
        return value
    if kind == "boolean":
        return "true" if value else "false"
    # Numbers and dates keep their source text: that text is the expression Stalwart compiles.
    return token


def _duplicate(file: str | None, key: str, position: ValuePosition) -> Diagnostic:
    return Diagnostic(
        CODE_DUPLICATE_KEY,
        Severity.ERROR,
        f'duplicate key "{key}": two TOML keys flatten to the same dotted key',
        span=position.key_span,
        file=file,
        key=key,
        help="a quoted key part containing dots names the same setting as the dotted key",
    )


def _datetime_warning(file: str | None, key: str, position: ValuePosition) -> Diagnostic:
    return Diagnostic(
        CODE_DATETIME,
        Severity.WARNING,
        "TOML dates and times are not expression values; the text is kept as written",
        span=position.value_span,
        file=file,
        key=key,
        help="quote it if a text is meant",
    )
