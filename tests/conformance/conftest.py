"""Collect the conformance vectors (`*.toml` beside this file) as one test item per case.

The verdict rules are those of the shared runner (conformance/run.py): strict kinds for
`expect`, `error = parse|eval|config`, `malformed-accepted` cases pass with the reference's
value or a ParseError, and `stalwart-reader` cases depend on Stalwart's non-standard TOML
reader, which `load_config(..., stalwart_reader=True)` follows: so read, they get the full
verdict; read as standard TOML, loading either fails or reads the standard way, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli

import engine
from engine.expr.scope import STALWART_VARIABLES


def same(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool):
        return isinstance(got, int) and not isinstance(got, float) and got == int(expected)
    if isinstance(expected, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == expected
    if isinstance(expected, float):
        return isinstance(got, float) and (got == expected or
                                           (math.isnan(expected) and math.isnan(got)))
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(
            same(e, g) for e, g in zip(expected, got))
    return bool(expected == got)


class VectorMismatch(Exception):
    pass


def run_expression_case(case: dict[str, Any]) -> str:
    source = case["expr"]
    lenient = "malformed-accepted" in case.get("tags", [])
    if case.get("error") == "parse":
        with pytest.raises(engine.ParseError):
            engine.compile_expression(source, variables=STALWART_VARIABLES)
        return "ParseError"
    try:
        expression = engine.compile_expression(source, variables=STALWART_VARIABLES)
    except engine.ParseError as err:
        if lenient:
            return f"ParseError (stricter than the reference): {err}"
        raise VectorMismatch(f"ParseError: {err}") from err
    variables = dict(case.get("vars", {}))
    if case.get("error") == "eval":
        with pytest.raises(engine.EvalError):
            expression.evaluate(variables, case.get("config"))
        return "EvalError"
    got = engine.evaluate(source, variables=variables, config=case.get("config"))
    if not same(case["expect"], got):
        raise VectorMismatch(f"expected {case['expect']!r}, got {got!r}")
    return repr(got)


def run_config_case(case: dict[str, Any]) -> str:
    variables = dict(case.get("vars", {}))
    if "stalwart-reader" in case.get("tags", []):
        # Standard TOML may refuse the file or read it the standard way, but never crash.
        try:
            engine.load_config(case["toml"]).resolve(case["key"], variables)
        except engine.EngineError:
            pass
    stalwart = "stalwart-reader" in case.get("tags", [])
    try:
        got = engine.load_config(case["toml"], stalwart_reader=stalwart).resolve(
            case["key"], variables)
    except engine.EngineError as err:
        if case.get("error") == "config":
            return type(err).__name__
        raise VectorMismatch(f"{type(err).__name__}: {err}") from err
    if case.get("error") == "config":
        raise VectorMismatch(f"loaded and resolved to {got!r}, expected an error")
    if not same(case["expect"], got):
        raise VectorMismatch(f"expected {case['expect']!r}, got {got!r}")
    return repr(got)


class VectorItem(pytest.Item):
    def __init__(self, *, case: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        if "toml" in self.case:
            run_config_case(self.case)
        else:
            run_expression_case(self.case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        shown = self.case.get("expr", self.case.get("toml", ""))
        return f"vector {self.case['id']}: {shown!r}\n  {excinfo.value}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"vector {self.case['id']}"


class VectorFile(pytest.File):
    def collect(self) -> Iterator[VectorItem]:
        for case in tomli.loads(self.path.read_text(encoding="utf-8"))["case"]:
            yield VectorItem.from_parent(self, name=case["id"], case=case)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> VectorFile | None:
    if file_path.suffix == ".toml" and file_path.parent == Path(__file__).parent:
        return VectorFile.from_parent(parent, path=file_path)
    return None
