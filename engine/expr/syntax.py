"""Source text -> AST: the Lark LALR parser, and the rules a grammar cannot say.

Parsing (grammar/expression.lark) does not depend on the setting, so parse trees are cached by
source text. Building the AST resolves every name against the setting's `Scope`, compiles
`matches` patterns, and enforces Stalwart's context-sensitive rules (array elements, indexes,
doubled minus signs). Every failure is a `ParseError` with the span of the offending characters
and, where one is likely, a suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Final

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from engine.errors import ParseError, Span
from engine.expr import ast
from engine.expr.ast import BinaryOp, UnaryOp
from engine.expr.functions import FUNCTIONS
from engine.expr.regex import RegexSyntaxError, compile_pattern
from engine.expr.scope import STALWART_VARIABLES, Scope
from engine.expr.values import INT_MAX

#: Longest source accepted. Real settings are a few hundred characters; Stalwart's own spam
#: filter's longest rule is under 2,000. The bound keeps parse time and memory small.
MAX_SOURCE_LENGTH: Final = 65_536
#: Deepest nesting of the parse tree. The AST passes recurse, and the generated Python code
#: nests brackets; 100 keeps both far from Python's limits (recursion ~1000, brackets 200).
MAX_DEPTH: Final = 100

# Stable diagnostic codes, shared with `tlsrpt lint`.
SYNTAX: Final = "E101"
INVALID_LITERAL: Final = "E102"
INVALID_REGEX: Final = "E103"
TOO_COMPLEX: Final = "E104"
UNKNOWN_NAME: Final = "E201"
NOT_IN_SCOPE: Final = "E202"
UNKNOWN_FUNCTION: Final = "E203"
WRONG_ARITY: Final = "E204"

_DURATION_UNITS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# Tokens that can only start an operand (`(` and `[` also follow one: calls, indexes).
_OPERAND_TOKENS: Final = frozenset({
    "INT", "FLOAT", "DURATION", "STRING", "TRUE", "FALSE", "CAPTURE", "GLOBAL", "NAME",
    "MATCHES_HEAD", "CONFIG_GET_HEAD",
})
_OPENERS: Final = {"LPAR": "RPAR", "LSQB": "RSQB", "MATCHES_HEAD": "RPAR",
                   "CONFIG_GET_HEAD": "RPAR"}
_TOKEN_NAMES: Final = {
    "RPAR": "`)`", "RSQB": "`]`", "LPAR": "`(`", "LSQB": "`[`", "COMMA": "`,`", "PLUS": "`+`",
    "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "CIRCUMFLEX": "`^`", "BANG": "`!`",
    "AND": "`&&`", "OR": "`||`", "EQ": "`==`", "LESSTHAN": "`<`", "MORETHAN": "`>`",
    "$END": "the end", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "NAME": "a name", "DURATION": "a duration",
}


def _grammar_text() -> str:
    # Installed wheels carry the grammar inside the package; a source checkout has it at the
    # top level. Both are the same file (pyproject.toml maps one onto the other).
    packaged = resources.files("engine") / "grammar" / "expression.lark"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammar" / "expression.lark").read_text(
        encoding="utf-8")


#: how the parser is built (tests/expr/test_grammar_collisions.py builds it so too, strictly)
PARSER_OPTIONS: Final[dict[str, Any]] = {
    "parser": "lalr", "propagate_positions": True, "maybe_placeholders": True}


@functools.cache
def get_parser() -> Lark:
    """The LALR parser, built once per process.

    When `interegular` is installed, Lark checks every pair of terminals for collisions while
    building the lexer: about 0.2 s, at every start of every command. The grammar does not
    change at run time, so that check runs in the test suite instead (in strict mode, where a
    collision is an error), and is turned off here while the parser is built.
    """
    import lark.lexer as lexer_module

    grammar = _grammar_text()
    saved = getattr(lexer_module, "has_interegular", False)
    lexer_module.has_interegular = False
    try:
        cache = _parser_cache_file(grammar)
        if cache is not None:
            # Lark keys the file's content by the grammar, the options and its own version
            # (a stale file is rebuilt); our file name carries the grammar's hash too, so two
            # versions of the package never rewrite each other's file.
            return Lark(grammar, cache=cache, **PARSER_OPTIONS)
        return Lark(grammar, **PARSER_OPTIONS)
    finally:
        lexer_module.has_interegular = saved


def _parser_cache_file(grammar: str) -> str | None:
    """Where the built parser is kept between runs: the user's cache directory
    ($XDG_CACHE_HOME or ~/.cache, then tlsrpt-engine/), or None when it cannot be written
    ($TLSRPT_PARSER_CACHE=off also turns it off). Building the LALR tables takes ~0.1 s;
    loading them ~0.01 s."""
    import hashlib
    import os

    if os.environ.get("TLSRPT_PARSER_CACHE", "") == "off":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "tlsrpt-engine")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(directory, f"expression-parser-{digest}.lark")


@functools.lru_cache(maxsize=8192)
def parse_tree(source: str) -> Tree[Token]:
    """Parse `source` into a Lark tree (cached); syntax errors become ParseError."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ParseError(f"expression is too long ({len(source)} characters, at most "
                         f"{MAX_SOURCE_LENGTH})", Span.in_text(source, MAX_SOURCE_LENGTH),
                         source=source, code=TOO_COMPLEX)
    try:
        tree = get_parser().parse(source)
    except UnexpectedInput as err:
        raise _syntax_error(err, source) from None
    _check_depth(tree, source)
    return tree


def _check_depth(tree: Tree[Token], source: str) -> None:
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            span = _span_of(node, source)
            raise ParseError(f"expression nests too deeply (more than {MAX_DEPTH} levels)",
                             span, source=source, code=TOO_COMPLEX,
                             help="split it into simpler settings or flatten the nesting")
        if isinstance(node, Tree):
            stack.extend((child, depth + 1) for child in node.children if child is not None)


def _span_of(node: Tree[Token] | Token, source: str) -> Span:
    if isinstance(node, Token):
        return Span(node.start_pos or 0, node.end_pos or 0, node.line or 1, node.column or 1)
    meta = node.meta
    if getattr(meta, "empty", True):
        return Span.in_text(source, 0, 0)
    return Span(meta.start_pos, meta.end_pos, meta.line, meta.column)


def _describe(token_type: str) -> str:
    return _TOKEN_NAMES.get(token_type, f"`{token_type.lower()}`")


def _syntax_error(err: UnexpectedInput, source: str) -> ParseError:
    """Turn Lark's exception into a message a configuration author understands."""
    if isinstance(err, UnexpectedCharacters):
        return _bad_character(source, err.pos_in_stream or 0)
    if isinstance(err, UnexpectedToken):
        return _unexpected_token(err, source)
    assert isinstance(err, UnexpectedEOF)
    return ParseError("unexpected end of expression", Span.in_text(source, len(source)),
                      source=source)


def _bad_character(source: str, position: int) -> ParseError:
    char = source[position]
    after = source[position + 1:position + 2]
    at = Span.in_text(source, position, position + 1)
    if char in "'\"":
        return ParseError(f"unterminated string: no closing {char}",
                          Span.in_text(source, position, len(source)), source=source,
                          help="a backslash keeps the character after it inside the string, "
                               "even a quote or another backslash")
    if char == "=":
        if after in (">", "<"):
            return ParseError(f"`={after}` is not an operator", Span.in_text(source, position,
                              position + 2), source=source, suggestion=f"{after}=")
        return ParseError("a single `=` must be followed by a space", at, source=source,
                          suggestion="==",
                          help="Stalwart swallows the character after a single `=`; write `==`")
    if char == "\t":
        return ParseError("tab characters are not allowed in expressions", at, source=source,
                          help="separate tokens with spaces or line breaks")
    if char == "}":
        return ParseError("unexpected `}`", at, source=source,
                          help="Stalwart ignores everything after a `}`; remove it")
    if char == "%":
        return ParseError("there is no `%` operator", at, source=source,
                          help="macros such as %{env:NAME}% are expanded in configuration "
                               "files only")
    if ord(char) > 127:
        return ParseError(f"the character `{char}` may only appear inside a string literal", at,
                          source=source, help="put the text in quotes: 'text'")
    return ParseError(f"invalid character `{char}`", at, source=source)


def _unexpected_token(err: UnexpectedToken, source: str) -> ParseError:
    token = err.token
    expected = set(err.expected)
    if token.type == "$END":
        at = Span.in_text(source, len(source))
        opener = _innermost_unclosed(source)
        if opener is not None and not expected & _OPERAND_TOKENS:
            closer = ")" if _OPENERS[opener.type] == "RPAR" else "]"
            start = opener.start_pos or 0
            while start > 0 and (source[start - 1].isalnum() or source[start - 1] in "_$."):
                start -= 1  # show the function name with its parenthesis
            opened = source[start:start + 24].split("\n")[0]
            return ParseError(f"missing `{closer}`", at, source=source, suggestion=closer,
                              help=f"to close the `{str(opener)[-1:] if opener.type != 'LSQB' else '['}` "
                                   f"opened at `{opened}`")
        return ParseError("unexpected end of expression: an operand is missing", at,
                          source=source)
    at = _span_of(token, source)
    text = str(token)
    if token.type in ("RPAR", "RSQB") and token.type not in expected:
        if expected & _OPERAND_TOKENS:
            what = "an index" if token.type == "RSQB" and _after(source, at) == "[" else \
                "an operand"
            return ParseError(f"missing {what} before `{text}`", at, source=source)
        return ParseError(f"unmatched `{text}`", at, source=source)
    if token.type in _OPERAND_TOKENS and not expected & _OPERAND_TOKENS:
        if token.type == "NAME" and source.strip().replace(" ", "").isalnum():
            return ParseError(f"missing operator before `{text}`", at, source=source,
                              help=f"if this is text, quote it: '{source.strip()}'")
        return ParseError(f"missing operator before `{text}`", at, source=source,
                          help="Stalwart would silently drop one of the two operands")
    if token.type == "COMMA":
        return ParseError("unexpected `,`", at, source=source,
                          help="commas only separate function arguments and array elements")
    if expected & _OPERAND_TOKENS:
        return ParseError(f"missing operand before `{text}`", at, source=source)
    shown = ", ".join(sorted({_describe(name) for name in expected}))
    return ParseError(f"unexpected `{text}`; expected {shown}", at, source=source)


def _innermost_unclosed(source: str) -> Token | None:
    """The last `(`, `[`, `matches(` or `config_get(` that is still open at the end."""
    stack: list[Token] = []
    for token in get_parser().lex(source):
        if token.type in _OPENERS:
            stack.append(token)
        elif token.type in ("RPAR", "RSQB") and stack:
            stack.pop()
    return stack[-1] if stack else None


def _after(source: str, span: Span) -> str:
    before = source[:span.start].rstrip(" \r\n")
    return before[-1:] if before else ""


# --- AST construction ---------------------------------------------------------------------

def decode_string(literal: str) -> str:
    """The value of a quoted literal (2.5): backslashes are kept; after one, n/r/t become LF, CR,
    TAB, and any other character is kept unchanged."""
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    escaped = False
    for char in body:
        if escaped:
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(char, char))
        else:
            out.append(char)
        escaped = char == "\\"
    return "".join(out)


def duration_value(word: str) -> int | None:
    """Milliseconds of a duration word (2.4), or None if the word is not one. 0 is returned
    for a zero count so that the caller can say why it is refused."""
    digits = "".join(char for char in word if char.isdigit() and char.isascii())
    unit = "".join(char for char in word if not (char.isdigit() and char.isascii())).lower()
    if not digits or unit not in _DURATION_UNITS:
        return None
    # Stalwart multiplies in unsigned 64 bits and reads the result as signed.
    product = (int(digits) * _DURATION_UNITS[unit]) & ((1 << 64) - 1)
    return product - (1 << 64) if product > INT_MAX else product


def _suggest(name: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


@v_args(meta=True, inline=True)
class _Builder(Transformer[Token, ast.Node]):
    """Lark tree -> AST for one scope. Methods follow the grammar's aliases."""

    def __init__(self, source: str, scope: Scope) -> None:
        super().__init__()
        self.source = source
        self.scope = scope

    # helpers
    def _span(self, meta: Any) -> Span:
        return Span(meta.start_pos, meta.end_pos, meta.line, meta.column)

    def _error(self, message: str, span: Span, code: str = SYNTAX, **extra: Any) -> ParseError:
        return ParseError(message, span, source=self.source, code=code, **extra)

    def _starts_with(self, node: ast.Node) -> str:
        return self.source[node.span.start:node.span.start + 1]

    def _binary(op: BinaryOp) -> Callable[..., ast.Node]:  # type: ignore[misc]
        def build(self: _Builder, meta: Any, left: ast.Node, *rest: Any) -> ast.Node:
            right = rest[-1]  # rest is (right,) or (operator token, right)
            return ast.Binary(op, left, right, self._span(meta))
        return build

    or_ = _binary(BinaryOp.OR)
    and_ = _binary(BinaryOp.AND)
    xor = _binary(BinaryOp.XOR)
    eq = _binary(BinaryOp.EQ)
    ne = _binary(BinaryOp.NE)
    lt = _binary(BinaryOp.LT)
    le = _binary(BinaryOp.LE)
    gt = _binary(BinaryOp.GT)
    ge = _binary(BinaryOp.GE)
    add = _binary(BinaryOp.ADD)
    sub = _binary(BinaryOp.SUB)
    mul = _binary(BinaryOp.MUL)
    div = _binary(BinaryOp.DIV)

    def _unary(self, op: UnaryOp, meta: Any, operand: ast.Node) -> ast.Node:
        if self._starts_with(operand) == "-":
            raise self._error(f"`{op.value}` cannot be followed directly by `-`",
                              operand.span, suggestion=f"{op.value}(" + self.source[
                                  operand.span.start:operand.span.end] + ")",
                              help="Stalwart reads a `-` after a unary operator as a "
                                   "subtraction; use parentheses")
        return ast.Unary(op, operand, self._span(meta))

    def neg(self, meta: Any, operand: ast.Node) -> ast.Node:
        return self._unary(UnaryOp.NEG, meta, operand)

    def not_(self, meta: Any, operand: ast.Node) -> ast.Node:
        return self._unary(UnaryOp.NOT, meta, operand)

    def index(self, meta: Any, base: ast.Node, position: ast.Node) -> ast.Node:
        span = self._span(meta)
        last = self.source[base.span.end - 1:base.span.end]
        if not isinstance(base, ast.Variable) and last not in (")", "]"):
            raise self._error("only a variable, a call, a parenthesised expression or an array "
                              "can be indexed", span,
                              help="Stalwart reads `[` after a literal as a new array, not an "
                                   "index")
        if self._starts_with(position) == "-":
            raise self._error("an index cannot start with `-`", position.span,
                              help="Stalwart reads it as a subtraction and reports a missing "
                                   "index; a negative index is always out of range")
        return ast.Index(base, position, span)

    def group(self, meta: Any, inner: ast.Node) -> ast.Node:
        # Keep the parentheses in the span: indexing and element rules look at them.
        return dataclasses.replace(inner, span=self._span(meta))

    def empty(self, meta: Any) -> ast.Node:
        if getattr(meta, "empty", True):  # the empty source: no token to take a span from
            return ast.Empty(Span.in_text(self.source, 0, len(self.source)))
        return ast.Empty(self._span(meta))

    # literals
    def integer(self, meta: Any, token: Token) -> ast.Node:
        value = int(token)
        if value > INT_MAX:
            raise self._error(f"integer {token} is out of range (at most {INT_MAX})",
                              self._span(meta), code=INVALID_LITERAL)
        return ast.Literal(value, self._span(meta))

    def float(self, meta: Any, token: Token) -> ast.Node:
        return ast.Literal(float(token), self._span(meta))

    def string(self, meta: Any, token: Token) -> ast.Node:
        return ast.Literal(decode_string(str(token)), self._span(meta))

    def true(self, meta: Any, _token: Token) -> ast.Node:
        return ast.Literal(1, self._span(meta), name="true")

    def false(self, meta: Any, _token: Token) -> ast.Node:
        return ast.Literal(0, self._span(meta), name="false")

    def capture(self, meta: Any, token: Token) -> ast.Node:
        group = int(token[1:])
        if group > 0xFFFF_FFFF:  # not a u32: Stalwart reads it as a global name
            return ast.Global(token[1:], self._span(meta))
        return ast.Capture(group, self._span(meta))

    def global_(self, meta: Any, token: Token) -> ast.Node:
        return ast.Global(token[1:], self._span(meta))

    def duration(self, meta: Any, token: Token) -> ast.Node:
        word = str(token)
        if self.scope.knows(word):  # a setting's own names win over durations (2.3)
            return self._resolve(word, self._span(meta))
        value = duration_value(word)
        assert value is not None  # the DURATION terminal only matches duration words
        if value == 0:
            raise self._error(f"duration `{word}` must be greater than zero", self._span(meta),
                              code=INVALID_LITERAL)
        return ast.Literal(value, self._span(meta), name=word)

    def name(self, meta: Any, token: Token) -> ast.Node:
        return self._resolve(str(token), self._span(meta))

    def _resolve(self, word: str, span: Span) -> ast.Node:
        if word in self.scope.variables:
            return ast.Variable(word, span)
        if word in self.scope.constants:
            return ast.Literal(self.scope.constants[word], span, name=word)
        if word in FUNCTIONS or word in ("matches", "config_get"):
            raise self._error(f"`{word}` is a function: call it with parentheses", span,
                              code=SYNTAX, suggestion=f"{word}(...)")
        if not any(char.isalpha() or char in "_$" for char in word):
            raise self._error(f"invalid number `{word}`", span, code=INVALID_LITERAL,
                              help="numbers are decimal: integers like 42, floats like 1.5; no "
                                   "exponent, no hexadecimal, no `_`")
        if duration_value(word) is not None or any(char.isdigit() for char in word) and \
                word[:1].isdigit():
            raise self._error(f"invalid duration or number `{word}`", span,
                              code=INVALID_LITERAL,
                              help="a duration is a whole number and one unit of ms, s, m, h, d "
                                   "(for example 30s, 5m, 1h, 30d)")
        if word in STALWART_VARIABLES:
            allowed = ", ".join(self.scope.names()) or "none"
            raise self._error(f"variable `{word}` is not available here", span,
                              code=NOT_IN_SCOPE, help=f"this setting can use: {allowed}")
        suggestion = _suggest(word, self.scope.names() + sorted(FUNCTIONS))
        if self.scope.constants:
            help_text = "this setting accepts the constants " + ", ".join(sorted(
                self.scope.constants)) + " and the variables " + (
                ", ".join(sorted(self.scope.variables)) or "none")
        elif suggestion is None:
            help_text = f"text must be quoted: '{word}'"
        else:
            help_text = None
        raise self._error(f"unknown name `{word}`", span, code=UNKNOWN_NAME,
                          suggestion=suggestion, help=help_text)

    # calls and special forms
    def arguments(self, _meta: Any, *items: ast.Node | None) -> tuple[ast.Node, ...]:
        return tuple(item for item in items if item is not None)

    def extra(self, _meta: Any, *items: ast.Node | None) -> tuple[ast.Node, ...]:
        return tuple(item for item in items if item is not None)

    def call(self, meta: Any, name: Token, arguments: tuple[ast.Node, ...] | None) -> ast.Node:
        span = self._span(meta)
        arguments = arguments or ()
        word = str(name)
        if word == "matches":
            raise self._error("the pattern of `matches` must be a string literal", span,
                              help="write matches('regex', value); the pattern cannot be "
                                   "computed")
        if word == "config_get":
            raise self._error("the key of `config_get` must be a string literal", span,
                              help="write config_get('section.key')")
        function = FUNCTIONS.get(word)
        if function is None:
            if self.scope.knows(word) or word in STALWART_VARIABLES:
                raise self._error(f"`{word}` is not a function", span, code=UNKNOWN_FUNCTION)
            name_span = Span(span.start, span.start + len(word), span.line, span.column)
            raise self._error(f"unknown function `{word}`", name_span, code=UNKNOWN_FUNCTION,
                              suggestion=_suggest(word, sorted(FUNCTIONS)))
        if len(arguments) != function.arity:
            plural = "" if function.arity == 1 else "s"
            raise self._error(f"`{word}` takes {function.arity} argument{plural}, got "
                              f"{len(arguments)}", span, code=WRONG_ARITY)
        return ast.Call(word, arguments, span)

    def matches(self, meta: Any, head: Token, arguments: tuple[ast.Node, ...]) -> ast.Node:
        span = self._span(meta)
        if len(arguments) != 1:
            raise self._error(f"`matches` takes 2 arguments (a pattern and a value), got "
                              f"{len(arguments) + 1}", span, code=WRONG_ARITY)
        literal, offset = _literal_in_head(str(head), len("matches("))
        pattern_span = Span.in_text(self.source, head.start_pos + offset,  # type: ignore[operator]
                                    head.start_pos + offset + len(literal))  # type: ignore[operator]
        try:
            pattern = compile_pattern(decode_string(literal))
        except RegexSyntaxError as err:
            raise self._error(f"invalid regular expression: {err}", pattern_span,
                              code=INVALID_REGEX) from None
        return ast.Match(pattern, arguments[0], span, pattern_span)

    def config_get(self, meta: Any, head: Token, extra: tuple[ast.Node, ...] | None) -> ast.Node:
        span = self._span(meta)
        if extra:
            raise self._error("`config_get` takes 1 argument, a string literal", span,
                              code=WRONG_ARITY)
        literal, _ = _literal_in_head(str(head), len("config_get("))
        return ast.Setting(decode_string(literal), span)

    def array(self, meta: Any, items: tuple[ast.Node, ...] | None) -> ast.Node:
        items = items or ()
        for item in items:
            first = self._starts_with(item)
            if first in ("(", "!", "-"):
                raise self._error(f"an array element cannot start with `{first}`", item.span,
                                  help="Stalwart does not count such an element; start it with "
                                       "a value, e.g. [0 - 1] or if_then(x, 0, 1)")
        return ast.Array(items, self._span(meta))


def _literal_in_head(head: str, skip: int) -> tuple[str, int]:
    """The quoted literal inside a `matches(`/`config_get(` token, and its offset there."""
    start = skip
    while head[start] not in "'\"":
        start += 1
    quote = head[start]
    end = start + 1
    escaped = False
    while head[end] != quote or escaped:
        escaped = head[end] == "\\"
        end += 1
    return head[start:end + 1], start


def parse(source: str, scope: Scope) -> ast.Node:
    """Parse `source` and build its AST for `scope`; raises ParseError."""
    tree = parse_tree(source)
    try:
        return _Builder(source, scope).transform(tree)
    except VisitError as err:  # Lark wraps what the builder raises
        if isinstance(err.orig_exc, ParseError):
            raise err.orig_exc from None
        raise
