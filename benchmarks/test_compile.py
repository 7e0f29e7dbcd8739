"""Compile time: the cases of expression_cases.py and Stalwart's real spam-filter rules.

`compile_expression` caches compiled expressions by (source, scope), so calling it again would
measure a cache hit. These benchmarks call the function the cache wraps
(`engine.expr.expression._compile_cached.__wrapped__`: parse, then generate and build the Python
function), which is exactly the work of a cache miss. Should that internal name change, they
fall back to clearing the cache before each public call (measuring the same work plus a cheap
`cache_clear`).

The corpus is /work/shared/corpus/stalwart-spam-filter/*.toml, extracted as
/work/shared/corpus/check.py does (files a standard TOML parser rejects are skipped); without
/work/shared the corpus benchmark is skipped.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import engine
from engine.expr import expression as expression_module
from engine.expr.scope import Scope
from expression_cases import CASE_IDS, CASES, COMPILE, VARIABLES, Case

SHARED = Path(os.environ.get("TLSRPT_SHARED", "/work/shared"))
CORPUS_CHECK = SHARED / "corpus" / "check.py"


def fresh_compiler(variables: Iterable[str]) -> tuple[Callable[[str], engine.Expression], str]:
    """A function compiling a source from scratch each time, and how it defeats the cache."""
    variables = tuple(variables)
    cached = getattr(expression_module, "_compile_cached", None)
    uncached = getattr(cached, "__wrapped__", None)
    if uncached is not None:
        scope = Scope.of(variables)
        return (lambda source: uncached(source, scope)), "uncached internals"
    clear = getattr(cached, "cache_clear", None)
    if clear is None:
        # No cache to defeat any more: the public call is the whole work.
        return (lambda source: engine.compile_expression(source, variables)), "public API"

    def compile_cleared(source: str) -> engine.Expression:
        clear()
        return engine.compile_expression(source, variables)

    return compile_cleared, "cache_clear + public API"


def _check_fresh(compile_: Callable[[str], engine.Expression], source: str) -> None:
    first, second = compile_(source), compile_(source)
    assert first is not second, "the compile benchmark would measure a cache hit"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_compile_case(benchmark: Any, record_timing: Any, case: Case) -> None:
    compile_, how = fresh_compiler(VARIABLES)
    _check_fresh(compile_, case.source)
    benchmark.group = "compile: cases"
    benchmark.extra_info["how"] = how
    expression = benchmark(compile_, case.source)
    assert expression.evaluate(dict(case.context)) == case.hand(case.context)
    record_timing(benchmark, case.id, COMPILE)


def _load_check_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_corpus_check", CORPUS_CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus() -> tuple[list[str], tuple[str, ...], list[str]]:
    """(sources, variables, skipped files) of the corpus, extracted as check.py does."""
    check = _load_check_module()
    sources: list[str] = []
    skipped: list[str] = []
    for file in sorted((CORPUS_CHECK.parent / "stalwart-spam-filter").glob("*.toml")):
        try:
            document = check.tomllib.loads(file.read_text(encoding="utf-8"))
        except check.tomllib.TOMLDecodeError:
            skipped.append(file.name)
            continue
        sources.extend(source for _key, source in check.expressions(document))
    return sources, tuple(check.VARIABLES), skipped


def test_compile_corpus(benchmark: Any, record_timing: Any, summary_note: Any) -> None:
    if not CORPUS_CHECK.is_file():
        pytest.skip(f"no corpus: {CORPUS_CHECK} is absent (set TLSRPT_SHARED to the directory "
                    f"holding corpus/ to run this benchmark)")
    sources, variables, skipped = _corpus()
    if not sources:
        pytest.skip(f"the corpus under {CORPUS_CHECK.parent} holds no expression")
    compile_, how = fresh_compiler(variables)
    compilable: list[str] = []
    failed = 0
    for source in sources:
        try:
            compile_(source)
        except engine.EngineError:
            failed += 1  # not ours to judge here: check.py and the test suite report those
        else:
            compilable.append(source)
    if not compilable:
        pytest.skip("no corpus expression compiles")
    _check_fresh(compile_, compilable[0])

    def compile_all() -> int:
        for source in compilable:
            compile_(source)
        return len(compilable)

    benchmark.group = "compile: corpus"
    benchmark.extra_info.update(expressions=len(compilable), failed=failed,
                                skipped_files=skipped, how=how)
    benchmark(compile_all)
    record_timing(benchmark, "corpus", COMPILE)
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is not None and getattr(stats, "data", None):
        summary_note(
            f"corpus: {len(compilable)} expressions compiled in {stats.median * 1e3:.1f} ms "
            f"(median), {stats.median / len(compilable) * 1e6:.0f} us per expression"
            f"; {failed} failed to compile; skipped files (not standard TOML): "
            f"{', '.join(skipped) or 'none'}")
