"""Each type-guarded fast path of the compiler against the general semantics.

The shapes below are the ones the compiler writes a direct Python branch for (bare variables
under `&&`/`||`/`!`/if_then, two-variable comparisons, split by a literal then an index,
bools cleaned inline, resolution of if/elif blocks). Their variables take random and
adversarial values: bools, None, ints past 2^63, floats with NaN and -0.0, numeric strings,
lists, tuples, refused objects, and missing variables. The compiled value (or EvalError) must be
the reference interpreter's, which walks the AST through the generic helpers only.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from engine.errors import EvalError
from engine.expr.compile import generate_block_pair
from engine.expr.expression import compile_expression
from engine.expr.scope import Scope
from engine.expr.syntax import parse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import interpret, same_value  # noqa: E402

NAMES = ("rcpt", "rcpt_domain", "sender", "sender_domain", "retry_num", "is_tls",
         "is_authenticated", "recipients")
MISSING = object()

_scalars = st.one_of(
    st.booleans(), st.none(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.sampled_from([0, 1, -1, (1 << 63) - 1, -(1 << 63), 1 << 63, -(1 << 63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.nan, "", "0", "1", "1.0", "-0", " 1", "nan", "inf",
                     "1e3", "example.org", "a@b@c", "@", "tls-reports@example.org"]),
    st.text(alphabet="ab@.01 -", max_size=8),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.lists(_scalars, max_size=3).map(tuple),
    st.just(object()),  # refused: EvalError on every path
    st.just(MISSING),
)
contexts = st.fixed_dictionaries({name: _values for name in NAMES})

SHAPES = (
    "is_tls && !is_authenticated",
    "is_tls || is_authenticated",
    "retry_num > 3 || is_tls",
    "rcpt_domain == 'example.org' && is_tls",
    "!is_tls",
    "!(is_tls && rcpt_domain == 'x')",
    "if_then(is_tls, 'tls', 'plain')",
    "if_then(recipients[1], sender, 'none')",
    "rcpt_domain != sender_domain",
    "rcpt_domain == sender_domain",
    "retry_num < sender_domain",
    "retry_num >= is_tls",
    "split(sender, '@')[1]",
    "split(sender, '@')",
    "split(recipients, '@')[0]",
    "is_tls + 1",
    "-is_tls",
    "is_tls && recipients",
)


def _variables(ctx: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in ctx.items() if value is not MISSING}


def _outcome(function: Any) -> tuple[str, Any]:
    try:
        return "value", function()
    except EvalError:
        return "error", None


def _same(left: tuple[str, Any], right: tuple[str, Any]) -> bool:
    return left[0] == right[0] and (left[0] == "error" or same_value(left[1], right[1]))


@pytest.mark.parametrize("source", SHAPES)
@settings(max_examples=150, deadline=None)
@given(ctx=contexts)
def test_fast_path_matches_general_semantics(source: str, ctx: dict[str, Any]) -> None:
    variables = _variables(ctx)
    compiled = compile_expression(source, NAMES)
    got = _outcome(lambda: compiled.evaluate(variables))
    expected = _outcome(lambda: interpret(compiled.node, variables))
    assert _same(got, expected), (source, variables, got, expected)


BLOCK = (("rcpt_domain == 'bigmail.example'", "'big'"), ("is_tls", "'tls'"),
         ("'partner.example' == rcpt_domain", "sender"), ("rcpt_domain == 'a.test'", "1"),
         ("rcpt_domain == 'bigmail.example'", "'never'"), ("!is_authenticated", "2.5"))


@settings(max_examples=300, deadline=None)
@given(ctx=contexts)
def test_block_forms_match_general_semantics(ctx: dict[str, Any]) -> None:
    scope = Scope.of(NAMES)
    rules = [(parse(condition, scope), parse(value, scope)) for condition, value in BLOCK]
    default = parse("'default'", scope)
    plain, traced = generate_block_pair(rules, default)
    variables = _variables(ctx)

    def reference() -> Any:
        for number, (condition, value) in enumerate(rules):
            if _truthy(interpret(condition, variables)):
                return number, interpret(value, variables)
        return len(rules), interpret(default, variables)

    expected = _outcome(reference)
    got_traced = _outcome(lambda: traced(variables))
    got_plain = _outcome(lambda: plain(variables))
    assert _same(got_traced, expected), (variables, got_traced, expected)
    if expected[0] == "value":
        assert _same(got_plain, ("value", expected[1][1])), (variables, got_plain, expected)
    else:
        assert got_plain[0] == "error"


def _truthy(value: Any) -> bool:
    from engine.expr.values import truthy
    return truthy(value)
