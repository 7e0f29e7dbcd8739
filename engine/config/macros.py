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

import bisect
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from engine._bounded_io import InputTooLarge, read_file_bounded
from engine.config.load import FlatConfig
from engine.errors import Diagnostic, Severity, Span

# A macro must not load arbitrary large files into memory: configuration secrets and snippets
# are small, and a typo pointing at a log or a device file should fail fast instead.
MAX_MACRO_FILE_BYTES: Final = 1 << 20

#: Longest value a macro expansion may produce, in characters. Chains of `%{cfg:}%` double a
#: value at every link (twenty links of two macros each: a million-fold), so the bound is
#: checked before each substitution is appended; a value over it stays unexpanded.
MAX_EXPANDED_VALUE_CHARS: Final = 1 << 20

#: Most characters all macros of one configuration may substitute in total: 10^5 macros of a
#: large environment variable, or a file that includes itself many times, stop here (E014)
#: instead of growing to gigabytes. Far above any real configuration's secrets and snippets.
MAX_EXPANDED_TOTAL_CHARS: Final = 16 << 20

CODE_MISSING_ENV: Final = "E010"
CODE_BAD_FILE: Final = "E011"
CODE_UNKNOWN_CFG: Final = "E012"
CODE_UNTERMINATED: Final = "E013"
CODE_TOO_LARGE: Final = "E014"
CODE_READABLE_SECRET: Final = "W015"

#: A file macro in a key whose last part holds one of these words carries a secret: a file
#: that other users can read is worth a warning (W015).
_SECRET_WORDS: Final = ("private-key", "password", "secret", "key")

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


class _OverBudget(Exception):
    """An expansion would pass MAX_EXPANDED_VALUE_CHARS or MAX_EXPANDED_TOTAL_CHARS."""


class _Builder:
    """Builds the expanded text of one value and the file offsets of its copied characters."""

    def __init__(self, source: str, source_runs: list[_Run]) -> None:
        self.source = source
        self.source_runs = source_runs
        self.pieces: list[str] = []
        self.length = 0
        self.read = 0  # how much of `source` has been consumed
        self.runs: list[_Run] = []
        self.next_run = 0  # runs before this index end before `read`: never visited again

    def copy_until(self, end: int) -> None:
        """Copy `source[read:end]`, carrying its file offsets along.

        The runs are in text order and `read` only grows, so each run is visited a bounded
        number of times: linear in the value, however many macros it holds."""
        start = self.read
        runs = self.source_runs
        while self.next_run < len(runs) and runs[self.next_run].end <= start:
            self.next_run += 1
        index = self.next_run
        while index < len(runs) and runs[index].start < end:
            run = runs[index]
            low, high = max(start, run.start), min(end, run.end)
            if low < high:
                shift = self.length - start
                self.runs.append(_Run(low + shift, high + shift, run.origin + low - run.start))
            index += 1
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
        self.substituted = 0  # characters inserted by every macro so far
        self.budget_reported = False
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
        substituted = 0
        try:
            for macro in macros:
                if self.substituted + substituted > MAX_EXPANDED_TOTAL_CHARS:
                    raise _OverBudget
                builder.copy_until(macro.start)
                replacement = resolve(key, macro)
                substituted += len(replacement)
                if builder.length + len(replacement) + len(value) - macro.end \
                        > MAX_EXPANDED_VALUE_CHARS:
                    self.report(key, CODE_TOO_LARGE, macro.start, macro.end,
                                f"macro expansion makes the value longer than "
                                f"{MAX_EXPANDED_VALUE_CHARS} characters",
                                notes=("the whole value is left unexpanded",))
                    return
                builder.insert(replacement, macro.end)
            if self.substituted + substituted > MAX_EXPANDED_TOTAL_CHARS:
                raise _OverBudget
        except _Failed:
            return
        except _OverBudget:
            if not self.budget_reported:
                self.budget_reported = True
                self.report(key, CODE_TOO_LARGE, macros[0].start, macros[0].end,
                            f"macros substitute more than {MAX_EXPANDED_TOTAL_CHARS} characters "
                            "in this configuration",
                            notes=("this value and every later value holding a macro are left "
                                   "unexpanded",))
            return
        self.substituted += substituted
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
            text, mode = _read_macro_file(path)
        except (OSError, UnicodeDecodeError, InputTooLarge) as error:
            self.report(key, CODE_BAD_FILE, macro.start, macro.end,
                        f'cannot read "{path}" for a file macro: {_reason(error)}',
                        notes=("the whole value is left unexpanded",))
            raise _Failed from error
        if mode & stat.S_IROTH and _holds_secret(key):
            self.report(key, CODE_READABLE_SECRET, macro.start, macro.end,
                        f'"{path}" holds a secret but every user can read it',
                        help=f"chmod o-r {path}", severity=Severity.WARNING)
        return text

    def resolve_cfg(self, key: str, macro: _Macro) -> str:
        value = self.values.get(macro.argument)
        if value is None:
            self.report(key, CODE_UNKNOWN_CFG, macro.start, macro.end,
                        f'unknown configuration key "{macro.argument}" in a cfg macro')
            return ""
        return value

    # -- diagnostics -------------------------------------------------------------------------

    def report(self, key: str, code: str, start: int, end: int, message: str,
               help: str | None = None, notes: tuple[str, ...] = (),
               severity: Severity = Severity.ERROR) -> None:
        self.diagnostics.append(Diagnostic(
            code, severity, message, span=self.file_span(key, start, end),
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
        # runs are in text order and do not overlap: a binary search keeps thousands of
        # diagnostics in one value from costing runs x diagnostics
        runs = self.runs[key]
        found = bisect.bisect_right(runs, index, key=lambda run: run.start) - 1
        if found >= 0 and runs[found].start <= index < runs[found].end:
            return runs[found].origin + index - runs[found].start
        return None


def _read_macro_file(path: str) -> tuple[str, int]:
    """The text of a regular file of at most MAX_MACRO_FILE_BYTES, and its mode bits.

    FIFOs and devices are refused without reading: a FIFO would block lint forever and
    /dev/zero never ends."""
    data = read_file_bounded(path, MAX_MACRO_FILE_BYTES, "the file")
    return data.decode("utf-8"), os.stat(path).st_mode


def _holds_secret(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return any(word in last for word in _SECRET_WORDS)


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not valid UTF-8"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)
