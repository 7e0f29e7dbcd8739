"""A tiny reference interpreter: walks `engine.expr.ast` nodes directly (spec sections 6 and 8).

It does no folding and knows nothing of the compiler's specialised code: every operator goes
through the generic helpers of `engine.expr.values`, every call through `FUNCTIONS`, in the
evaluation order of the postfix machine (left operand first, arguments left to right). The
property tests compare compiled evaluation against it, which checks constant folding and the
compiler's type-specialised fast paths.

- `a && b`: the left operand itself when it is falsy, else 1/0 from b; `a || b` likewise
  (6.8, 3.5). b is not evaluated when a decides (so a `matches` in it does not run).
- Captures are one list per evaluation, replaced by each `matches` that runs: the groups on a
  match (`''` for a group that did not take part), empty when there is none (8).
- Unset variables are `''` (10.5), unset globals 0 (10.4); `config_get` reads `config` (9).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.errors import EvalError
from engine.expr import ast, values
from engine.expr.ast import BinaryOp, UnaryOp
from engine.expr.config_values import config_value
from engine.expr.functions import FUNCTIONS
from engine.expr.values import Value

_BINARY = {
    BinaryOp.XOR: values.logical_xor, BinaryOp.EQ: values.equal, BinaryOp.NE: values.not_equal,
    BinaryOp.LT: values.less, BinaryOp.LE: values.less_equal, BinaryOp.GT: values.greater,
    BinaryOp.GE: values.greater_equal, BinaryOp.ADD: values.add, BinaryOp.SUB: values.subtract,
    BinaryOp.MUL: values.multiply, BinaryOp.DIV: values.divide,
}


class Interpreter:
    """One evaluation: holds the variables, the configuration and the capture list."""

    def __init__(self, variables: Mapping[str, Any] | None = None,
                 config: Mapping[str, str] | None = None) -> None:
        self.variables = variables or {}
        self.config = config
        self.captures: list[str] = []

    def read(self, key: str, default: Value) -> Value:
        if key not in self.variables:
            return default
        try:
            return values.normalise(self.variables[key])
        except TypeError as err:
            raise EvalError(f"variable `{key}`: {err}") from None

    def run(self, node: ast.Node) -> Value:
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Variable):
            return self.read(node.name, "")
        if isinstance(node, ast.Global):
            return self.read("$" + node.name, 0)
        if isinstance(node, ast.Capture):
            return self.captures[node.group] if node.group < len(self.captures) else ""
        if isinstance(node, ast.Setting):
            return config_value(self.config, node.key)
        if isinstance(node, ast.Empty):
            return ""
        if isinstance(node, ast.Unary):
            operand = self.run(node.operand)
            if node.op is UnaryOp.NEG:
                return values.negate(operand)
            return values.logical_not(operand)
        if isinstance(node, ast.Binary):
            left = self.run(node.left)
            if node.op is BinaryOp.AND:
                if not values.truthy(left):
                    return left
                return 1 if values.truthy(self.run(node.right)) else 0
            if node.op is BinaryOp.OR:
                if values.truthy(left):
                    return left
                return 1 if values.truthy(self.run(node.right)) else 0
            right = self.run(node.right)
            return _BINARY[node.op](left, right)
        if isinstance(node, ast.Array):
            return [self.run(item) for item in node.items]
        if isinstance(node, ast.Index):
            base = self.run(node.base)
            position = self.run(node.index)
            return values.index(base, position)
        if isinstance(node, ast.Call):
            function = FUNCTIONS[node.function]
            if not function.pure:
                raise NotImplementedError(f"service function {node.function}")
            arguments = [self.run(argument) for argument in node.arguments]
            return function.implementation(*arguments)
        if isinstance(node, ast.Match):
            subject = values.text(self.run(node.subject))
            found = node.pattern.search(subject)
            self.captures = list(found) if found else []
            return 1 if found else 0
        raise TypeError(f"unknown node {node!r}")


def interpret(node: ast.Node, variables: Mapping[str, Any] | None = None,
              config: Mapping[str, str] | None = None) -> Value:
    """The value of `node` by the reference semantics."""
    return Interpreter(variables, config).run(node)


def same_value(left: object, right: object) -> bool:
    """Equal values of the same kinds: NaN equals NaN, 0.0 and -0.0 differ, 1 and 1.0 differ,
    arrays element by element."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_value(a, b) for a, b in zip(left, right))
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left):
            return math.isnan(right)
        return left == right and math.copysign(1.0, left) == math.copysign(1.0, right)
    return left == right
