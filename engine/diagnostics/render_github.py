"""Diagnostics -> GitHub Actions workflow commands, which GitHub shows as annotations.

One line per diagnostic::

    ::error title=E201 unknown-name,file=rules.toml,line=3,col=9,endLine=3,endColumn=14::msg

``warning`` becomes ``::warning`` and ``info`` ``::notice``. The end is exclusive, as in the
JSON renderer (ruff does the same). ``file`` is left out for text given directly, and the
position properties for a diagnostic without a span. The help follows the message on a line
of its own. Values are escaped as GitHub's toolkit does (`escapeProperty` / `escapeData` in
`@actions/core`), so a newline or a ``::`` in a message cannot end the command early.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engine.errors import Diagnostic, Severity
from engine.diagnostics.render_json import end_location, location, rule_name

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message: ``%``, ``\\r`` and ``\\n``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: as a message, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_one(diagnostic: Diagnostic, source: str | None) -> str:
    name = rule_name(diagnostic.code)
    properties = [("title", diagnostic.code if name is None else f"{diagnostic.code} {name}")]
    if diagnostic.file is not None:
        properties.append(("file", diagnostic.file))
    span = diagnostic.span
    if span is not None:
        line, column = location(span)
        end_line, end_column = end_location(span, source)
        properties += [("line", str(line)), ("col", str(column)),
                       ("endLine", str(end_line)), ("endColumn", str(end_column))]
    message = diagnostic.message
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    return f"::{_COMMANDS[diagnostic.severity]} {props}::{escape_data(message)}"


def render_github(diagnostics: Iterable[Diagnostic], sources: Mapping[str | None, str]) -> str:
    """Render every diagnostic as a workflow command, one per line."""
    return "".join(render_one(d, sources.get(d.file)) + "\n" for d in diagnostics)
