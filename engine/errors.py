"""Spans, diagnostics and the one exception tree of the engine.

Every failure the engine reports to a user carries where it happened: expression errors
carry a `Span` inside their source text, configuration errors carry `Diagnostic`s that name
the file, line and column. Rendering them is the job of `engine.lint` and the CLI; this module
only holds the data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A range of characters in a source text, with the 1-based line and column of its start."""

    start: int
    end: int
    line: int = 1
    column: int = 1

    @classmethod
    def in_text(cls, text: str, start: int, end: int | None = None) -> Span:
        """Build a span for ``text[start:end]``, working out line and column from the text."""
        start = max(0, min(start, len(text)))
        end = start if end is None else max(start, min(end, len(text)))
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return cls(start, end, line, column)

    @property
    def length(self) -> int:
        return self.end - self.start

    def shifted(self, text: str, offset: int) -> Span:
        """The same range inside a larger ``text`` in which the original source starts at ``offset``."""
        return Span.in_text(text, self.start + offset, self.end + offset)


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: a stable code, a severity, a message and where it points.

    ``file`` is the path of the file the span refers to (``None`` for text given directly),
    ``key`` the flat configuration key it concerns, ``help`` a sentence on how to fix it, and
    ``suggestion`` replacement text for the span when the fix is mechanical.
    """

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    file: str | None = None
    key: str | None = None
    help: str | None = None
    suggestion: str | None = None
    notes: tuple[str, ...] = field(default=())

    def location(self) -> str:
        where = self.file or "<config>"
        if self.span is not None:
            return f"{where}:{self.span.line}:{self.span.column}"
        return where

    def __str__(self) -> str:
        text = f"{self.location()}: {self.severity.value}[{self.code}] {self.message}"
        if self.help:
            text += f" (help: {self.help})"
        return text


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class ParseError(EngineError, ValueError):
    """An expression does not compile: bad syntax, an unknown name, a wrong argument count.

    ``span`` points into ``source``; ``suggestion`` is replacement text when one is likely
    (a close variable name, ``==`` for ``=``); ``code`` is the stable lint code.
    """

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        source: str | None = None,
        suggestion: str | None = None,
        help: str | None = None,
        code: str = "E101",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.suggestion = suggestion
        self.help = help
        self.code = code

    def __str__(self) -> str:
        text = self.message
        if self.span is not None:
            text += f" (line {self.span.line}, column {self.span.column})"
        if self.suggestion is not None:
            text += f"; did you mean `{self.suggestion}`?"
        return text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only arguments are lost by the default reduce of BaseException; keep them so
        # errors survive pickling (multiprocessing, pytest-xdist).
        return (_rebuild_parse_error, (type(self), self.message, self.span, self.source,
                                       self.suggestion, self.help, self.code))


def _rebuild_parse_error(cls: type[ParseError], message: str, span: Span | None,
                         source: str | None, suggestion: str | None, help: str | None,
                         code: str) -> ParseError:
    return cls(message, span, source=source, suggestion=suggestion, help=help, code=code)


class EvalError(EngineError, RuntimeError):
    """Evaluation failed: a service function's backend failed or is missing."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span

    def __str__(self) -> str:
        if self.span is not None:
            return f"{self.message} (line {self.span.line}, column {self.span.column})"
        return self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message, self.span))


class ConfigError(EngineError, ValueError):
    """A configuration does not load; ``diagnostics`` lists every problem found.

    ``unreadable`` is True when a file could not be read at all (or is not UTF-8), decided
    where the file is read: the command line reports that as a usage error, not as findings.
    """

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], *,
                 unreadable: bool = False) -> None:
        self.diagnostics = tuple(diagnostics)
        self.unreadable = unreadable
        super().__init__(self._summary())

    def _summary(self) -> str:
        if not self.diagnostics:
            return "configuration error"
        first = str(self.diagnostics[0])
        more = len(self.diagnostics) - 1
        return first if not more else f"{first} (and {more} more)"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_config_error, (type(self), self.diagnostics, self.unreadable))


class UnknownSettingError(ConfigError, KeyError):
    """A setting key that the registry does not know and the configuration does not set.

    A ConfigError (what callers of `Config.resolve` already catch for a malformed setting) and
    a KeyError (what a mapping lookup of a missing key raises). ``key`` is the key asked for,
    ``suggestion`` the closest known key (or None).
    """

    def __init__(self, key: str, suggestion: str | None = None) -> None:
        self.key = key
        self.suggestion = suggestion
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        message = (f"unknown setting {key}{hint}: the registry does not know it and the "
                   "configuration does not set it")
        super().__init__([Diagnostic("E406", Severity.ERROR, message, key=key)])

    def __str__(self) -> str:
        return self.diagnostics[0].message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.key, self.suggestion))


def _rebuild_config_error(kind: type[ConfigError], diagnostics: tuple[Diagnostic, ...],
                          unreadable: bool) -> ConfigError:
    """Unpickle a ConfigError (or subclass) with its keyword-only `unreadable`."""
    return kind(diagnostics, unreadable=unreadable)
