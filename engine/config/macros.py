"""Expand the macros of a flat configuration: `%{env:NAME}%`, `%{file:PATH}%`, `%{cfg:KEY}%`.

Follows Stalwart (spec 12.2): one pass per class, `env` then `file` then `cfg`; each pass visits
the keys in key order and replaces every occurrence left to right. Substituted text is never
scanned again, and a `cfg` macro sees the same-pass expansion of earlier keys only. Failures are
diagnostics, never exceptions; loading goes on, as in Stalwart.

To point a diagnostic at the macro's characters in the file, every value carries a map from its
current text back to file offsets, kept up to date through the passes. Only characters copied
from the file map back; substituted text does not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from engine.config.load import FlatConfig
from engine.errors import Diagnostic, Severity, Span

# A macro must not load arbitrary large files into memory: configuration secrets and snippets
# are small, and a typo pointing at a log or a device file should fail fast instead.
MAX_MACRO_FILE_BYTES: Final = 1 << 20

CODE_MISSING_ENV: Final = "E010"
CODE_BAD_FILE: Final = "E011"
CODE_UNKNOWN_CFG: Final = "E012"
CODE_UNTERMINATED: Final = "E013"

_PASSES: Final = ("env", "file", "cfg")
_MACRO_END: Final = "}%"


@dataclass(frozen=True, slots=True)
class Expanded:
    """The flat values after macro expansion.

    `changed` holds the keys whose text a macro changed: their origin's `content_offset` no
    longer maps one to one onto the text.
    """

    values: dict[str, str]
    changed: frozenset[str]
    diagnostics: tuple[Diagnostic, ...]


def expand_macros(
    flat: FlatConfig,
    environ: Mapping[str, str] | None = None,
    base_dir: str | None = None,
) -> Expanded:
    """Expand every macro of `flat.values`, in Stalwart's order.

    `environ` defaults to `os.environ`; relative `%{file:...}%` paths are relative to
    `base_dir` (the configuration file's folder) when given, else to the working directory.
    """
    expander = _Expander(flat, os.environ if environ is None else environ, base_dir)
    for macro_class in _PASSES:
        expander.run_pass(macro_class)
    return Expanded(
        dict(expander.values), frozenset(expander.changed), tuple(expander.diagnostics)
    )


@dataclass(frozen=True, slots=True)
class _Run:
    """`text[start:end]` of the current value was copied from the file at `origin`."""

    start: int
    end: int
    origin: int


@dataclass(frozen=True, slots=True)
class _Macro:
    start: int  # offset of "%{" in the value
    end: int  # offset just after "}%"
    argument: str


class _Failed(Exception):
    """A `file` macro failed: the whole value stays unexpanded (spec 12.2)."""


class _TooLarge(Exception):
    """A `file` macro names a file over MAX_MACRO_FILE_BYTES."""


class _Builder:
    """Builds the expanded text of one value and the file offsets of its copied characters."""

    def __init__(self, source: str, source_runs: list[_Run]) -> None:
        self.source = source
        self.source_runs = source_runs
        self.pieces: list[str] = []
        self.length = 0
        self.read = 0  # how much of `source` has been consumed
        self.runs: list[_Run] = []

    def copy_until(self, end: int) -> None:
        """Copy `source[read:end]`, carrying its file offsets along."""
        start = self.read
        for run in self.source_runs:
            low, high = max(start, run.start), min(end, run.end)
            if low < high:
                shift = self.length - start
                self.runs.append(_Run(low + shift, high + shift, run.origin + low - run.start))
        self._append(self.source[start:end])
        self.read = end

    def insert(self, text: str, resume_at: int) -> None:
        """Append substituted text (it maps to no file characters) and skip to `resume_at`."""
        self._append(text)
        self.read = resume_at

    def text(self) -> str:
        return "".join(self.pieces)

    def _append(self, text: str) -> None:
        self.pieces.append(text)
        self.length += len(text)


class _Expander:
    def __init__(self, flat: FlatConfig, environ: Mapping[str, str], base_dir: str | None) -> None:
        self.flat = flat
        self.environ = environ
        self.base_dir = base_dir
        self.values = dict(flat.values)
        self.changed: set[str] = set()
        self.diagnostics: list[Diagnostic] = []
        self.runs: dict[str, list[_Run]] = {}
        for key, value in flat.values.items():
            offset = flat.origins[key].content_offset
            self.runs[key] = [] if offset is None else [_Run(0, len(value), offset)]

    def run_pass(self, macro_class: str) -> None:
        resolve = {"env": self.resolve_env, "file": self.resolve_file, "cfg": self.resolve_cfg}
        for key in self.values:  # updating a value in place keeps the dict's order
            self.expand_value(key, macro_class, resolve[macro_class])

    def expand_value(
        self, key: str, macro_class: str, resolve: Callable[[str, _Macro], str]
    ) -> None:
        value = self.values[key]
        opener = f"%{{{macro_class}:"
        # Stalwart leaves a value without any "}%" alone, whatever it holds.
        if opener not in value or _MACRO_END not in value:
            return
        macros = self.find_macros(key, value, opener)
        if not macros:
            return
        builder = _Builder(value, self.runs[key])
        try:
            for macro in macros:
                builder.copy_until(macro.start)
                builder.insert(resolve(key, macro), macro.end)
        except _Failed:
            return
        builder.copy_until(len(value))
        self.values[key] = builder.text()
        self.runs[key] = builder.runs
        self.changed.add(key)

    def find_macros(self, key: str, value: str, opener: str) -> list[_Macro]:
        """The macros of one class in `value`, left to right; [] after reporting E013."""
        macros: list[_Macro] = []
        start = value.find(opener)
        while start >= 0:
            close = value.find(_MACRO_END, start + len(opener))
            if close < 0:
                # Stalwart loops forever here; report it and leave the value as it is.
                message = f'macro "{opener}" has no closing "}}%"'
                self.report(key, CODE_UNTERMINATED, start, len(value), message,
                            help='end the macro with "}%"')
                return []
            end = close + len(_MACRO_END)
            macros.append(_Macro(start, end, value[start + len(opener) : close]))
            start = value.find(opener, end)
        return macros

    # -- the three classes -------------------------------------------------------------------

    def resolve_env(self, key: str, macro: _Macro) -> str:
        value = self.environ.get(macro.argument)
        if value is None:
            self.report(key, CODE_MISSING_ENV, macro.start, macro.end,
                        f'environment variable "{macro.argument}" is not set')
            return ""
        return value

    def resolve_file(self, key: str, macro: _Macro) -> str:
        path = macro.argument.removeprefix("//")
        if self.base_dir is not None:
            path = os.path.join(self.base_dir, path)  # an absolute `path` wins over base_dir
        try:
            return _read_macro_file(path)
        except (OSError, UnicodeDecodeError, _TooLarge) as error:
            self.report(key, CODE_BAD_FILE, macro.start, macro.end,
                        f'cannot read "{path}" for a file macro: {_reason(error)}',
                        notes=("the whole value is left unexpanded",))
            raise _Failed from error

    def resolve_cfg(self, key: str, macro: _Macro) -> str:
        value = self.values.get(macro.argument)
        if value is None:
            self.report(key, CODE_UNKNOWN_CFG, macro.start, macro.end,
                        f'unknown configuration key "{macro.argument}" in a cfg macro')
            return ""
        return value

    # -- diagnostics -------------------------------------------------------------------------

    def report(self, key: str, code: str, start: int, end: int, message: str,
               help: str | None = None, notes: tuple[str, ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(
            code, Severity.ERROR, message, span=self.file_span(key, start, end),
            file=self.flat.file, key=key, help=help, notes=notes,
        ))

    def file_span(self, key: str, start: int, end: int) -> Span:
        """The file characters of `value[start:end]` when its first and last characters were
        copied from the file, else the whole value token (an escape, or inserted text)."""
        first = self._file_offset(key, start)
        last = self._file_offset(key, end - 1)
        if first is not None and last is not None and first <= last:
            return Span.in_text(self.flat.text, first, last + 1)
        return self.flat.origins[key].value_span

    def _file_offset(self, key: str, index: int) -> int | None:
        for run in self.runs[key]:
            if run.start <= index < run.end:
                return run.origin + index - run.start
        return None


def _read_macro_file(path: str) -> str:
    with open(path, "rb") as stream:
        data = stream.read(MAX_MACRO_FILE_BYTES + 1)
    if len(data) > MAX_MACRO_FILE_BYTES:
        raise _TooLarge(f"larger than {MAX_MACRO_FILE_BYTES} bytes")
    return data.decode("utf-8")


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not valid UTF-8"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)
