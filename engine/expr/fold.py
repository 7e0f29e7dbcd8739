"""Constant folding: the value of a subtree known when compiling, with the run time's own
helpers (Jinja2's `as_const` idea), so folding can never change a result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from engine.expr import ast, values
from engine.expr.ast import BinaryOp, UnaryOp
from engine.expr.config_values import config_value
from engine.expr.functions import FUNCTIONS
from engine.expr.values import Value

_FOLDERS: Final[Mapping[BinaryOp, Callable[[Value, Value], Value]]] = {
    BinaryOp.XOR: values.logical_xor, BinaryOp.EQ: values.equal, BinaryOp.NE: values.not_equal,
    BinaryOp.LT: values.less, BinaryOp.LE: values.less_equal, BinaryOp.GT: values.greater,
    BinaryOp.GE: values.greater_equal, BinaryOp.ADD: values.add, BinaryOp.SUB: values.subtract,
    BinaryOp.MUL: values.multiply, BinaryOp.DIV: values.divide,
}

class Unfoldable(Exception):
    """A subtree that must be evaluated at run time."""


class Folder:
    """Constant folding with the run time's own helpers (Jinja2's `as_const` idea)."""

    def __init__(self, config: Mapping[str, str] | None,
                 fixed: Mapping[str, Value] | None = None) -> None:
        self.config = config
        #: variables (and `$globals`) whose value is known when compiling, e.g. the variables a
        #: context never supplies ('' for variables, 0 for globals)
        self.fixed = fixed or {}

    def constant(self, node: ast.Node) -> Value:
        """The value of `node` if it is known at compile time; raises Unfoldable otherwise."""
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Variable) and node.name in self.fixed:
            return self.fixed[node.name]
        if isinstance(node, ast.Global) and "$" in self.fixed:
            return self.fixed["$"]
        if isinstance(node, ast.Setting) and self.config is not None:
            return config_value(self.config, node.key)
        if isinstance(node, ast.Unary):
            operand = self.constant(node.operand)
            return values.negate(operand) if node.op is UnaryOp.NEG else \
                values.logical_not(operand)
        if isinstance(node, ast.Binary):
            left = self.constant(node.left)
            if node.op is BinaryOp.AND:
                return left if not left else int(bool(self.constant(node.right)))
            if node.op is BinaryOp.OR:
                return left if left else int(bool(self.constant(node.right)))
            return _FOLDERS[node.op](left, self.constant(node.right))
        if isinstance(node, ast.Array):
            return [self.constant(item) for item in node.items]
        if isinstance(node, ast.Index):
            return values.index(self.constant(node.base), self.constant(node.index))
        if isinstance(node, ast.Call):
            function = FUNCTIONS[node.function]
            if not function.pure:
                raise Unfoldable
            return function.implementation(*[self.constant(arg) for arg in node.arguments])
        if isinstance(node, ast.Empty):
            return ""
        raise Unfoldable  # variables, globals, captures, matches, unbound config_get


def literal_code(value: Value) -> str:
    """Python source for a constant value; lists are rebuilt at every evaluation so that a
    caller mutating a result can never change the constant."""
    cls = value.__class__
    if cls is float:
        if value != value:
            return "_NAN"
        if value in (float("inf"), float("-inf")):
            return "_INF" if value > 0 else "(-_INF)"
        return repr(value)
    if cls is list:
        return "[" + ", ".join(literal_code(item) for item in value) + "]"  # type: ignore[union-attr]
    return repr(value)
