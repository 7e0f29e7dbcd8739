"""Diagnostics -> a SARIF 2.1.0 log (GitHub code scanning, IDE SARIF viewers).

One run of the tool ``tlsrpt-lint``. ``tool.driver.rules`` lists, sorted by code, each catalogue
rule that some result uses, with its summary, explanation and fix; each result points at its
rule by ``ruleId`` and ``ruleIndex``. Levels map error -> ``error``, warning -> ``warning``,
info -> ``note``. Regions are 1-based with an exclusive ``endColumn``, columns counted in code
points (declared by the run's ``columnKind``). A suggestion becomes a ``fix`` that replaces the
region. The flat key, the help and the notes of a diagnostic go in the result's property bag,
since SARIF has no fields for them.

Results without a file get an ``artifactLocation`` with no URI (SARIF allows it; GitHub will
not show them against a file).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from engine._version import __version__
from engine.errors import Diagnostic, Severity, Span
from engine.diagnostics.catalogue import RULES
from engine.diagnostics.render_json import end_location, fix_message, location

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "tlsrpt-lint"
INFORMATION_URI = "https://pypi.org/project/tlsrpt-engine/"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def file_uri(path: str) -> str:
    """A path as a URI reference: ``file://`` for an absolute path, else a relative reference."""
    pure: PurePath = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    if pure.is_absolute():
        return pure.as_uri()
    return quote(pure.as_posix(), safe="/")


def _artifact_location(diagnostic: Diagnostic) -> dict[str, str]:
    return {"uri": file_uri(diagnostic.file)} if diagnostic.file is not None else {}


def _region(span: Span, source: str | None) -> dict[str, int]:
    start_line, start_column = location(span)
    end_line, end_column = end_location(span, source)
    return {"startLine": start_line, "startColumn": start_column,
            "endLine": end_line, "endColumn": end_column}


def _rule_descriptor(code: str) -> dict[str, Any]:
    rule = RULES[code]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix},
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
    }


def _result(diagnostic: Diagnostic, source: str | None,
            rule_index: Mapping[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": diagnostic.code}
    if diagnostic.code in rule_index:
        result["ruleIndex"] = rule_index[diagnostic.code]
    result["level"] = _LEVELS[diagnostic.severity]
    result["message"] = {"text": diagnostic.message}
    physical: dict[str, Any] = {"artifactLocation": _artifact_location(diagnostic)}
    span = diagnostic.span
    if span is not None:
        physical["region"] = _region(span, source)
    if diagnostic.file is not None or span is not None:
        result["locations"] = [{"physicalLocation": physical}]
    else:
        result["locations"] = []
    if diagnostic.suggestion is not None and span is not None:
        result["fixes"] = [{
            "description": {"text": fix_message(diagnostic.suggestion)},
            "artifactChanges": [{
                "artifactLocation": _artifact_location(diagnostic),
                "replacements": [{
                    "deletedRegion": _region(span, source),
                    "insertedContent": {"text": diagnostic.suggestion},
                }],
            }],
        }]
    properties: dict[str, Any] = {}
    if diagnostic.key is not None:
        properties["key"] = diagnostic.key
    if diagnostic.help:
        properties["help"] = diagnostic.help
    if diagnostic.notes:
        properties["notes"] = list(diagnostic.notes)
    if properties:
        result["properties"] = properties
    return result


def to_sarif(diagnostics: Iterable[Diagnostic],
             sources: Mapping[str | None, str]) -> dict[str, Any]:
    """The SARIF log as plain data, ready for `json.dumps`."""
    items = list(diagnostics)
    codes = sorted({d.code for d in items if d.code in RULES})
    rule_index = {code: index for index, code in enumerate(codes)}
    driver = {
        "name": TOOL_NAME,
        "informationUri": INFORMATION_URI,
        "version": __version__,
        "rules": [_rule_descriptor(code) for code in codes],
    }
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "columnKind": "unicodeCodePoints",
            "results": [_result(d, sources.get(d.file), rule_index) for d in items],
        }],
    }


def render_sarif(diagnostics: Iterable[Diagnostic], sources: Mapping[str | None, str]) -> str:
    """Render every diagnostic as one SARIF 2.1.0 log, pretty-printed, ending with a newline."""
    return json.dumps(to_sarif(diagnostics, sources), indent=2, ensure_ascii=False) + "\n"
