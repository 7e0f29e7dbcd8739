"""The expression AST: frozen dataclasses, each node with the Span of its source text.

The tree is faithful to the source (no folding here); names are already resolved against the
setting's scope, so a `Variable` is always allowed where it stands and a named constant is a
`Literal` that remembers its name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias, Union

from engine.errors import Span

if TYPE_CHECKING:
    from engine.expr.regex import Pattern
    from engine.expr.values import Value


class BinaryOp(enum.Enum):
    """Binary operators, with Stalwart's symbol and precedence (7 binds tightest)."""

    OR = ("||", 1)
    AND = ("&&", 2)
    XOR = ("^", 3)
    EQ = ("==", 4)
    NE = ("!=", 4)
    LT = ("<", 5)
    LE = ("<=", 5)
    GT = (">", 5)
    GE = (">=", 5)
    ADD = ("+", 6)
    SUB = ("-", 6)
    MUL = ("*", 7)
    DIV = ("/", 7)

    @property
    def symbol(self) -> str:
        return self.value[0]

    @property
    def precedence(self) -> int:
        return self.value[1]


class UnaryOp(enum.Enum):
    NEG = "-"
    NOT = "!"


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    span: Span
    #: the word the author wrote when it was a named constant (`daily`) or a duration (`30d`)
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Global:
    """`$NAME`: a value the caller supplies under the key `$NAME` (0 when unset)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Capture:
    """`$N`: group N of the last `matches` that ran ('' when there is none)."""

    group: int
    span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    """`config_get('key')`: the value of another configuration setting."""

    key: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: BinaryOp
    left: Node
    right: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    arguments: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    base: Node
    index: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Array:
    items: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Match:
    """`matches('pattern', subject)`; the pattern is compiled when the AST is built."""

    pattern: Pattern
    subject: Node
    span: Span
    pattern_span: Span


@dataclass(frozen=True, slots=True)
class Empty:
    """An empty expression (`''`, whitespace or `()`): no value as a whole setting."""

    span: Span


Node: TypeAlias = Union[Literal, Variable, Global, Capture, Setting, Unary, Binary, Call, Index,
                        Array, Match, Empty]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in evaluation order."""
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, (Call, Array)):
        return node.arguments if isinstance(node, Call) else node.items
    if isinstance(node, Index):
        return (node.base, node.index)
    if isinstance(node, Match):
        return (node.subject,)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children, without recursion."""
    found: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(children(current)))
    return found
