"""AST -> a Python function: constant folding, type specialisation, code generation.

Each expression (or each if/then/else block of a setting) becomes one Python function, built
once from generated source. The generated code is three-address style: every operation stores
its result in a local `tN`, so nesting in the expression never nests brackets in Python.

Safety (the rules of Jinja2's compiler): the generated source holds only literals written with
`repr()`, temporaries `tN`, and names of our own helpers; user text never becomes an
identifier. The function runs with empty `__builtins__`, so no Python name is reachable.

Speed: where operand kinds are known (literals, results of comparisons, arrays) the direct
Python operation is emitted; where they are not, a one-line class test chooses between the
direct operation and the generic helper of `values.py`. Subtrees without variables, captures
or service calls are folded to constants with the same helpers the run time uses, so folding
cannot change a result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import EvalError, Span
from engine.expr import ast, values
from engine.expr.ast import BinaryOp, UnaryOp
from engine.expr.config_values import config_value
from engine.expr.functions import FUNCTIONS
from engine.expr.values import INT_MAX, INT_MIN, Value

_SCALARS: Final = frozenset({str, int, float})
_EMPTY: Final[Mapping[str, Value]] = {}

# Generic fallbacks for each binary operator (used when operand kinds are not known).
_BINARY_HELPERS: Final = {
    BinaryOp.XOR: "_xor", BinaryOp.EQ: "_eq", BinaryOp.NE: "_ne", BinaryOp.LT: "_lt",
    BinaryOp.LE: "_le", BinaryOp.GT: "_gt", BinaryOp.GE: "_ge", BinaryOp.ADD: "_add",
    BinaryOp.SUB: "_sub", BinaryOp.MUL: "_mul", BinaryOp.DIV: "_div",
}
_FOLDERS: Final[Mapping[BinaryOp, Callable[[Value, Value], Value]]] = {
    BinaryOp.XOR: values.logical_xor, BinaryOp.EQ: values.equal, BinaryOp.NE: values.not_equal,
    BinaryOp.LT: values.less, BinaryOp.LE: values.less_equal, BinaryOp.GT: values.greater,
    BinaryOp.GE: values.greater_equal, BinaryOp.ADD: values.add, BinaryOp.SUB: values.subtract,
    BinaryOp.MUL: values.multiply, BinaryOp.DIV: values.divide,
}
_COMPARISONS: Final = {BinaryOp.EQ: "==", BinaryOp.NE: "!=", BinaryOp.LT: "<",
                       BinaryOp.LE: "<=", BinaryOp.GT: ">", BinaryOp.GE: ">="}
_ARITHMETIC: Final = {BinaryOp.ADD: "+", BinaryOp.SUB: "-", BinaryOp.MUL: "*"}


def _read_input(value: object, name: str) -> Value:
    """A variable's value as given by the caller, checked and converted (bool -> int, tuple ->
    list, None -> '')."""
    if value.__class__ is list and all(item.__class__ in _SCALARS for item in value):  # type: ignore[attr-defined]
        return value  # type: ignore[return-value]
    try:
        return values.normalise(value)
    except TypeError as err:
        raise EvalError(f"variable `{name}`: {err}") from None


def _call_service(function: Callable[..., Value], services: object, span: Span,
                  *arguments: Value) -> Value:
    try:
        return function(services, *arguments)
    except EvalError as err:
        raise EvalError(err.message, span) from err.__cause__


def _index_list(items: list[Value], position: int) -> Value:
    return items[position] if position < len(items) else ""


_RUNTIME: Final[dict[str, Any]] = {
    "__builtins__": {},
    "_EMPTY": _EMPTY,
    "_SCALARS": _SCALARS,
    "_MIN": INT_MIN,
    "_MAX": INT_MAX,
    "_INF": float("inf"),
    "_NAN": float("nan"),
    "_input": _read_input,
    "_saturate": values.saturate,
    "_text": values.text,
    "_neg": values.negate,
    "_index": values.index,
    "_index_list": _index_list,
    "_config_get": config_value,
    "_service": _call_service,
    "_len": len,
    "_str": str,
    "_int": int,
    **{helper: getattr(values, {
        "_xor": "logical_xor", "_eq": "equal", "_ne": "not_equal", "_lt": "less",
        "_le": "less_equal", "_gt": "greater", "_ge": "greater_equal", "_add": "add",
        "_sub": "subtract", "_mul": "multiply", "_div": "divide"}[helper])
       for helper in _BINARY_HELPERS.values()},
}


@dataclass(frozen=True, slots=True)
class _Operand:
    """A compiled sub-expression: Python code that is safe to repeat (a temporary or a
    literal) and the kind of its value when known at compile time."""

    code: str
    kind: type | None


class _Unfoldable(Exception):
    """A subtree that must be evaluated at run time."""


class Folder:
    """Constant folding with the run time's own helpers (Jinja2's `as_const` idea)."""

    def __init__(self, config: Mapping[str, str] | None) -> None:
        self.config = config

    def constant(self, node: ast.Node) -> Value:
        """The value of `node` if it is known at compile time; raises _Unfoldable otherwise."""
        if isinstance(node, ast.Literal):
            return node.value
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
                raise _Unfoldable
            return function.implementation(*[self.constant(arg) for arg in node.arguments])
        if isinstance(node, ast.Empty):
            return ""
        raise _Unfoldable  # variables, globals, captures, matches, unbound config_get


def literal_code(value: Value) -> str:
    """Python source for a constant value; lists are rebuilt at every evaluation so that a
    caller mutating a result can never change the constant."""
    cls = value.__class__
    if cls is float:
        if value != value:
            return "_NAN"
        if value in (float("inf"), float("-inf")):
            return "_INF" if value > 0 else "(-_INF)"  # type: ignore[operator]
        return repr(value)
    if cls is list:
        return "[" + ", ".join(literal_code(item) for item in value) + "]"  # type: ignore[union-attr]
    return repr(value)


class _Emitter:
    """Writes the body of one generated function."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.lines: list[str] = []
        self.depth = 1
        self.temps = 0
        self.namespace: dict[str, Any] = {}

    # plumbing
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def bind(self, value: object, prefix: str) -> str:
        name = f"_{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    # expressions
    def emit(self, node: ast.Node) -> _Operand:
        try:
            value = self.folder.constant(node)
        except _Unfoldable:
            pass
        else:
            return _Operand(literal_code(value), value.__class__)
        method: Callable[[Any], _Operand] = getattr(self, "emit_" + type(node).__name__)
        return method(node)

    def emit_Variable(self, node: ast.Variable) -> _Operand:
        return self._read(repr(node.name), "''", node.name)

    def emit_Global(self, node: ast.Global) -> _Operand:
        return self._read(repr("$" + node.name), "0", "$" + node.name)

    def _read(self, key: str, default: str, name: str) -> _Operand:
        target = self.temp()
        self.line(f"{target} = V.get({key}, {default})")
        self.line(f"if {target}.__class__ not in _SCALARS: {target} = _input({target}, "
                  f"{name!r})")
        return _Operand(target, None)

    def emit_Capture(self, node: ast.Capture) -> _Operand:
        target = self.temp()
        self.line(f"{target} = C[{node.group}] if {node.group} < _len(C) else ''")
        return _Operand(target, str)

    def emit_Setting(self, node: ast.Setting) -> _Operand:
        target = self.temp()
        self.line(f"{target} = _config_get(CFG, {node.key!r})")
        return _Operand(target, None)

    def emit_Match(self, node: ast.Match) -> _Operand:
        subject = self.emit(node.subject)
        pattern = self.bind(node.pattern.search, "match")
        if subject.kind is str:
            text = subject.code
        elif subject.kind is None:  # a temporary: test its class at run time
            text = f"({subject.code} if {subject.code}.__class__ is _str else _text({subject.code}))"
        else:
            text = f"_text({subject.code})"
        target = self.temp()
        self.line(f"C = {pattern}({text}) or ()")
        self.line(f"{target} = 1 if C else 0")
        return _Operand(target, int)

    def emit_Unary(self, node: ast.Unary) -> _Operand:
        operand = self.emit(node.operand)
        target = self.temp()
        if node.op is UnaryOp.NOT:
            self.line(f"{target} = 0 if {operand.code} else 1")
            return _Operand(target, int)
        if operand.kind is float:
            self.line(f"{target} = -{operand.code}")
            return _Operand(target, float)
        self.line(f"{target} = _neg({operand.code})")
        return _Operand(target, int if operand.kind in (int, str, list) else None)

    def emit_Binary(self, node: ast.Binary) -> _Operand:
        if node.op in (BinaryOp.AND, BinaryOp.OR):
            return self._short_circuit(node)
        left = self.emit(node.left)
        right = self.emit(node.right)
        target = self.temp()
        op = node.op
        if op in _COMPARISONS:
            return self._compare(op, left, right, target)
        if op in _ARITHMETIC:
            return self._arithmetic(op, left, right, target)
        if op is BinaryOp.XOR:
            self.line(f"{target} = 1 if (not {left.code}) != (not {right.code}) else 0")
            return _Operand(target, int)
        self.line(f"{target} = _div({left.code}, {right.code})")
        return _Operand(target, float)

    def _short_circuit(self, node: ast.Binary) -> _Operand:
        # Stalwart's JumpIf: when the left operand decides, it is the result itself; otherwise
        # the result is 1 or 0 from the right operand. Python's truthiness of str, int, float
        # and list is exactly Stalwart's (NaN is true, -0.0 false).
        left = self.emit(node.left)
        target = self.temp()
        self.line(f"{target} = {left.code}")
        self.line(f"if {'' if node.op is BinaryOp.AND else 'not '}{target}:")
        self.depth += 1
        right = self.emit(node.right)
        self.line(f"{target} = 1 if {right.code} else 0")
        self.depth -= 1
        return _Operand(target, int if left.kind is int else None)

    def _compare(self, op: BinaryOp, left: _Operand, right: _Operand, target: str) -> _Operand:
        symbol = _COMPARISONS[op]
        helper = _BINARY_HELPERS[op]
        direct = f"1 if {left.code} {symbol} {right.code} else 0"
        generic = f"{helper}({left.code}, {right.code})"
        same = _same_plain_kind(left, right)
        if same is not None:
            self.line(f"{target} = {direct}")
        elif left.kind in (str, int) and right.kind is None:
            self.line(f"{target} = ({direct}) if {right.code}.__class__ is "
                      f"_{left.kind.__name__} else {generic}")
        elif right.kind in (str, int) and left.kind is None:
            self.line(f"{target} = ({direct}) if {left.code}.__class__ is "
                      f"_{right.kind.__name__} else {generic}")
        else:
            self.line(f"{target} = {generic}")
        return _Operand(target, int)

    def _arithmetic(self, op: BinaryOp, left: _Operand, right: _Operand,
                    target: str) -> _Operand:
        symbol = _ARITHMETIC[op]
        generic = f"{_BINARY_HELPERS[op]}({left.code}, {right.code})"
        direct = f"{left.code} {symbol} {right.code}"
        same = _same_plain_kind(left, right)
        if same is int:
            self.line(f"{target} = {direct}")
            self._saturate(target)
            return _Operand(target, int)
        if same is float or (op is BinaryOp.ADD and same is str):
            self.line(f"{target} = {direct}")
            return _Operand(target, same)
        # One side known, the other not: test the unknown side's class at run time.
        known, unknown = (left, right) if right.kind is None else (right, left)
        if unknown.kind is None and known.kind is int:
            self.line(f"if {unknown.code}.__class__ is _int:")
            self.line(f"    {target} = {direct}")
            self.line(f"    if not _MIN <= {target} <= _MAX: {target} = _saturate({target})")
            self.line(f"else: {target} = {generic}")
            return _Operand(target, None)
        if unknown.kind is None and known.kind is str and op is BinaryOp.ADD:
            # String + String concatenates; '' on either side gives the other unchanged, which
            # is what concatenation gives too.
            self.line(f"{target} = ({direct}) if {unknown.code}.__class__ is _str else {generic}")
            return _Operand(target, None)
        self.line(f"{target} = {generic}")
        result_kind = str if op is BinaryOp.ADD and str in (left.kind, right.kind) and \
            list not in (left.kind, right.kind) and None not in (left.kind, right.kind) else None
        return _Operand(target, result_kind)

    def _saturate(self, target: str) -> None:
        self.line(f"if not _MIN <= {target} <= _MAX: {target} = _saturate({target})")

    def emit_Call(self, node: ast.Call) -> _Operand:
        function = FUNCTIONS[node.function]
        arguments = [self.emit(argument).code for argument in node.arguments]
        implementation = self.bind(function.implementation, "fn_" + node.function + "_")
        target = self.temp()
        if function.pure:
            self.line(f"{target} = {implementation}({', '.join(arguments)})")
        else:
            span = self.bind(node.span, "span")
            joined = "".join(", " + argument for argument in arguments)
            self.line(f"{target} = _service({implementation}, S, {span}{joined})")
        return _Operand(target, None)

    def emit_Index(self, node: ast.Index) -> _Operand:
        base = self.emit(node.base)
        position = self.emit(node.index)
        target = self.temp()
        if base.kind is list and position.kind is int and not position.code.startswith("-"):
            self.line(f"{target} = _index_list({base.code}, {position.code})")
        else:
            self.line(f"{target} = _index({base.code}, {position.code})")
        return _Operand(target, None)

    def emit_Array(self, node: ast.Array) -> _Operand:
        items = [self.emit(item).code for item in node.items]
        target = self.temp()
        self.line(f"{target} = [{', '.join(items)}]")
        return _Operand(target, list)


def _same_plain_kind(left: _Operand, right: _Operand) -> type | None:
    """The common kind when both operands are known to be of the same str/int/float kind."""
    if left.kind is right.kind and left.kind in (str, int, float):
        return left.kind
    return None


_HEADER: Final = (
    "def {name}(variables=None, config=None, services=None):\n"
    "    V = _EMPTY if variables is None else variables\n"
    "    CFG = config\n"
    "    S = services\n"
    "    C = ()\n"
)


def _build(name: str, emitter: _Emitter) -> Callable[..., Any]:
    source = _HEADER.format(name=name) + "\n".join(emitter.lines) + "\n"
    namespace = dict(_RUNTIME)
    namespace.update(emitter.namespace)
    code = compile(source, f"<expression {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - generated from our own templates, see module doc
    function: Callable[..., Any] = namespace[name]
    function.__doc__ = source  # kept for debugging and `tlsrpt explain`
    return function


def generate(node: ast.Node, config: Mapping[str, str] | None = None) -> tuple[
        Callable[..., Value], Value | None, bool]:
    """Compile one expression. Returns the function, the folded value when the whole
    expression is constant (else None), and whether it is constant."""
    folder = Folder(config)
    try:
        constant = folder.constant(node)
    except _Unfoldable:
        pass
    else:
        emitter = _Emitter(folder)
        emitter.line(f"return {literal_code(constant)}")
        return _build("expression", emitter), constant, True
    emitter = _Emitter(folder)
    result = emitter.emit(node)
    emitter.line(f"return {result.code}")
    return _build("expression", emitter), None, False


def generate_block(rules: Sequence[tuple[ast.Node, ast.Node]], default: ast.Node,
                   config: Mapping[str, str] | None = None,
                   trace: bool = False) -> Callable[..., Any]:
    """Compile an if/then/else block into one function: conditions in order, the first true
    one's value, else the default. Captures are shared by the whole block (spec 12.5).

    With `trace`, the function returns (rule number, value), the default being number
    len(rules), so that callers can say which rule produced a value.
    """
    emitter = _Emitter(Folder(config))
    for number, (condition, value) in enumerate(rules):
        test = emitter.emit(condition)
        emitter.line(f"if {test.code}:")
        emitter.depth += 1
        result = emitter.emit(value)
        emitter.line(f"return ({number}, {result.code})" if trace else f"return {result.code}")
        emitter.depth -= 1
    result = emitter.emit(default)
    emitter.line(f"return ({len(rules)}, {result.code})" if trace else f"return {result.code}")
    return _build("block", emitter)
