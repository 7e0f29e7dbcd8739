"""View functions: several settings resolved for one parameter (a report domain) in one
generated function, every block inlined and constant results precomputed."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import EvalError
from engine.expr import ast
from engine.expr.compile import _RUNTIME, _Emitter, _reads_whole_match
from engine.expr.fold import Folder
from engine.expr.values import Value


@dataclass(frozen=True, slots=True)
class ViewPart:
    """One setting inside a view function (see generate_view).

    `rules` and `default` are the setting's block (`default` None: the setting has no value,
    and the part's result is `empty`). `fixed` gives the variables whose value is known for
    this view ('' for those the context never supplies). A result is a (value, fallback) pair;
    `results` holds one per rule and then the default's, precomputed when that value is a
    constant, or `DYNAMIC`. A dynamic value goes through `convert` (inlined for a `text` or
    `size` result whose kind is known), an evaluation error through `on_error`.
    """

    rules: Sequence[tuple[ast.Node, ast.Node]]
    default: ast.Node | None
    fixed: Mapping[str, Value]
    results: Sequence[Any]
    convert: Callable[[Value], tuple[Any, Any]]
    on_error: Callable[[EvalError], tuple[Any, Any]]
    empty: tuple[Any, Any] = (None, None)
    result_type: str = ""


DYNAMIC: Final[Any] = object()


def generate_view(parts: Sequence[ViewPart], parameter: str, record: type,
                  config: Mapping[str, str] | None = None) -> Callable[..., Any]:
    """One function of one parameter (`parameter`, e.g. rcpt_domain) that resolves several
    settings into a `record` (a NamedTuple of their values, then a tuple of fallbacks): the
    per-domain view of a configuration in one call, blocks inlined, constants precomputed."""
    emitter = _Emitter(Folder(config))
    emitter.parameters = {parameter: "P"}
    emitter.line("if _type(P) is not _str: P = _text(_clean(P))")
    may_fall_back: list[str] = []
    for number, part in enumerate(parts):
        value, fallback = f"R{number}", f"F{number}"
        emitter.folder = Folder(config, part.fixed)
        if part.default is None or (not part.rules and part.results[0] is not DYNAMIC):
            found = part.empty if part.default is None else part.results[0]
            emitter.line(f"{value} = {emitter.bind(found[0], 'value')}")
            if found[1] is not None:
                may_fall_back.append(fallback)
                emitter.line(f"{fallback} = {emitter.bind(found[1], 'fallback')}")
            continue
        may_fall_back.append(fallback)
        nodes = [piece for rule in part.rules for piece in rule] + [part.default]
        emitter.uses_whole_match = _reads_whole_match(nodes)
        if any(isinstance(found, (ast.Match, ast.Capture)) for node in nodes
               for found in ast.walk(node)):
            emitter.line("C = ()" + ("; C0 = ''" if emitter.uses_whole_match else ""))
        convert = emitter.bind(part.convert, "convert")
        emitter.line("try:")
        emitter.depth += 1
        emitter.line("while True:")
        emitter.depth += 1
        for rule, (condition, result) in enumerate(part.rules):
            test = emitter.condition(condition) or emitter.clean(emitter.emit(condition)).code
            emitter.line(f"if {test}:")
            emitter.depth += 1
            _emit_view_result(emitter, part, number, result, part.results[rule], convert)
            emitter.line("break")
            emitter.depth -= 1
        _emit_view_result(emitter, part, number, part.default, part.results[-1], convert)
        emitter.line("break")
        emitter.depth -= 2
        emitter.line("except _EvalError as err:")
        emitter.line(f"    {value}, {fallback} = {emitter.bind(part.on_error, 'on_error')}(err)")
    values = ", ".join(f"R{number}" for number in range(len(parts)))
    make = f"_new({emitter.bind(record, 'record')}, ({values}, ()))"
    if may_fall_back:
        emitter.line(f"if {' is None and '.join(may_fall_back)} is None: return {make}")
        emitter.line(f"return _new({emitter.bind(record, 'record')}, ({values}, "
                     f"_present({', '.join(may_fall_back)})))")
    else:
        emitter.line(f"return {make}")
    signature = "def view(P, services=None):\n"
    body = "\n".join(emitter.lines) + "\n"
    if re.search(r"\bV\b", body):  # a variable outside `parts[].fixed`: none supplied
        body = "    V = _EMPTY\n" + body
    namespace = dict(_RUNTIME)
    namespace["_EvalError"] = EvalError
    namespace["_new"] = tuple.__new__
    namespace["_present"] = _present
    namespace.update(emitter.namespace)
    exec(compile(signature + body, "<view>", "exec"), namespace)  # noqa: S102 - see module doc
    function: Callable[..., Any] = namespace["view"]
    function.__doc__ = signature + body
    return function


def _present(*found: Any) -> tuple[Any, ...]:
    return tuple(item for item in found if item is not None)


def _emit_view_result(emitter: _Emitter, part: ViewPart, number: int, node: ast.Node,
                      result: Any, convert: str) -> None:
    value, fallback = f"R{number}", f"F{number}"
    if result is not DYNAMIC:
        emitter.line(f"{value} = {emitter.bind(result[0], 'value')}; {fallback} = "
                     f"{emitter.bind(result[1], 'fallback') if result[1] else None}")
        return
    found = emitter.clean(emitter.emit(node))
    if part.result_type == "text" and found.kind is str:
        emitter.line(f"{value} = {found.code}; {fallback} = None")
    elif part.result_type == "size" and found.kind is int:
        emitter.line(f"if {found.code} >= 0: {value} = {found.code}; {fallback} = None")
        emitter.line(f"else: {value}, {fallback} = {convert}({found.code})")
    else:
        emitter.line(f"{value}, {fallback} = {convert}({found.code})")
