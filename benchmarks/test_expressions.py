"""Evaluation speed of compiled expressions against hand-written Python and simpleeval.

Run: `python -m pytest benchmarks --benchmark-only` (from the project root). Each case of
expression_cases.py is measured three times, in one group per case so that pytest-benchmark's
table shows the versions side by side:

- ours: `compile_expression(source, VARIABLES).evaluate(ctx)`, compiled once;
- hand: the same logic as a plain Python function of the same ctx dict;
- simpleeval: `SimpleEval(names=ctx, functions=...)`, the source parsed once with
  `SimpleEval.parse` and evaluated with `eval(source, previously_parsed=tree)`.

Before timing, each test checks that the three versions give the same value for the case's
context. The ratios are printed at the end of the session by conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

import engine
from expression_cases import BASELINE, CASE_IDS, CASES, HAND, OURS, SIMPLE, VARIABLES, Case

IMPLEMENTATIONS = (OURS, HAND, SIMPLE)

#: What is timed: a callable and its arguments, called once per iteration.
Timed = tuple[Callable[..., Any], tuple[Any, ...]]


def _ours(case: Case, ctx: dict[str, Any]) -> Timed:
    return engine.compile_expression(case.source, VARIABLES).evaluate, (ctx,)


def _hand(case: Case, ctx: dict[str, Any]) -> Timed:
    return case.hand, (ctx,)


def _simple(case: Case, ctx: dict[str, Any]) -> Timed:
    # simpleeval reads names from the mapping given at construction: the same ctx dict. `parse`
    # returns the tree that `eval` accepts as `previously_parsed`, so the source is parsed once,
    # as ours is compiled once; `eval` is timed directly, without a wrapper.
    evaluator = case.simple_class(names=ctx, functions=dict(case.simple_functions))
    tree = evaluator.parse(case.simple_source)
    return evaluator.eval, (case.simple_source, tree)


_FACTORIES = {OURS: _ours, HAND: _hand, SIMPLE: _simple}


def _run(implementation: str, case: Case) -> Any:
    function, arguments = _FACTORIES[implementation](case, dict(case.context))
    return function(*arguments)


def _check_same_value(case: Case) -> Any:
    ours = _run(OURS, case)
    hand = _run(HAND, case)
    simple = _run(SIMPLE, case)
    assert ours == hand, f"{case.id}: ours {ours!r} != hand-written {hand!r}"
    assert type(ours) is type(hand), f"{case.id}: ours {ours!r} vs hand-written {hand!r}"
    # simpleeval gives Python's True/False where ours gives the Integers 1/0: equal with ==.
    assert simple == ours, f"{case.id}: simpleeval {simple!r} != ours {ours!r}"
    return ours


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_evaluate(benchmark: Any, record_timing: Any, case: Case, implementation: str) -> None:
    expected = _check_same_value(case)
    function, arguments = _FACTORIES[implementation](case, dict(case.context))
    benchmark.group = case.id
    benchmark.extra_info["expression"] = case.simple_source if implementation == SIMPLE \
        else case.source
    result = benchmark(function, *arguments)
    assert result == expected
    record_timing(benchmark, case.id, implementation)


def _empty(ctx: Mapping[str, Any]) -> None:
    return None


def test_timing_floor(benchmark: Any, record_timing: Any) -> None:
    """The cost of pytest-benchmark's loop and one Python call: part of every figure."""
    benchmark.group = BASELINE
    benchmark(_empty, {})
    record_timing(benchmark, BASELINE, BASELINE)
