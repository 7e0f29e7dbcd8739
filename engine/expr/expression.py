"""The embedding API of the expression language: compile once, evaluate many times."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from engine.expr import ast
from engine.expr.compile import generate
from engine.expr.scope import STALWART_VARIABLES, Scope
from engine.expr.syntax import parse
from engine.expr.values import Value


class Expression:
    """A compiled expression.

    `evaluate(variables=None, config=None, services=None)` returns its value. `variables` maps
    variable names to values (str, int, float, bool, list or tuple of those) and globals under
    their `$NAME` key; `config` maps setting keys to their text for `config_get` (when the
    expression was compiled without one); `services` provides the directory, store, DNS and
    SQL backends of the service functions. The object is immutable and safe to share between
    threads; `evaluate` is the compiled function itself, so calling it costs one call.
    """

    __slots__ = ("source", "node", "scope", "evaluate", "is_constant", "constant", "variables")

    source: str
    node: ast.Node
    scope: Scope
    evaluate: Callable[..., Value]
    is_constant: bool
    constant: Value | None
    variables: frozenset[str]

    def __init__(self, source: str, node: ast.Node, scope: Scope,
                 config: Mapping[str, str] | None = None) -> None:
        function, constant, is_constant = generate(node, config)
        set_ = object.__setattr__
        set_(self, "source", source)
        set_(self, "node", node)
        set_(self, "scope", scope)
        set_(self, "evaluate", function)
        set_(self, "is_constant", is_constant)
        set_(self, "constant", constant)
        set_(self, "variables", frozenset(
            found.name for found in ast.walk(node) if isinstance(found, ast.Variable)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is immutable")

    @property
    def is_empty(self) -> bool:
        """True for an empty source (or `()`): a setting written so has no value."""
        return isinstance(self.node, ast.Empty)

    def __call__(self, variables: Mapping[str, Any] | None = None,
                 config: Mapping[str, str] | None = None, services: Any = None) -> Value:
        return self.evaluate(variables, config, services)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


@functools.lru_cache(maxsize=4096)
def _compile_cached(source: str, scope: Scope) -> Expression:
    return Expression(source, parse(source, scope), scope)


def compile_expression(source: str, variables: Iterable[str] = (),
                       constants: Mapping[str, int] | None = None,
                       config: Mapping[str, str] | None = None) -> Expression:
    """Compile `source` for a setting that may use `variables` and named `constants`.

    With `config` (setting keys to their text), `config_get` is read now and folded into the
    compiled code. Raises `engine.ParseError` (with `.span`) for a syntax error, an unknown or
    out-of-scope name, an unknown function or a wrong number of arguments.

    >>> compile_expression("'noreply-tls@' + rcpt_domain", ["rcpt_domain"]).evaluate(
    ...     {"rcpt_domain": "example.org"})
    'noreply-tls@example.org'
    """
    scope = Scope.of(variables, constants)
    if config is None:
        return _compile_cached(source, scope)
    return Expression(source, parse(source, scope), scope, config)


def evaluate(source: str, variables: Mapping[str, Any] | None = None,
             config: Mapping[str, str] | None = None, services: Any = None) -> Value:
    """Compile `source` with every Stalwart variable allowed (and any other name given in
    `variables`), then evaluate it once.

    >>> evaluate("sort(split(rcpt, ','), false)", {"rcpt": "b,a"})
    ['a', 'b']
    """
    names = set(STALWART_VARIABLES)
    if variables:
        names.update(name for name in variables if not name.startswith("$"))
    expression = compile_expression(source, names, config=config or {})
    return expression.evaluate(variables, config, services)
