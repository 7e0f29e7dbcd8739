"""Lint speed on a generated configuration of 5,000 rules (10,000 expressions)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.expr import syntax
from engine.lint.check import lint_text

from test_config import large_config


@pytest.mark.benchmark(group="lint 5,000 rules", min_rounds=3)
def test_lint_large_configuration(benchmark: Any) -> None:
    text = large_config()

    def lint() -> list[Any]:
        syntax.parse_tree.cache_clear()  # measure parsing too, not the parse cache
        return lint_text(text)

    found = benchmark.pedantic(lint, rounds=3, iterations=1)
    assert [d.code for d in found] == []
