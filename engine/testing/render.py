"""Case results -> text for people (the CLI and the pytest plugin print the same) or JSON.

A failure reads top-down: which case and where, the context it ran in, then per failed
expectation the setting, expected and actual values, and the rule that produced the actual
value, so that the author can open the file at that line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.testing.run import NOT_RESOLVED, CaseResult, context_text


def _fixture_text(result: CaseResult) -> str | None:
    fixtures = result.case.fixtures
    kinds = [name for name, given in (
        ("local-domains", fixtures.local_domains), ("local-addresses", fixtures.local_addresses),
        ("keys", fixtures.keys), ("counters", fixtures.counters), ("dns", fixtures.dns),
        ("sql", fixtures.sql)) if given]
    return ", ".join(kinds) if kinds else None


def format_failure(result: CaseResult) -> str:
    """The readable report of a failed case (ends with a newline)."""
    case = result.case
    lines = [f"FAILED {case.name} ({case.location})",
             f"  context:  {context_text(case.variables)}"]
    fixtures = _fixture_text(result)
    if fixtures:
        lines.append(f"  fixtures: {fixtures}")
    for check in result.failures:
        label = "setting: " if check.subject != "lint" and not check.subject.startswith(
            "tls-aggregate") else "check:   "
        lines.append(f"  {label} {check.subject} ({check.location})")
        lines.append(f"  expected: {check.expected}")
        if check.actual == NOT_RESOLVED:
            lines.append(f"  error:    {check.note}")
            continue
        lines.append(f"  actual:   {check.actual}")
        if check.produced_by:
            lines.append(f"  rule:     {check.produced_by}")
        if check.note:
            lines.append(f"  note:     {check.note}")
    return "\n".join(lines) + "\n"


def summary(results: Sequence[CaseResult]) -> str:
    passed = sum(result.passed for result in results)
    return f"{passed} passed, {len(results) - passed} failed"


def to_json(results: Sequence[CaseResult]) -> dict[str, Any]:
    passed = sum(result.passed for result in results)
    return {
        "passed": passed,
        "failed": len(results) - passed,
        "cases": [{
            "name": result.case.name,
            "file": result.case.location.file,
            "line": result.case.location.line,
            "passed": result.passed,
            "variables": dict(result.case.variables),
            "checks": [{
                "subject": check.subject, "passed": check.passed, "expected": check.expected,
                "actual": check.actual, "line": check.location.line,
                "rule": check.produced_by, "note": check.note,
            } for check in result.checks],
        } for result in results],
    }
