"""Diagnostics -> one JSON document for programs (editors, CI scripts, `jq`).

The schema is stable: fields are added, never renamed or removed. The document is a list, in
the order the diagnostics were given, of objects with these fields:

- ``code`` (str): the stable code, such as ``"E201"``;
- ``name`` (str | null): the rule's kebab-case name from the catalogue (null for a code the
  catalogue does not know);
- ``severity`` (``"error"`` | ``"warning"`` | ``"info"``);
- ``message`` (str);
- ``filename`` (str | null): null for text given directly rather than read from a file;
- ``key`` (str | null): the flat configuration key concerned;
- ``location`` / ``end_location`` ({``row``, ``column``} | null): 1-based positions of the first
  character and of the character just after the span (an exclusive end, as in ruff); columns
  count characters (Unicode code points). Null when the diagnostic has no span;
- ``help`` (str | null);
- ``fix`` (null, or {``message``, ``edits``: [{``content``, ``location``, ``end_location``}]}): the
  mechanical replacement of the span; null without a suggestion or without a span;
- ``url`` (str): the anchor of the rule in ``docs/lint.md``;
- ``notes`` (list of str).

Positions are worked out here, from span offsets and the source text, and nowhere earlier.
The helpers `location` and `end_location` are shared with the GitHub and SARIF renderers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import Diagnostic, Span
from engine.diagnostics.catalogue import RULES

DOCS_PAGE = "docs/lint.md"


def location(span: Span) -> tuple[int, int]:
    """The 1-based (line, column) of the first character of `span`."""
    return span.line, span.column


def end_location(span: Span, source: str | None) -> tuple[int, int]:
    """The 1-based (line, column) just after `span`: an exclusive end.

    From the source text when there is one; otherwise the span is taken to end on its first
    line, `length` characters after its start.
    """
    if source is None:
        return span.line, span.column + span.length
    end = max(0, min(span.end, len(source)))
    line = source.count("\n", 0, end) + 1
    column = end - (source.rfind("\n", 0, end) + 1) + 1
    return line, column


def rule_name(code: str) -> str | None:
    rule = RULES.get(code)
    return rule.name if rule is not None else None


def rule_url(code: str) -> str:
    """The stable docs anchor of a code: ``docs/lint.md#e201-unknown-name``."""
    name = rule_name(code)
    anchor = code.lower() if name is None else f"{code.lower()}-{name}"
    return f"{DOCS_PAGE}#{anchor}"


def fix_message(suggestion: str) -> str:
    return f"replace with `{suggestion}`" if suggestion else "remove"


def _position(position: tuple[int, int]) -> dict[str, int]:
    return {"row": position[0], "column": position[1]}


def to_dict(diagnostic: Diagnostic, source: str | None) -> dict[str, Any]:
    """One diagnostic as the JSON object described in the module docstring."""
    span = diagnostic.span
    start = _position(location(span)) if span is not None else None
    end = _position(end_location(span, source)) if span is not None else None
    fix: dict[str, Any] | None = None
    if diagnostic.suggestion is not None and span is not None:
        fix = {
            "message": fix_message(diagnostic.suggestion),
            "edits": [{"content": diagnostic.suggestion, "location": start,
                       "end_location": end}],
        }
    return {
        "code": diagnostic.code,
        "name": rule_name(diagnostic.code),
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "filename": diagnostic.file,
        "key": diagnostic.key,
        "location": start,
        "end_location": end,
        "help": diagnostic.help,
        "fix": fix,
        "url": rule_url(diagnostic.code),
        "notes": list(diagnostic.notes),
    }


def render_json(diagnostics: Iterable[Diagnostic], sources: Mapping[str | None, str]) -> str:
    """Render every diagnostic as one pretty-printed JSON list, ending with a newline."""
    document = [to_dict(d, sources.get(d.file)) for d in diagnostics]
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
