"""Diagnostics -> the rustc-style text a person reads: code, message, a code frame with the
source line and carets under the span, then help.

Colour is used only when asked (the CLI asks when writing to a terminal and NO_COLOR is unset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.errors import Diagnostic, Severity

_COLOURS = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m",
            Severity.INFO: "\x1b[1;36m"}
_BOLD = "\x1b[1m"
_BLUE = "\x1b[1;34m"
_RESET = "\x1b[0m"


def render_text(diagnostics: Iterable[Diagnostic], sources: Mapping[str | None, str | None],
                color: bool = False) -> str:
    """Render every diagnostic; `sources` maps a file name (None for inline text) to its text."""
    return "".join(render_one(d, sources.get(d.file), color) + "\n" for d in diagnostics)


def _gutter(span: object) -> int:
    return len(str(getattr(span, "line", 1)))


def render_one(diagnostic: Diagnostic, source: str | None, color: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    head = paint(f"{diagnostic.severity.value}[{diagnostic.code}]",
                 _COLOURS[diagnostic.severity]) + paint(f": {diagnostic.message}", _BOLD)
    lines = [head]
    span = diagnostic.span
    if span is None:
        lines.append(f" {paint('-->', _BLUE)} {diagnostic.file or '<config>'}")
    else:
        gutter = " " * len(str(span.line))
        lines.append(f"{gutter}{paint('-->', _BLUE)} {diagnostic.location()}")
        if source is not None:
            text_lines = source.splitlines() or [""]
            line_text = text_lines[span.line - 1] if span.line <= len(text_lines) else ""
            width = max(1, min(span.end - span.start, len(line_text) - span.column + 1))
            lines.append(f"{gutter} {paint('|', _BLUE)}")
            lines.append(f"{paint(str(span.line), _BLUE)} {paint('|', _BLUE)} "
                         f"{line_text.expandtabs(1)}")
            carets = " " * (span.column - 1) + "^" * width
            lines.append(f"{gutter} {paint('|', _BLUE)} "
                         f"{paint(carets, _COLOURS[diagnostic.severity])}")
    if diagnostic.suggestion:
        lines.append(f"{' ' * _gutter(span)} = suggestion: `{diagnostic.suggestion}`")
    if diagnostic.help:
        lines.append(f"{' ' * _gutter(span)} = help: {diagnostic.help}")
    for note in diagnostic.notes:
        lines.append(f"{' ' * _gutter(span)} = note: {note}")
    return "\n".join(lines)
