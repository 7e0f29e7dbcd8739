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

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import EvalError, Span
from engine.expr import ast, values
from engine.expr._unicode import WHITE_SPACE as _WHITE_SPACE
from engine.expr.ast import BinaryOp, UnaryOp
from engine.expr.config_values import config_value
from engine.expr.functions import FUNCTIONS
from engine.expr.fold import Folder, Unfoldable, literal_code
from engine.expr.values import INT_MAX, INT_MIN, Value

_SCALARS: Final = frozenset({str, int, float})
_EMPTY: Final[Mapping[str, Value]] = {}

# Generic fallbacks for each binary operator (used when operand kinds are not known).
_BINARY_HELPERS: Final = {
    BinaryOp.XOR: "_xor", BinaryOp.EQ: "_eq", BinaryOp.NE: "_ne", BinaryOp.LT: "_lt",
    BinaryOp.LE: "_le", BinaryOp.GT: "_gt", BinaryOp.GE: "_ge", BinaryOp.ADD: "_add",
    BinaryOp.SUB: "_sub", BinaryOp.MUL: "_mul", BinaryOp.DIV: "_div",
}
_COMPARISONS: Final = {BinaryOp.EQ: "==", BinaryOp.NE: "!=", BinaryOp.LT: "<",
                       BinaryOp.LE: "<=", BinaryOp.GT: ">", BinaryOp.GE: ">="}
_ARITHMETIC: Final = {BinaryOp.ADD: "+", BinaryOp.SUB: "-", BinaryOp.MUL: "*"}


def _clean(value: object) -> Value:
    """A value as the generic helpers expect it; only non-plain caller values are converted."""
    cls = type(value)  # not value.__class__, which an object can fake
    if cls is str or cls is float:
        return value  # type: ignore[return-value]
    if cls is int:
        return values.saturate(value)  # type: ignore[arg-type]
    if cls is list:
        kinds = set(map(type, value))  # type: ignore[call-overload]
        if kinds <= _SCALARS and (int not in kinds or all(
                INT_MIN <= item <= INT_MAX for item in value if item.__class__ is int)):  # type: ignore[attr-defined]
            return value  # type: ignore[return-value]
    try:
        return values.normalise(value)
    except TypeError as err:
        raise EvalError(f"a variable holds {err}") from None


#: caller kinds whose Python truth is Stalwart's truth of the cleaned value (a bool is the
#: Integer 1 or 0, None is '', an int past 64 bits saturates to a non-zero Integer); lists are
#: not here: their elements must still be checked (_clean refuses some)
_PLAIN_TRUTH: Final = frozenset({str, int, float, bool, type(None)})


def _truth(value: object) -> bool:
    """Stalwart's truth of a caller's value of any other kind (checked by _clean first)."""
    return values.truthy(_clean(value))


def _slow(helper: Callable[[Value, Value], Value], left: object, right: object) -> Value:
    """The generic operator for operands that may come straight from the caller."""
    return helper(_clean(left), _clean(right))


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
    "_saturate": values.saturate,
    "_text": values.text,
    "_neg": values.negate,
    "_index": values.index,
    "_index_list": _index_list,
    "_config_get": config_value,
    "_service": _call_service,
    "_clean": _clean,
    "_truth": _truth,
    "_PT": _PLAIN_TRUTH,
    "_bool": bool,
    "_MISS": object(),  # a table lookup's "not found"
    "_slow": _slow,
    "_len": len,
    "_type": type,  # not x.__class__, which an object can fake
    "_str": str,
    "_int": int,
    "_float": float,
    "_list": list,
    "_WS": _WHITE_SPACE,
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
    #: straight from the caller's variables: may be a bool, tuple, None... until cleaned
    raw: bool = False
    #: known to be exactly the Integer 1 or 0 (a comparison or a predicate)
    flag: bool = False


class _Emitter:
    """Writes the body of one generated function."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.lines: list[str] = []
        self.depth = 1
        self.temps = 0
        self.namespace: dict[str, Any] = {}
        #: whether some `$0` is read: only then does a match keep its whole text
        self.uses_whole_match = False
        self.in_chain_fallback = False
        #: variables passed to a view function as parameters (name -> local name)
        self.parameters: Mapping[str, str] = {}

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
        except Unfoldable:
            pass
        else:
            return _Operand(literal_code(value), value.__class__)
        method: Callable[[Any], _Operand] = getattr(self, "emit_" + type(node).__name__)
        return method(node)

    def read_code(self, node: ast.Variable | ast.Global) -> str:
        """Python code for a variable's value as the caller gave it (unchecked)."""
        if isinstance(node, ast.Variable):
            if node.name in self.parameters:
                return self.parameters[node.name]
            return f"V.get({node.name!r}, '')"
        return f"V.get({'$' + node.name!r}, 0)"

    def emit_Variable(self, node: ast.Variable) -> _Operand:
        if node.name in self.parameters:  # a parameter of a view function: a checked str
            return _Operand(self.parameters[node.name], str)
        return self._read(repr(node.name), "''", node.name)

    def emit_Global(self, node: ast.Global) -> _Operand:
        return self._read(repr("$" + node.name), "0", "$" + node.name)

    def _read(self, key: str, default: str, name: str) -> _Operand:
        # No check here: operators test the exact class on their fast path anyway, and every
        # other consumer cleans the value first (`clean`), so plain values pay nothing.
        target = self.temp()
        self.line(f"{target} = V.get({key}, {default})")
        return _Operand(target, None, raw=True)

    def clean(self, operand: _Operand) -> _Operand:
        """Make a raw operand one of the four kinds (converting or refusing other values)."""
        if not operand.raw:
            return operand
        code = operand.code
        # Integers from the caller may exceed 64 bits: _clean saturates them.
        # A bool (the commonest caller value after str) is the Integer 1 or 0: `+` gives it.
        self.line(f"if _type({code}) not in _SCALARS: "
                  f"{code} = +{code} if _type({code}) is _bool else _clean({code})")
        self.line(f"elif _type({code}) is _int and not {INT_MIN} <= {code} <= {INT_MAX}: "
                  f"{code} = _clean({code})")
        return _Operand(code, None)

    def slow(self, helper: str, left: _Operand, right: _Operand) -> str:
        if left.raw or right.raw:
            return f"_slow({helper}, {left.code}, {right.code})"
        return f"{helper}({left.code}, {right.code})"

    # Captures live in two locals: C0, the whole match, and C, the groups' texts ('' for a
    # group that did not take part). A failed match leaves C0 = '' and C = () (spec 8).
    def emit_Capture(self, node: ast.Capture) -> _Operand:
        if node.group == 0:
            return _Operand("C0", str)  # only rebound by a later `matches`: safe to read as is
        target = self.temp()
        self.line(f"{target} = C[{node.group - 1}] if _len(C) >= {node.group} else ''")
        return _Operand(target, str)

    def emit_Setting(self, node: ast.Setting) -> _Operand:
        target = self.temp()
        self.line(f"{target} = _config_get(config, {node.key!r})")
        return _Operand(target, None)

    def emit_Match(self, node: ast.Match) -> _Operand:
        subject = self.emit(node.subject)
        if subject.kind is str:
            text = subject.code
        elif subject.kind is None:  # a temporary: test its class at run time
            other = f"_clean({subject.code})" if subject.raw else subject.code
            text = f"({subject.code} if _type({subject.code}) is _str else _text({other}))"
        else:
            text = f"_text({subject.code})"
        target = self.temp()
        python = node.pattern.python_search
        # Both engines' match objects answer group() and groups(default).
        linear = self.bind(node.pattern.re2_search, "re2search")
        if python is None:
            self.line(f"m = {linear}({text})")
        else:
            search = self.bind(python, "research")
            held = self.temp()
            self.line(f"{held} = {text}")
            self.line(f"m = {search}({held}) if _len({held}) <= "
                      f"{node.pattern.python_limit} else {linear}({held})")
        keep, clear = ("; C0 = m.group()", "; C0 = ''") if self.uses_whole_match else ("", "")
        self.line(f"if m is not None: C = m.groups(''){keep}; {target} = 1")
        self.line(f"else: C = (){clear}; {target} = 0")
        return _Operand(target, int, flag=True)

    def emit_Unary(self, node: ast.Unary) -> _Operand:
        if node.op is UnaryOp.NOT:
            truth = self.condition(node.operand, truth_only=True)
            if truth is not None:
                target = self.temp()
                self.line(f"{target} = 0 if {truth} else 1")
                return _Operand(target, int, flag=True)
        operand = self.clean(self.emit(node.operand))
        target = self.temp()
        if node.op is UnaryOp.NOT:
            self.line(f"{target} = 0 if {operand.code} else 1")
            return _Operand(target, int, flag=True)
        if operand.kind is float:
            self.line(f"{target} = -{operand.code}")
            return _Operand(target, float)
        self.line(f"{target} = _neg({operand.code})")
        # A String's numeric view may be a Float ('2.5'), so only an Integer stays one.
        return _Operand(target, int if operand.kind is int else None)

    # conditions ---------------------------------------------------------------------------
    # Comparisons of a variable with a literal, predicates on a variable, and their `&&`, `||`
    # and `!` give 1 or 0 at every step, so they can be written as one Python boolean
    # expression (temporaries bound with `:=`): no statements, no intermediate 1/0 values.

    def condition(self, node: ast.Node, truth_only: bool = False) -> str | None:
        """A Python expression with the truth of `node`, or None if `node` is not that simple.

        Without `truth_only` the expression's truth must also give the node's value as 1 or
        0, so a bare variable may only stand where its value is never the result: the right
        side of `&&`/`||` (the result is then 1 or 0 of its truth) or under `!`."""
        if isinstance(node, ast.Binary):
            if node.op in (BinaryOp.AND, BinaryOp.OR):
                left = self.condition(node.left, truth_only)
                right = self.condition(node.right, True) if left is not None else None
                if right is None:
                    return None
                return f"({left} {'and' if node.op is BinaryOp.AND else 'or'} {right})"
            if node.op in _COMPARISONS:
                return self._comparison_condition(node)
            return None
        if isinstance(node, ast.Unary) and node.op is UnaryOp.NOT:
            inner = self.condition(node.operand, True)
            return None if inner is None else f"(not {inner})"
        if isinstance(node, ast.Call):
            return self._predicate_condition(node)
        if truth_only and isinstance(node, (ast.Variable, ast.Global)):
            return self.truth_code(node)
        return None

    def truth_code(self, node: ast.Variable | ast.Global) -> str:
        """The truth of a variable: Python's own for the plain kinds, else after _clean."""
        if isinstance(node, ast.Variable) and node.name in self.parameters:
            return self.parameters[node.name]  # a checked str
        temp = self.temp()
        return f"({temp} if _type({temp} := {self.read_code(node)}) in _PT else _truth({temp}))"

    def _literal(self, node: ast.Node) -> _Operand | None:
        try:
            value = self.folder.constant(node)
        except Unfoldable:
            return None
        if value.__class__ is list:
            return None
        return _Operand(literal_code(value), value.__class__)

    def _comparison_condition(self, node: ast.Binary) -> str | None:
        op = node.op
        symbol = _COMPARISONS[op]
        helper = _BINARY_HELPERS[op]
        literal = self._literal(node.right)
        subject = node.left
        if literal is None:
            literal = self._literal(node.left)
            subject = node.right
        if literal is None or literal.kind not in (str, int):
            return None
        if literal.kind is int and isinstance(subject, ast.Call) and subject.function == "count" \
                and isinstance(subject.arguments[0], (ast.Variable, ast.Global)):
            # count() is always an in-range Integer: compare it directly.
            temp = self.temp()
            count = self.bind(FUNCTIONS["count"].implementation, "fn_count_")
            counted = (f"(_len({temp}) if _type({temp} := "
                       f"{self.read_code(subject.arguments[0])}) is _list "
                       f"else {count}(_clean({temp})))")
            left, right = (counted, literal.code) if subject is node.left else \
                (literal.code, counted)
            return f"({left} {symbol} {right})"
        if isinstance(subject, ast.Variable) and subject.name in self.parameters \
                and literal.kind is str:
            # A view's parameter is a checked str: compare it directly.
            code = self.parameters[subject.name]
            left, right = (code, literal.code) if subject is node.left else (literal.code, code)
            return f"({left} {symbol} {right})"
        read = self._raw_value_code(subject)
        if read is None:
            return None
        temp = self.temp()
        left, right = (temp, literal.code) if subject is node.left else (literal.code, temp)
        test = f"_type({temp} := {read}) is _{literal.kind.__name__}"
        if literal.kind is int and _literal_number(literal) in (INT_MIN, INT_MAX):
            # Only a comparison with the bounds can tell a caller's too-large integer from
            # its saturated value.
            test += f" and {INT_MIN} <= {temp} <= {INT_MAX}"
        return f"({left} {symbol} {right} if {test} else _slow({helper}, {left}, {right}))"

    def _raw_value_code(self, node: ast.Node) -> str | None:
        """An expression for a variable's value, or for `variable[N]`, unchecked (raw)."""
        if isinstance(node, (ast.Variable, ast.Global)):
            return self.read_code(node)
        if isinstance(node, ast.Index) and isinstance(node.base, ast.Variable):
            position = self._literal(node.index)
            if position is None or position.kind is not int or not position.code.isdigit():
                return None
            items = self.temp()
            present = items if position.code == "0" else f"{position.code} < _len({items})"
            return (f"(({items}[{position.code}] if {present} else '') "
                    f"if _type({items} := {self.read_code(node.base)}) is _list "
                    f"else _index(_clean({items}), {position.code}))")
        return None

    def _predicate_condition(self, node: ast.Call) -> str | None:
        inline = _TEXT_INLINE.get(node.function)
        if node.function not in _FLAG_RESULTS:
            return None
        implementation = self.bind(FUNCTIONS[node.function].implementation,
                                   "fn_" + node.function + "_")
        if node.function == "contains" and _is_string_array(node.arguments[0]) and isinstance(
                node.arguments[1], (ast.Variable, ast.Global)):
            members = self.bind(_members(self.folder.constant(node.arguments[0])), "members")
            temp = self.temp()
            listed = literal_code(self.folder.constant(node.arguments[0]))
            return (f"({temp} in {members} if _type({temp} := "
                    f"{self.read_code(node.arguments[1])}) is _str "
                    f"else {implementation}({listed}, _clean({temp})))")
        if inline is None:
            return None
        codes: list[str] = []
        reads: list[str] = []
        for argument in node.arguments:
            literal = self._literal(argument)
            if literal is not None and literal.kind is str:
                codes.append(literal.code)
            elif isinstance(argument, ast.Variable) and argument.name in self.parameters:
                codes.append(self.parameters[argument.name])
            elif isinstance(argument, (ast.Variable, ast.Global)) and not reads:
                temp = self.temp()
                reads.append(f"_type({temp} := {self.read_code(argument)}) is _str")
                codes.append(temp)
            else:
                return None
        if not reads:
            if any(code in self.parameters.values() for code in codes):
                return f"({inline.format(*codes)})"
            return None
        cleaned = ", ".join(f"_clean({code})" if code.startswith("t") else code
                            for code in codes)
        return f"(({inline.format(*codes)}) if {reads[0]} else {implementation}({cleaned}))"

    def emit_Binary(self, node: ast.Binary) -> _Operand:
        condition = self.condition(node)
        if condition is not None:
            target = self.temp()
            self.line(f"{target} = 1 if {condition} else 0")
            return _Operand(target, int, flag=True)
        if node.op in (BinaryOp.AND, BinaryOp.OR):
            return self._short_circuit(node)
        if (node.op in _ARITHMETIC or node.op is BinaryOp.DIV) and not self.in_chain_fallback:
            chain = self._integer_chain(node)
            if chain is not None:
                return chain
        return self._binary(node)

    def _integer_chain(self, node: ast.Binary) -> _Operand | None:
        """`+`, `-`, `*` over variables and integer literals as one Python expression, guarded
        by a bound on the variables under which no intermediate result can leave the 64-bit
        range (interval arithmetic at compile time): no saturation check is then needed."""
        leaves: list[tuple[ast.Variable | ast.Global, str]] = []

        def source(part: ast.Node) -> str | None:
            literal = self._literal(part)
            if literal is not None:
                finite = _literal_number(literal)
                return None if finite is None else literal.code
            if isinstance(part, (ast.Variable, ast.Global)):
                temp = self.temp()
                leaves.append((part, temp))
                return temp
            if isinstance(part, ast.Binary) and part.op in _ARITHMETIC:
                left, right = source(part.left), source(part.right)
                if left is None or right is None:
                    return None
                return f"({left} {_ARITHMETIC[part.op]} {right})"
            if isinstance(part, ast.Binary) and part.op is BinaryOp.DIV:
                # Division by a non-zero literal: both sides become floats, as in Stalwart.
                divisor = self._literal(part.right)
                value = _literal_number(divisor) if divisor is not None else None
                left = source(part.left)
                if left is None or not value:
                    return None
                return f"({left} / {float(value)!r})"
            return None

        expression = source(node)
        if expression is None or not leaves:
            return None
        bound = _safe_bound(node, self)
        if bound is None:
            return None
        target = self.temp()
        guards = []
        for leaf, temp in leaves:
            self.line(f"{temp} = {self.read_code(leaf)}")
            guards.append(f"_type({temp}) is _int and {-bound} <= {temp} <= {bound}")
        self.line(f"if {' and '.join(guards)}: {target} = {expression}")
        self.line("else:")
        self.depth += 1
        self.in_chain_fallback = True  # the general code, step by step, below
        fallback = self.clean(self._binary(node))
        self.in_chain_fallback = False
        self.line(f"{target} = {fallback.code}")
        self.depth -= 1
        return _Operand(target, None)

    def _binary(self, node: ast.Binary) -> _Operand:
        left = self.emit(node.left)
        right = self.emit(node.right)
        target = self.temp()
        op = node.op
        if op in _COMPARISONS:
            return self._compare(op, left, right, target)
        if op in _ARITHMETIC:
            return self._arithmetic(op, left, right, target)
        if op is BinaryOp.XOR:
            left, right = self.clean(left), self.clean(right)
            self.line(f"{target} = 1 if (not {left.code}) != (not {right.code}) else 0")
            return _Operand(target, int, flag=True)
        return self._divide(left, right, target)

    def _divide(self, left: _Operand, right: _Operand, target: str) -> _Operand:
        # Both numbers: Stalwart converts each to a float, then divides; 0 divisors give 0.0.
        generic = self.slow("_div", left, right)
        divisor = right.code
        if _literal_number(right) is not None and left.kind is not list:
            if _literal_number(right) == 0.0:
                self.line(f"{target} = 0.0 if {_is_number(left)} else {generic}")
                return _Operand(target, float)
            divisor = repr(float(_literal_number(right)))  # type: ignore[arg-type]
            if left.kind in (int, float):
                self.line(f"{target} = {left.code} / {divisor}")
            else:
                self.line(f"{target} = ({left.code} / {divisor}) if {_is_number(left)} "
                          f"else {generic}")
            return _Operand(target, float)
        self.line(f"{target} = {generic}")
        return _Operand(target, float)

    def _short_circuit(self, node: ast.Binary) -> _Operand:
        # Stalwart's JumpIf: when the left operand decides, it is the result itself; otherwise
        # the result is 1 or 0 from the right operand. Python's truthiness of str, int, float
        # and list is exactly Stalwart's (NaN is true, -0.0 false).
        left = self.clean(self.emit(node.left))
        if left.code.startswith("t"):
            target = left.code  # a temporary of this node alone: reuse it
        else:
            target = self.temp()
            self.line(f"{target} = {left.code}")
        truth = self.condition(node.right, truth_only=True)
        if truth is not None:  # the right side's 1 or 0 in one line
            self.line(f"if {'' if node.op is BinaryOp.AND else 'not '}{target}: "
                      f"{target} = 1 if {truth} else 0")
            return _Operand(target, int if left.kind is int else None, flag=left.flag)
        self.line(f"if {'' if node.op is BinaryOp.AND else 'not '}{target}:")
        self.depth += 1
        right = self.clean(self.emit(node.right))
        self.line(f"{target} = {right.code}" if right.flag else
                  f"{target} = 1 if {right.code} else 0")
        self.depth -= 1
        return _Operand(target, int if left.kind is int else None, flag=left.flag)

    def _compare(self, op: BinaryOp, left: _Operand, right: _Operand, target: str) -> _Operand:
        symbol = _COMPARISONS[op]
        helper = _BINARY_HELPERS[op]
        direct = f"1 if {left.code} {symbol} {right.code} else 0"
        generic = self.slow(helper, left, right)
        same = _same_plain_kind(left, right)
        if same is not None:
            self.line(f"{target} = {direct}")
        elif left.kind in (str, int) and right.kind is None:
            self.line(f"{target} = ({direct}) if {_is_kind(right, left.kind)} else {generic}")
        elif right.kind in (str, int) and left.kind is None:
            self.line(f"{target} = ({direct}) if {_is_kind(left, right.kind)} else {generic}")
        elif left.kind is None and right.kind is None:
            # Two strings compare as Python strings (6.9, 6.10); every other pair: the helper.
            self.line(f"{target} = ({direct}) if _type({left.code}) is _str and "
                      f"_type({right.code}) is _str else {generic}")
        else:
            self.line(f"{target} = {generic}")
        return _Operand(target, int, flag=True)

    def _arithmetic(self, op: BinaryOp, left: _Operand, right: _Operand,
                    target: str) -> _Operand:
        symbol = _ARITHMETIC[op]
        generic = self.slow(_BINARY_HELPERS[op], left, right)
        direct = f"{left.code} {symbol} {right.code}"
        same = _same_plain_kind(left, right)
        if same is int:
            self.line(f"{target} = {direct}")
            self._saturate(target)
            return _Operand(target, int)
        if same is float or (op is BinaryOp.ADD and same is str):
            self.line(f"{target} = {direct}")
            return _Operand(target, same)
        if {left.kind, right.kind} == {int, float}:
            self.line(f"{target} = {direct}")  # Python converts the int to float, as Stalwart
            return _Operand(target, float)
        known, unknown = (left, right) if right.kind is None else (right, left)
        if unknown.kind is not None:
            self.line(f"{target} = {generic}")
            return _Operand(target, None)
        if known.kind is int:
            # int with int stays an int (saturated); int with float is a float operation.
            self.line(f"if {_is_kind(unknown, int)}:")
            self.line(f"    {target} = {direct}")
            self.line(f"    if not {INT_MIN} <= {target} <= {INT_MAX}: "
                      f"{target} = _saturate({target})")
            self.line(f"elif _type({unknown.code}) is _float: {target} = {direct}")
            self.line(f"else: {target} = {generic}")
            return _Operand(target, None)
        if known.kind is float:
            self.line(f"{target} = ({direct}) if {_is_number(unknown)} else {generic}")
            return _Operand(target, None)
        if known.kind is str and op is BinaryOp.ADD:
            # String + String concatenates; '' on either side gives the other unchanged, which
            # is what concatenation gives too.
            self.line(f"{target} = ({direct}) if _type({unknown.code}) is _str else {generic}")
            return _Operand(target, None)
        if known.kind is None:  # both unknown: try the commonest kinds first
            if op is BinaryOp.ADD:
                self.line(f"{target} = ({direct}) if _type({left.code}) is _str and "
                          f"_type({right.code}) is _str else {generic}")
            else:
                self.line(f"{target} = {generic}")
            return _Operand(target, None)
        self.line(f"{target} = {generic}")
        return _Operand(target, None)

    def _saturate(self, target: str) -> None:
        self.line(f"if not {INT_MIN} <= {target} <= {INT_MAX}: {target} = _saturate({target})")

    def emit_Call(self, node: ast.Call) -> _Operand:
        function = FUNCTIONS[node.function]
        operands = [self.emit(argument) for argument in node.arguments]
        target = self.temp()
        implementation = self.bind(function.implementation, "fn_" + node.function + "_")
        if node.function == "if_then":
            # Every argument is already evaluated (no laziness in Stalwart): pick one.
            first, then, otherwise = operands[0], self.clean(operands[1]), \
                self.clean(operands[2])
            if first.raw:  # only its truth matters: no cleaning for the plain kinds
                test = f"({first.code} if _type({first.code}) in _PT else _truth({first.code}))"
            else:
                test = self.clean(first).code
            self.line(f"{target} = {then.code} if {test} else {otherwise.code}")
            kind = then.kind if then.kind is otherwise.kind else None
            return _Operand(target, kind, flag=then.flag and otherwise.flag)
        if node.function == "count" and operands[0].kind in (None, list):
            # Only the length of a list matters: its elements need no check.
            argument = operands[0]
            slow = f"_clean({argument.code})" if argument.raw else argument.code
            self.line(f"{target} = _len({argument.code}) if _type({argument.code}) is _list "
                      f"else {implementation}({slow})")
            return _Operand(target, int)
        inline = _TEXT_INLINE.get(node.function)
        if node.function == "email_part" and isinstance(node.arguments[1], ast.Literal) and \
                node.arguments[1].value in ("local", "domain"):
            side = 0 if node.arguments[1].value == "local" else 2
            inline = ("({0}.rpartition('@')[%d].strip(_WS) if '@' in {0} else '')" % side)
            operands = operands[:1] + [_Operand(repr(node.arguments[1].value), str)]
        splits = node.function == "split" and isinstance(node.arguments[1], ast.Literal) and \
            isinstance(node.arguments[1].value, str) and node.arguments[1].value != ""
        if splits:
            # A non-empty separator splits a String as str.split does (an empty one is
            # Rust's split at every character: the implementation's).
            inline = "{0}.split({1})"
        if inline is not None and all(op.kind in (str, None) for op in operands):
            # The text functions on plain strings are one str method; other kinds (arrays are
            # mapped, numbers go through text()) take the implementation.
            unknown = [op.code for op in operands if op.kind is None]
            fast = inline.format(*(op.code for op in operands))
            if not unknown:
                self.line(f"{target} = {fast}")
            else:
                test = " and ".join(f"_type({code}) is _str" for code in unknown)
                cleaned = ", ".join(f"_clean({op.code})" if op.raw else op.code
                                    for op in operands)
                self.line(f"{target} = ({fast}) if {test} else {implementation}({cleaned})")
                # The implementation maps arrays: the result kind is only known on the fast path
                # (split always gives an Array).
                return _Operand(target, list if splits else None)
            if splits:
                return _Operand(target, list)
            kind = _INLINE_KINDS.get(node.function, int)
            return _Operand(target, kind, flag=kind is int)
        if node.function == "contains" and _is_string_array(node.arguments[0]):
            members = self.bind(_members(self.folder.constant(node.arguments[0])), "members")
            needle = operands[1]
            cleaned = f"_clean({needle.code})" if needle.raw else needle.code
            if needle.kind is str:
                self.line(f"{target} = 1 if {needle.code} in {members} else 0")
            else:
                self.line(f"{target} = (1 if {needle.code} in {members} else 0) if "
                          f"_type({needle.code}) is _str else "
                          f"{implementation}({operands[0].code}, {cleaned})")
            return _Operand(target, int)
        arguments = [self.clean(op).code for op in operands]
        if function.pure:
            self.line(f"{target} = {implementation}({', '.join(arguments)})")
            if node.function in _INTEGER_RESULTS:
                return _Operand(target, int, flag=node.function in _FLAG_RESULTS)
        else:
            span = self.bind(node.span, "span")
            joined = "".join(", " + argument for argument in arguments)
            self.line(f"{target} = _service({implementation}, services, {span}{joined})")
        return _Operand(target, None)

    def emit_Index(self, node: ast.Index) -> _Operand:
        base = self.emit(node.base)
        position = self.clean(self.emit(node.index))
        target = self.temp()
        position_is_natural = position.flag or (position.kind is int and position.code.isdigit())
        if position_is_natural and base.kind in (list, None):
            # A caller's list is not checked here: the element taken from it is marked raw,
            # and whoever consumes it checks that one value only.
            element = f"({base.code}[{position.code}] if {position.code} < _len({base.code}) " \
                      "else '')"
            if base.kind is list:
                self.line(f"{target} = {element}")
            else:
                slow = f"_clean({base.code})" if base.raw else base.code
                self.line(f"{target} = {element} if _type({base.code}) is _list "
                          f"else _index({slow}, {position.code})")
            return _Operand(target, None, raw=base.raw)
        base = self.clean(base)
        self.line(f"{target} = _index({base.code}, {position.code})")
        return _Operand(target, None)

    def emit_Array(self, node: ast.Array) -> _Operand:
        items = [self.clean(self.emit(item)).code for item in node.items]
        target = self.temp()
        self.line(f"{target} = [{', '.join(items)}]")
        return _Operand(target, list)


# Text functions that are one `str` method when every argument is a plain string. Results
# are the same as the implementations' (tests/expr/test_compile.py checks each against them).
_TEXT_INLINE: Final = {
    "starts_with": "1 if {0}.startswith({1}) else 0",
    "ends_with": "1 if {0}.endswith({1}) else 0",
    "contains": "1 if {1} in {0} else 0",
    "to_lowercase": "{0}.lower()",
    "to_uppercase": "{0}.upper()",
    "trim": "{0}.strip(_WS)",
    "trim_start": "{0}.lstrip(_WS)",
    "trim_end": "{0}.rstrip(_WS)",
    "is_empty": "1 if {0} == '' else 0",
}
_INLINE_KINDS: Final = {"to_lowercase": str, "to_uppercase": str, "trim": str,
                        "trim_start": str, "trim_end": str, "email_part": str}
# Functions whose result is always an Integer, whatever their arguments (the mapped
# predicates such as is_uppercase are not: they return an array for an array).
_FLAG_RESULTS: Final = frozenset({
    "is_empty", "is_number", "is_email", "is_ip_addr", "is_ipv4_addr", "is_ipv6_addr",
    "is_intersect", "contains", "contains_ignore_case", "eq_ignore_case", "starts_with",
    "ends_with"})
_INTEGER_RESULTS: Final = _FLAG_RESULTS | {
    "count", "len", "count_spaces", "count_uppercase", "count_lowercase", "count_chars"}


def _is_string_array(node: ast.Node) -> bool:
    return isinstance(node, ast.Array) and all(
        isinstance(item, ast.Literal) and isinstance(item.value, str) for item in node.items)


def _members(value: Value) -> frozenset[Value]:
    """The elements of a string array's constant (see `_is_string_array`), for `in` tests."""
    assert isinstance(value, list)  # an ast.Array folds to a list
    return frozenset(value)


def _interval(node: ast.Node, emitter: _Emitter, bound: int) -> tuple[int, int] | None:
    """The range of an integer chain when every variable lies in [-bound, bound], or None if
    some intermediate result may leave the 64-bit range."""
    literal = emitter._literal(node)
    if literal is not None:
        value = _literal_number(literal)
        return _FLOATING if literal.kind is float else (value, value)  # type: ignore[return-value]
    if isinstance(node, (ast.Variable, ast.Global)):
        return -bound, bound
    assert isinstance(node, ast.Binary)
    if node.op is BinaryOp.DIV:
        # A float from here on: floats do not saturate (they overflow to infinity, which
        # Python's float operators also give), so only the integer part below is bounded.
        return _FLOATING if _interval(node.left, emitter, bound) is not None else None
    left = _interval(node.left, emitter, bound)
    right = _interval(node.right, emitter, bound)
    if left is None or right is None:
        return None
    if left is _FLOATING or right is _FLOATING:
        return _FLOATING
    if node.op is BinaryOp.ADD:
        low, high = left[0] + right[0], left[1] + right[1]
    elif node.op is BinaryOp.SUB:
        low, high = left[0] - right[1], left[1] - right[0]
    else:
        products = [a * b for a in left for b in right]
        low, high = min(products), max(products)
    return (low, high) if INT_MIN <= low and high <= INT_MAX else None


_FLOATING: Final = (0, 0)  # marks a float-valued part of a chain (compared by identity)


def _safe_bound(node: ast.Node, emitter: _Emitter) -> int | None:
    """The largest power of two that keeps the chain in range (see _integer_chain)."""
    for exponent in range(62, -1, -1):
        if _interval(node, emitter, 1 << exponent) is not None:
            return 1 << exponent
    return None


def _reads_whole_match(nodes: Sequence[ast.Node]) -> bool:
    return any(isinstance(found, ast.Capture) and found.group == 0
               for node in nodes for found in ast.walk(node))





def _is_kind(operand: _Operand, kind: type) -> str:
    """Run-time test that an operand of unknown kind is a plain `kind` (a caller's integer
    must also fit in 64 bits; ours always do)."""
    test = f"_type({operand.code}) is _{kind.__name__}"
    if kind is int and operand.raw:
        test += f" and {INT_MIN} <= {operand.code} <= {INT_MAX}"
    return test


def _is_number(operand: _Operand) -> str:
    return f"({_is_kind(operand, int)} or _type({operand.code}) is _float)"


def _literal_number(operand: _Operand) -> int | float | None:
    """The value of a finite number literal written by `literal_code`, else None."""
    if operand.kind not in (int, float):
        return None
    try:
        return float(operand.code) if operand.kind is float else int(operand.code)
    except ValueError:  # a temporary, or _INF/_NAN
        return None


def _same_plain_kind(left: _Operand, right: _Operand) -> type | None:
    """The common kind when both operands are known to be of the same str/int/float kind."""
    if left.kind is right.kind and left.kind in (str, int, float):
        return left.kind
    return None


_SIGNATURE: Final = "def {name}(variables=None, config=None, services=None):\n"
# Locals set up only when the body uses them: each line costs on every evaluation.
_PROLOGUE: Final = (
    (re.compile(r"\bV\b"), "    V = _EMPTY if variables is None else variables\n"),
    (re.compile(r"\bC\b"), "    C = ()\n"),
    (re.compile(r"\bC0\b"), "    C0 = ''\n"),
)


def _build(name: str, emitter: _Emitter) -> Callable[..., Any]:
    return _build_many(emitter, {name: emitter.lines})[name]


def _build_many(emitter: _Emitter, bodies: Mapping[str, Sequence[str]]) -> dict[
        str, Callable[..., Any]]:
    """Functions of the same namespace, built by one `compile()` (one per name)."""
    sources: dict[str, str] = {}
    for name, lines in bodies.items():
        body = "\n".join(lines) + "\n"
        prologue = "".join(line for used, line in _PROLOGUE if used.search(body))
        sources[name] = _SIGNATURE.format(name=name) + prologue + body
    namespace = dict(_RUNTIME)
    namespace.update(emitter.namespace)
    first = next(iter(bodies))
    code = compile("".join(sources.values()), f"<expression {first}>", "exec")
    exec(code, namespace)  # noqa: S102 - generated from our own templates, see module doc
    functions: dict[str, Callable[..., Any]] = {}
    for name, source in sources.items():
        function: Callable[..., Any] = namespace[name]
        function.__doc__ = source  # kept for debugging and `tlsrpt explain`
        functions[name] = function
    return functions


def generate(node: ast.Node, config: Mapping[str, str] | None = None) -> tuple[
        Callable[..., Value], Value | None, bool]:
    """Compile one expression. Returns the function, the folded value when the whole
    expression is constant (else None), and whether it is constant."""
    folder = Folder(config)
    try:
        constant = folder.constant(node)
    except Unfoldable:
        pass
    else:
        emitter = _Emitter(folder)
        emitter.line(f"return {literal_code(constant)}")
        return _build("expression", emitter), constant, True
    emitter = _Emitter(folder)
    emitter.uses_whole_match = _reads_whole_match((node,))
    result = emitter.clean(emitter.emit(node))
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
    plain, traced = generate_block_pair(rules, default, config)
    return traced if trace else plain


def generate_block_pair(rules: Sequence[tuple[ast.Node, ast.Node]], default: ast.Node,
                        config: Mapping[str, str] | None = None) -> tuple[
                            Callable[..., Value], Callable[..., tuple[int, Value]]]:
    """Both forms of a block from one code generation: the function returning the value
    (what resolution calls) and the one returning (rule number, value) (what `explain` and
    the typed views call). They differ only in their `return` lines."""
    emitter = _Emitter(Folder(config))
    emitter.uses_whole_match = _reads_whole_match(
        [part for rule in rules for part in rule] + [default])
    returns: list[tuple[int, int, str]] = []  # (line index, rule number, value code)

    def give(number: int, code: str) -> None:
        returns.append((len(emitter.lines), number, code))
        emitter.line(f"return {code}")

    for number, (condition, value) in enumerate(rules):
        test = emitter.condition(condition) or emitter.clean(emitter.emit(condition)).code
        emitter.line(f"if {test}:")
        emitter.depth += 1
        give(number, emitter.clean(emitter.emit(value)).code)
        emitter.depth -= 1
    give(len(rules), emitter.clean(emitter.emit(default)).code)
    traced = list(emitter.lines)
    for index, number, code in returns:
        indent = traced[index][:len(traced[index]) - len(traced[index].lstrip())]
        traced[index] = f"{indent}return ({number}, {code})"
    built = _build_many(emitter, {"block": emitter.lines, "traced_block": traced})
    return built["block"], built["traced_block"]
