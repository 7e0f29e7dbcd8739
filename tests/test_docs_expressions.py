"""Every example of docs/expressions.md, run through the engine.

An example is a fenced block whose info string is `example`; one block holds one or more
examples separated by blank lines, each made of `key: value` lines:

    expr: 'noreply-tls@' + rcpt_domain        the expression, verbatim after "expr: "
    vars: {"rcpt_domain": "example.org"}      optional JSON object (globals as "$NAME")
    config: {"report.domain": "example.org"}  optional JSON object: settings for config_get
    value: "noreply-tls@example.org"          JSON; kinds compare strictly (1 is not 1.0)
    error: unknown name                       instead of value: ParseError.message starts so

`value` examples run through `engine.evaluate`; `error` examples through
`engine.compile_expression(source, variables=STALWART_VARIABLES)`.

Where the engine disagrees with the specification (/work/shared/spec/expressions.md), the doc
keeps the specified value and the example is listed in `KNOWN_DEVIATIONS` below: a strict xfail,
so that fixing the engine makes the test fail until the entry is removed.
"""

from __future__ import annotations

import doctest
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli

import engine
from engine.expr.functions import FUNCTIONS, SPECIAL_FORMS
from engine.expr.scope import FREQUENCY_CONSTANTS, STALWART_VARIABLES
from engine.expr.syntax import MAX_DEPTH, MAX_SOURCE_LENGTH

DOC = Path(__file__).resolve().parents[1] / "docs" / "expressions.md"

#: expression text -> why the engine does not (yet) give what the spec says.
KNOWN_DEVIATIONS: dict[str, str] = {}

_KEYS = ("expr", "vars", "config", "value", "error")
#: Settings in the doc's TOML snippets that are plain text, not expressions.
_PLAIN_SETTINGS = frozenset({
    "server.hostname", "report.domain", "lookup.default.hostname", "lookup.default.domain",
    "cluster.node-id",
})


@dataclass
class Example:
    line: int
    expr: str
    vars: dict[str, Any] | None = None
    config: dict[str, str] | None = None
    value: Any = None
    has_value: bool = False
    error: str | None = None
    fields: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        text = self.expr if len(self.expr) <= 40 else self.expr[:37] + "..."
        return f"L{self.line}:{text}"


def _fenced_blocks(text: str, info: str) -> list[tuple[int, list[str]]]:
    """(line number of the first content line, content lines) of each ```info block."""
    blocks: list[tuple[int, list[str]]] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        if lines[index].strip() == f"```{info}":
            start = index + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"unclosed ```{info} block at line {index + 1}")
            blocks.append((start + 1, lines[start:end]))
            index = end
        index += 1
    return blocks


def _parse_chunk(line: int, chunk: list[str]) -> Example:
    example = Example(line=line, expr="")
    seen: set[str] = set()
    for offset, raw in enumerate(chunk):
        key, sep, rest = raw.partition(": ")
        where = f"docs/expressions.md line {line + offset}"
        if not sep or key not in _KEYS:
            raise AssertionError(f"{where}: expected `key: value` with key in {_KEYS}: {raw!r}")
        if key in seen:
            raise AssertionError(f"{where}: `{key}` given twice")
        seen.add(key)
        example.fields.append(key)
        if key == "expr":
            example.expr = rest  # verbatim: leading and inner spaces/TABs matter
        elif key == "vars":
            example.vars = json.loads(rest)
            assert isinstance(example.vars, dict), where
        elif key == "config":
            example.config = json.loads(rest)
            assert isinstance(example.config, dict), where
            assert all(isinstance(v, str) for v in example.config.values()), \
                f"{where}: config values are setting texts"
        elif key == "value":
            example.value = json.loads(rest)
            example.has_value = True
        else:
            example.error = rest
    where = f"docs/expressions.md line {line}"
    assert "expr" in seen, f"{where}: example without `expr`"
    assert example.has_value != (example.error is not None), \
        f"{where}: an example needs exactly one of `value` and `error`"
    if example.error is not None:
        assert example.vars is None and example.config is None, \
            f"{where}: an `error` example is only compiled; `vars`/`config` would be unused"
    return example


def parse_examples(text: str) -> list[Example]:
    examples: list[Example] = []
    for first_line, lines in _fenced_blocks(text, "example"):
        chunk: list[str] = []
        chunk_line = first_line
        for offset, raw in enumerate(lines + [""]):
            if raw.strip() == "":
                if chunk:
                    examples.append(_parse_chunk(chunk_line, chunk))
                chunk = []
                continue
            if not chunk:
                chunk_line = first_line + offset
            chunk.append(raw)
    return examples


def same(expected: Any, got: Any) -> bool:
    """Kind-strict equality between a JSON value and an engine value."""
    if isinstance(expected, bool):
        raise AssertionError("booleans do not exist in the language: write 1 or 0")
    if isinstance(expected, int):
        return type(got) is int and got == expected
    if isinstance(expected, float):
        return type(got) is float and (got == expected or (math.isnan(expected) and
                                                           math.isnan(got)))
    if isinstance(expected, str):
        return type(got) is str and got == expected
    if isinstance(expected, list):
        return type(got) is list and len(got) == len(expected) and all(
            same(e, g) for e, g in zip(expected, got))
    raise AssertionError(f"unsupported expected value {expected!r}")


DOC_TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = parse_examples(DOC_TEXT)


def _params() -> list[Any]:
    params = []
    for example in EXAMPLES:
        marks = []
        if example.expr in KNOWN_DEVIATIONS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_DEVIATIONS[example.expr]))
        params.append(pytest.param(example, id=example.id, marks=marks))
    return params


@pytest.mark.parametrize("example", _params())
def test_example(example: Example) -> None:
    if example.error is not None:
        with pytest.raises(engine.ParseError) as info:
            engine.compile_expression(example.expr, variables=STALWART_VARIABLES)
        assert info.value.message.startswith(example.error), (
            f"message {info.value.message!r} does not start with {example.error!r}")
        return
    got = engine.evaluate(example.expr, example.vars, example.config)
    assert same(example.value, got), f"{example.expr!r} gave {got!r}, doc says {example.value!r}"


def test_known_deviations_are_in_the_doc() -> None:
    exprs = {example.expr for example in EXAMPLES}
    assert set(KNOWN_DEVIATIONS) <= exprs, set(KNOWN_DEVIATIONS) - exprs


def test_there_are_enough_examples() -> None:
    assert len(EXAMPLES) >= 60
    assert len({example.line for example in EXAMPLES}) == len(EXAMPLES)


@pytest.mark.parametrize("name", sorted([*FUNCTIONS, *SPECIAL_FORMS]))
def test_every_function_is_documented(name: str) -> None:
    assert re.search(rf"`{re.escape(name)}[(`]", DOC_TEXT), f"`{name}` is not in the doc"


def _leaves(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found.extend(_leaves(value, dotted + "."))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found.extend(_leaves(item, dotted + "."))
                else:
                    found.append((dotted, item))
        else:
            found.append((dotted, value))
    return found


TOML_BLOCKS = _fenced_blocks(DOC_TEXT, "toml")


@pytest.mark.parametrize(("line", "lines"), TOML_BLOCKS, ids=[f"L{n}" for n, _ in TOML_BLOCKS])
def test_toml_snippets_load_and_compile(line: int, lines: list[str]) -> None:
    """The TOML snippets are valid TOML and every expression in them compiles."""
    data = tomli.loads("\n".join(lines) + "\n")
    leaves = _leaves(data)
    assert leaves
    for key, value in leaves:
        if any(key == plain or key.endswith("." + plain) for plain in _PLAIN_SETTINGS):
            continue
        source = str(value).lower() if isinstance(value, bool) else str(value)
        engine.compile_expression(source, variables=STALWART_VARIABLES,
                                  constants=FREQUENCY_CONSTANTS)


def _section(title_start: str) -> str:
    start = DOC_TEXT.index(f"\n## {title_start}")
    end = DOC_TEXT.find("\n## ", start + 1)
    return DOC_TEXT[start:end if end != -1 else len(DOC_TEXT)]


def test_ill_formed_input_table_matches_the_examples() -> None:
    """Each row (input, Stalwart, our message) has an `error` example with that message."""
    errors = {example.expr: example.error for example in EXAMPLES if example.error is not None}
    rows = 0
    for raw in _section("Ill-formed input").split("\n"):
        if not raw.startswith("| `"):
            continue
        cells = [cell.strip().replace("\\|", "|")
                 for cell in re.split(r"(?<!\\)\|", raw.strip())[1:-1]]
        assert len(cells) == 3, raw
        source = cells[0]
        assert source.startswith("`") and source.endswith("`"), raw
        source = source[1:-1]
        assert source in errors, f"no `error` example for {source!r}"
        assert errors[source] == cells[2], (source, errors[source], cells[2])
        rows += 1
    assert rows >= 10


def test_limits_are_the_engine_s() -> None:
    assert f"**{MAX_SOURCE_LENGTH:,} characters**" in DOC_TEXT
    assert f"**{MAX_DEPTH} levels**" in DOC_TEXT
    longest = "'" + "a" * (MAX_SOURCE_LENGTH - 2) + "'"
    assert engine.evaluate(longest) == "a" * (MAX_SOURCE_LENGTH - 2)
    with pytest.raises(engine.ParseError) as info:
        engine.compile_expression(longest + " ")
    assert info.value.message.startswith("expression is too long")


PYTHON_BLOCKS = _fenced_blocks(DOC_TEXT, "python")


@pytest.mark.parametrize(("line", "lines"), PYTHON_BLOCKS,
                         ids=[f"L{n}" for n, _ in PYTHON_BLOCKS])
def test_python_snippets(line: int, lines: list[str]) -> None:
    """The Python snippets are doctests: their shown output is what they print."""
    test = doctest.DocTestParser().get_doctest("\n".join(lines) + "\n", {}, f"expressions.md",
                                               str(DOC), line - 1)
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert runner.failures == 0
