"""Item: a `matches` pattern's group count and program size are bounded, with a lint
diagnostic. Before: 16,000 capture groups took 7.9 GB and 11 s per evaluation, lint silent."""

from __future__ import annotations

import pytest

import engine
from engine.expr.regex_limits import MAX_CAPTURE_GROUPS, MAX_PROGRAM_SIZE
from engine.lint.check import lint_text
from tests.hostile.bounds import traced


def _config(pattern: str) -> str:
    return ("[report.tls.aggregate]\n"
            f"send = [{{ if = \"matches('{pattern}', rcpt_domain)\", then = \"daily\" }},\n"
            "        { else = \"never\" }]\n")


@pytest.mark.parametrize(("label", "pattern", "reason"), [
    ("16,000 capture groups", "(a)?" * 16_000 + "$", f"at most {MAX_CAPTURE_GROUPS} are"),
    ("a 250,000-instruction program", "[a-z]{1000}" * 250, f"at most {MAX_PROGRAM_SIZE} are"),
])
def test_lint_reports_an_oversize_pattern(label: str, pattern: str, reason: str) -> None:
    found = traced(f"lint of {label}", lambda: lint_text(_config(pattern), "re.toml"),
                   peak_mib=256)
    assert [d.code for d in found] == ["E103"], found
    assert reason in found[0].message
    assert found[0].span is not None and found[0].span.line == 2
    # the next configuration is checked as usual
    assert lint_text(_config("^(a|b)+$"), "next.toml") == []


def test_compile_expression_refuses_it_with_parse_error() -> None:
    with pytest.raises(engine.ParseError, match="capture groups"):
        traced("compile_expression of 16,000 groups",
               lambda: engine.compile_expression(f"matches('{'(a)' * 16_000}', x)", ["x"]),
               peak_mib=256)


def test_the_largest_allowed_pattern_evaluates_quickly() -> None:
    pattern = "(a|b)?" * MAX_CAPTURE_GROUPS + "$"
    expression = engine.compile_expression(f"matches('{pattern}', x)", ["x"])
    result = traced(f"{MAX_CAPTURE_GROUPS} groups on a 10,000-character subject",
                    lambda: expression.evaluate({"x": "ab" * 5000}), peak_mib=64)
    assert result == 1
