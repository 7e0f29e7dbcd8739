"""Evaluation speed of typical expression shapes against the same logic written by hand.

Run: `python -m pytest benchmarks/test_shapes.py --benchmark-only`. Each shape of
shape_cases.py is timed twice in one group (compiled, hand-written), each a single call of a
function of the context dict. The if/elif block is timed through `Config.resolve`, beside the
compiled block called directly and a hand-written function of the same two arguments. Before
timing, each test checks that both sides give the same value and type. conftest.py prints
the ratios and their geometric mean; nothing asserts on time.
"""

from __future__ import annotations

from typing import Any

import pytest

import engine
from shape_cases import (BLOCK, BLOCK_CONFIG, BLOCK_CONTEXT, BLOCK_KEY, FOLDED, FOLDED_SHAPES,
                         RESOLVE, SHAPE_HAND, SHAPE_OURS, SHAPES, VARIABLES, Shape, hand_block)


@pytest.mark.parametrize("side", (SHAPE_OURS, SHAPE_HAND))
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.id for shape in SHAPES])
def test_shape(benchmark: Any, record_timing: Any, shape: Shape, side: str) -> None:
    compiled = engine.compile_expression(shape.source, VARIABLES).evaluate
    ctx = dict(shape.context)
    expected = shape.hand(ctx)
    got = compiled(ctx)
    assert got == expected and type(got) is type(expected), (shape.id, got, expected)
    function = compiled if side == SHAPE_OURS else shape.hand
    benchmark.group = "shape " + shape.id
    result = benchmark(function, ctx)
    assert result == expected
    record_timing(benchmark, shape.id, side)


@pytest.mark.parametrize("side", (SHAPE_OURS, SHAPE_HAND))
@pytest.mark.parametrize("case", FOLDED_SHAPES, ids=[case[0] for case in FOLDED_SHAPES])
def test_folded_constant(benchmark: Any, record_timing: Any, case: tuple[str, str, Any],
                         side: str) -> None:
    name, source, value = case
    expression = engine.compile_expression(source, VARIABLES)
    assert expression.is_constant and expression.constant == value

    def hand(ctx: Any) -> Any:
        return value

    benchmark.group = "folded " + name
    result = benchmark(expression.evaluate if side == SHAPE_OURS else hand, {})
    assert result == value
    record_timing(benchmark, name, FOLDED + "-" + side)


@pytest.mark.parametrize("side", (RESOLVE, BLOCK, SHAPE_HAND))
def test_block_resolve(benchmark: Any, record_timing: Any, side: str) -> None:
    config = engine.load_config(BLOCK_CONFIG)
    ctx = dict(BLOCK_CONTEXT)
    expected = hand_block(BLOCK_KEY, ctx)
    assert config.resolve(BLOCK_KEY, ctx) == expected
    assert config.explain(BLOCK_KEY, ctx).rule == 6  # the fall-through path
    benchmark.group = "if/elif block of 6 rules"
    if side == RESOLVE:
        result = benchmark(config.resolve, BLOCK_KEY, ctx)
    elif side == BLOCK:
        compiled = config.setting(BLOCK_KEY)
        assert compiled is not None and compiled.evaluate is not None
        result = benchmark(compiled.evaluate, ctx, config.raw, None)
    else:
        result = benchmark(hand_block, BLOCK_KEY, ctx)
    assert result == expected
    record_timing(benchmark, "block_resolve", side)
