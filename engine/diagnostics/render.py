"""One entry point for every output format of `tlsrpt lint`.

`text` is for people (rustc-style, optionally coloured); `json`, `github` and `sarif` are for
programs and never use colour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from engine.errors import Diagnostic
from engine.diagnostics.render_github import render_github
from engine.diagnostics.render_json import render_json
from engine.diagnostics.render_sarif import render_sarif
from engine.diagnostics.render_text import render_text

FORMATS: Final = ("text", "json", "github", "sarif")


def render(format: str, diagnostics: Iterable[Diagnostic], sources: Mapping[str | None, str],
           color: bool = False) -> str:
    """Render `diagnostics` in `format` (one of `FORMATS`); `color` applies to `text` only."""
    if format == "text":
        return render_text(diagnostics, sources, color)
    if format == "json":
        return render_json(diagnostics, sources)
    if format == "github":
        return render_github(diagnostics, sources)
    if format == "sarif":
        return render_sarif(diagnostics, sources)
    raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
