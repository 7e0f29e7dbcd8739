"""Hypothesis strategies for the expression language (spec/expressions.md, grammar/expression.lark).

Families of source text:

- `expressions()`: random *valid* expressions, built as text from a depth-bounded recursive
  strategy. Every construct of the language appears: all binary operators (also the one-letter
  `&` and `|`), unary `-` and `!`, integer literals up to 2^63 - 1 (with leading zeros), floats
  in the three forms `1.5`, `1.`, `.5` (also one so long it is infinite), durations (also
  wrapping ones), strings with either quote and backslash escapes, `true`/`false`, named
  constants, variables, captures `$0`..`$3`, globals, `config_get`, arrays, indexing, calls of
  every pure built-in with its arity, and `matches` with simple patterns. The rules of the
  grammar header that a context-free grammar cannot say are respected: array elements never
  start with `(`, `!` or `-` and indexes never start with `-` (such an element is wrapped in
  `if_then(1, ..., 0)`, which is its identity), a unary operator is never followed by `-`, and
  only variables, calls, parenthesised groups, arrays and indexes are indexed. `IDIOMS` adds
  the shapes the compiler specialises (inlined text functions, literal divisors...).
- `grammar_sources()`: text from `hypothesis.extra.lark` on the engine's own parser (depth
  bounded), with explicit strategies for the word-like terminals (so that most output lexes).
- `regex_patterns()`, `regex_subjects()`: small `matches` patterns and subjects.
- `token_soup()` and `st.text()`: mostly invalid text.

`variable_values()` draws the values a caller may pass for the variables of `VARIABLES` and a
few globals: str, int (64-bit, and a few beyond, which saturate), float (NaN, infinities and -0.0 included), bool, None, and
lists/tuples of those.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.extra import lark as hypothesis_lark
from hypothesis.extra.lark import from_lark
from lark import Lark
from lark.grammar import Terminal

from engine.expr.functions import FUNCTIONS
from engine.expr.syntax import PARSER_OPTIONS, _grammar_text

INT_MAX = (1 << 63) - 1
INT_MIN = -(1 << 63)

#: The variables the generated expressions may use (all Stalwart variables, 10.1).
VARIABLES: tuple[str, ...] = ("rcpt", "rcpt_domain", "retry_num", "recipients", "priority")
#: Named constants the generated expressions may use (10.3); compile with `constants=`.
CONSTANTS: Mapping[str, int] = {"daily": 3, "hourly": 2, "never": 0}
#: Globals the generated expressions may read (10.4).
GLOBALS: tuple[str, ...] = ("$foo", "$bar_2", "$a.b")
#: Keys `config_get` may read; `CONFIG` gives some of them a value.
CONFIG_KEYS: tuple[str, ...] = ("a.b", "missing.key", "cluster.node-id", "report.domain")
CONFIG: Mapping[str, str] = {"a.b": "1.5", "cluster.node-id": "7",
                             "report.domain": "Example.ORG", "server.hostname": "mx.example.org"}

#: Pure built-ins (name, arity), from the engine's own table; service functions are skipped.
PURE_FUNCTIONS: tuple[tuple[str, int], ...] = tuple(sorted(
    (name, function.arity) for name, function in FUNCTIONS.items() if function.pure))

#: `matches` patterns, as string literal source text: simple, valid and cheap.
PATTERNS: tuple[str, ...] = (
    "'(.*)'", "'^(.+)@(.+)$'", "'(a)(b)?'", r"'(\d+)'", "'(?i)(X)'", "''", "'^a'",
    r"'([a-z]+)\.([a-z]+)'", '"(b|c)"', "'(?s)(.)(.)'", "'é'", "'^$'", r"'(\d*)\.(\d*)'",
    "'(n)(a)(n)'", "'(inf)'", r"'(-?\d+(?:\.\d+)?)'",
)

# Precedence of the generated pieces (3.2); POSTFIX covers atoms, calls, groups, indexes.
OR, AND, XOR, EQUALITY, COMPARISON, SUM, PRODUCT, UNARY, POSTFIX = range(1, 10)
BINARY_OPERATORS: tuple[tuple[str, int], ...] = (
    ("||", OR), ("|", OR), ("&&", AND), ("&", AND), ("^", XOR), ("==", EQUALITY),
    ("!=", EQUALITY), ("<", COMPARISON), ("<=", COMPARISON), (">", COMPARISON),
    (">=", COMPARISON), ("+", SUM), ("-", SUM), ("*", PRODUCT), ("/", PRODUCT),
)
_SPACES = st.sampled_from([" ", "  ", "\n", " \r\n ", "\r"])
_INDEXABLE = frozenset({"variable", "call", "group", "array", "index"})


@dataclass(frozen=True)
class Piece:
    """Generated source text with what its parent needs to know about it."""

    text: str
    precedence: int
    shape: str  # variable, literal, call, group, array, index, unary, binary


# --- literals --------------------------------------------------------------------------------

def integer_literals() -> st.SearchStrategy[str]:
    numbers = st.one_of(
        st.integers(0, 20),
        st.integers(0, INT_MAX),
        st.sampled_from([INT_MAX, INT_MAX - 1, 1 << 53, (1 << 53) + 1, 1 << 62, 4294967296]),
    )
    return st.builds(lambda n, zeros: "0" * zeros + str(n), numbers, st.integers(0, 2))


def float_literals() -> st.SearchStrategy[str]:
    digits = st.text("0123456789", min_size=1, max_size=12)
    return st.one_of(
        st.builds(lambda a, b: f"{a}.{b}", digits, digits),
        st.builds(lambda a: f"{a}.", digits),
        st.builds(lambda b: f".{b}", digits),
        st.sampled_from(["0.0", "1.5", "9007199254740993.0", "1" + "0" * 308 + ".0",
                         "9" * 400 + ".5", "." + "0" * 330 + "1"]),
    )


_DURATION_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def _duration_text(count: int, unit: str, unit_first: bool) -> str:
    return f"{unit}{count}" if unit_first else f"{count}{unit}"


def duration_literals() -> st.SearchStrategy[str]:
    units = st.sampled_from(["ms", "s", "m", "h", "d", "MS", "Ms", "S", "M", "H", "D"])
    counts = st.one_of(st.integers(1, 1000), st.integers(1, 10**20))
    return st.builds(_duration_text, counts, units, st.booleans()).filter(
        # The count is multiplied in unsigned 64 bits (2.4); a product that wraps to 0 is the
        # compile error "must be greater than zero".
        lambda word: (int("".join(c for c in word if c.isdigit()))
                      * _DURATION_UNITS["".join(c for c in word if not c.isdigit()).lower()])
        % (1 << 64) != 0)


_PLAIN_CHARS = list("ab ,.@$019nrtxe\n\r\t{}()[]é日\u00a0\u2028-+")


def _string_literals(quote: str) -> st.SearchStrategy[str]:
    other = "'" if quote == '"' else '"'
    plain = st.one_of(st.sampled_from([*_PLAIN_CHARS, other]),
                      st.characters(codec="utf-8", exclude_characters=quote + "\\"))
    # A run of backslashes is followed by any character but a backslash: the quote too,
    # which it then escapes (2.5).
    escaped = st.builds(lambda count, char: "\\" * count + char, st.integers(1, 3),
                        st.one_of(st.sampled_from([*_PLAIN_CHARS, quote, other]),
                                  st.characters(codec="utf-8", exclude_characters="\\")))
    body = st.lists(st.one_of(plain, plain, escaped), max_size=8).map("".join)
    return body.map(lambda text: quote + text + quote)


def string_literals() -> st.SearchStrategy[str]:
    """A string literal (2.5), with either quote, backslash escapes, line breaks, non-ASCII."""
    return st.one_of(_string_literals("'"), _string_literals('"'))


def _atom(text: str, shape: str = "literal") -> Piece:
    return Piece(text, POSTFIX, shape)


def atoms(variables: Sequence[str] = VARIABLES, *, constants: bool = True,
          config: bool = True, globals_: bool = True) -> st.SearchStrategy[Piece]:
    choices = [
        integer_literals().map(_atom),
        float_literals().map(_atom),
        duration_literals().map(_atom),
        string_literals().map(_atom),
        st.sampled_from(["true", "false"]).map(_atom),
        st.sampled_from(["$0", "$1", "$2", "$3", "$01"]).map(_atom),
    ]
    if variables:
        choices.append(st.sampled_from(list(variables)).map(lambda name: _atom(name, "variable")))
    if constants:
        choices.append(st.sampled_from(sorted(CONSTANTS)).map(_atom))
    if globals_:
        choices.append(st.sampled_from(list(GLOBALS)).map(_atom))
    if config:
        choices.append(st.sampled_from(list(CONFIG_KEYS)).map(
            lambda key: _atom(f"config_get('{key}')", "call")))
    return st.one_of(*choices)


# --- composite pieces ----------------------------------------------------------------------

def parenthesise(piece: Piece) -> Piece:
    return Piece(f"({piece.text})", POSTFIX, "group")


def safe_start(piece: Piece, banned: str = "(!-") -> Piece:
    """The piece, wrapped in `if_then(1, ..., 0)` when it starts with a banned character
    (array elements and indexes, 3.4)."""
    if piece.text[:1] in banned:
        return Piece(f"if_then(1, {piece.text}, 0)", POSTFIX, "call")
    return piece


def binary(operator: str, precedence: int, left: Piece, right: Piece, space: str) -> Piece:
    if left.precedence < precedence:  # left-associative: equal precedence needs no brackets
        left = parenthesise(left)
    if right.precedence <= precedence:
        right = parenthesise(right)
    return Piece(f"{left.text}{space}{operator}{space}{right.text}", precedence, "binary")


def unary(operator: str, operand: Piece, space: str) -> Piece:
    # A unary operator applies to the whole operand that follows; it must not be followed
    # directly by `-` (2.7: Stalwart reads that `-` as a subtraction).
    if operand.precedence < UNARY or operand.text.startswith("-"):
        operand = parenthesise(operand)
    return Piece(f"{operator}{space}{operand.text}", UNARY, "unary")


def index(base: Piece, position: Piece) -> Piece:
    if base.shape not in _INDEXABLE:
        base = parenthesise(base)
    return Piece(f"{base.text}[{safe_start(position, '-').text}]", POSTFIX, "index")


def array(items: Sequence[Piece], trailing_comma: bool) -> Piece:
    body = ", ".join(safe_start(item).text for item in items)
    if trailing_comma and items:
        body += ","
    return Piece(f"[{body}]", POSTFIX, "array")


def call(name: str, arguments: Sequence[Piece], trailing_comma: bool) -> Piece:
    body = ", ".join(argument.text for argument in arguments)
    if trailing_comma and arguments:
        body += ","
    return Piece(f"{name}({body})", POSTFIX, "call")


def match(pattern: str, subject: Piece) -> Piece:
    return Piece(f"matches({pattern}, {subject.text})", POSTFIX, "call")


#: Shapes the compiler specialises (literal operands, inlined text functions, string-array
#: membership, division by a literal...), with `{}` for a random operand.
IDIOMS: tuple[str, ...] = (
    "email_part({}, 'local')", "email_part({}, 'domain')", "contains(['a', 'b', ''], {})",
    "contains([], {})", "count({})", "is_empty({})", "to_lowercase({})", "to_uppercase({})",
    "trim({})", "trim_start({})", "trim_end({})", "starts_with({}, 'a')", "ends_with({}, '')",
    "contains({}, 'a')", "contains({}, 1)", "if_then({}, 'x', 2)", "len({})",
    "if_then(1, {}, 0)", "({}) / 0", "({}) / 2.5", "({}) / 0.0", "({}) * 2", "({}) - 1.5",
    "({}) + 1", "1 + ({})", "({}) + 'x'", "'' + ({})", "({}) == 'a'", "({}) != 1",
    "({}) < 2", "1.5 >= ({})", "({})[0]", "({})[1]", "[1, 'a', 2.5][{}]", "-({})",
    "!({})", "({}) && 'a'", "0 || ({})", "({}) ^ 1",
)


@st.composite
def pieces(draw: st.DrawFn, depth: int, variables: Sequence[str], options: Mapping[str, bool]
           ) -> Piece:
    leaf = atoms(variables, **options)
    if depth <= 0:
        return draw(leaf)
    child = pieces(depth - 1, variables, options)
    kind = draw(st.sampled_from(["atom", "binary", "unary", "call", "binary", "match",
                                 "array", "index", "group", "call", "idiom", "idiom"]))
    if kind == "atom":
        return draw(leaf)
    if kind == "idiom":
        # The operand is bracketed, so any operand is valid wherever `{}` stands (an index or
        # array element may start with `(`; unary operators are followed by `(`).
        template = draw(st.sampled_from(IDIOMS))
        operand = draw(child)
        text = template.format(operand.text if template.startswith("({})") or "({})" in
                               template else f"({operand.text})")
        return parenthesise(Piece(text, OR, "binary"))
    if kind == "binary":
        operator, precedence = draw(st.sampled_from(BINARY_OPERATORS))
        return binary(operator, precedence, draw(child), draw(child), draw(_SPACES))
    if kind == "unary":
        return unary(draw(st.sampled_from(["-", "!"])), draw(child),
                     draw(st.sampled_from(["", "", " "])))
    if kind == "call":
        name, arity = draw(st.sampled_from(PURE_FUNCTIONS))
        return call(name, [draw(child) for _ in range(arity)], draw(st.booleans()))
    if kind == "match":
        return match(draw(st.sampled_from(PATTERNS)), draw(child))
    if kind == "array":
        items = draw(st.lists(child, max_size=3))
        return array(items, draw(st.booleans()))
    if kind == "index":
        return index(draw(child), draw(child))
    return parenthesise(draw(child))


def expressions(variables: Sequence[str] = VARIABLES, *, max_depth: int = 4,
                constants: bool = True, config: bool = True, globals_: bool = True
                ) -> st.SearchStrategy[str]:
    """Source text of random valid expressions over `variables` (compile them with
    `variables=VARIABLES, constants=CONSTANTS`)."""
    options = {"constants": constants, "config": config, "globals_": globals_}
    return st.integers(0, max_depth).flatmap(
        lambda depth: pieces(depth, tuple(variables), options)).map(lambda piece: piece.text)


def constant_expressions(max_depth: int = 4) -> st.SearchStrategy[str]:
    """Valid expressions without variables, globals or settings: everything but `matches`
    and captures is folded at compile time."""
    return expressions((), max_depth=max_depth, constants=True, config=False, globals_=False)


# --- values for variables ------------------------------------------------------------------

def scalar_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", "0", "1", "-4", "1.5", "1e308", "-1e308", "nan", "inf", "+5",
                         "9223372036854775808", "a@b.c", "x,y", "192.0.2.1", "A b\r\nc"]),
        st.integers(INT_MIN, INT_MAX),
        st.sampled_from([0, 1, -1, INT_MAX, INT_MIN, 1 << 64, -(1 << 70)]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, 1.5, math.nan, math.inf, -math.inf, 1e308]),
        st.booleans(),
        st.none(),
    )


def plain_values() -> st.SearchStrategy[Any]:
    """A value a caller may pass: a scalar, or a list/tuple of them (nested one level)."""
    flat = st.lists(scalar_values(), max_size=4)
    return st.one_of(
        scalar_values(),
        flat,
        flat.map(tuple),
        st.lists(st.one_of(scalar_values(), flat), max_size=3),
    )


def variable_values(variables: Sequence[str] = VARIABLES) -> st.SearchStrategy[dict[str, Any]]:
    """Values for some of `variables` and of `GLOBALS` (the others are unset)."""
    return st.dictionaries(st.sampled_from([*variables, *GLOBALS]), plain_values(), max_size=7)


# --- grammar-generated and random text --------------------------------------------------

def _word(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A word-like token followed by a space, so that it does not merge with the next one."""
    return strategy.map(lambda text: text + " ")


#: Words the NAME terminal accepts that are no known name (unknown, invalid numbers...).
_ODD_NAMES = ("nothing", "Rcpt", "len2", "1e3", "0x10", "2w", "a.b.*c", ".*", "1.2.3",
              "__class__", "rcpt.__dict__", "x.y:z")
#: `matches` patterns that RE2 refuses.
_BAD_PATTERNS = (r"'(a)\1'", "'(?=a)'", "'('", "'a{1001}'", "'(?x)a'", "'[[a]]'")


class _BoundedLarkStrategy(hypothesis_lark.LarkStrategy):  # type: ignore[misc]
    """`from_lark`'s strategy, with a bound on the nesting of rules: deeper than `max_depth`,
    each rule takes one of its expansions of least height. Without it, an expression grammar
    (each level recursive in half of its alternatives) mostly overruns, and what survives is
    `()` or a single token."""

    def __init__(self, grammar: Any, start: str, explicit: dict[str, st.SearchStrategy[str]],
                 max_depth: int) -> None:
        super().__init__(grammar, start, explicit, st.characters(codec="utf-8"))
        self.max_depth = max_depth
        self.depth = 0
        expansions = {name: list(strategy.elements)
                      for name, strategy in self.nonterminal_strategies.items()}

        def height(symbol: Any, known: dict[str, float]) -> float:
            if isinstance(symbol, Terminal):
                return 0
            return known.get(symbol.name, math.inf)

        heights: dict[str, float] = {}
        changed = True
        while changed:
            changed = False
            for name, options in expansions.items():
                best = min(1 + max((height(symbol, heights) for symbol in option), default=0)
                           for option in options)
                if best < heights.get(name, math.inf):
                    heights[name] = best
                    changed = True
        self.closing = {
            name: st.sampled_from([option for option in options if 1 + max(
                (height(symbol, heights) for symbol in option), default=0) == heights[name]])
            for name, options in expansions.items()}

    def do_draw(self, data: Any) -> str:
        self.depth = 0
        return super().do_draw(data)  # type: ignore[no-any-return]

    def draw_symbol(self, data: Any, symbol: Any, draw_state: list[str]) -> None:
        if isinstance(symbol, Terminal) or self.depth < self.max_depth:
            self.depth += 1
            try:
                super().draw_symbol(data, symbol, draw_state)
            finally:
                self.depth -= 1
            return
        for part in data.draw(self.closing[symbol.name]):
            self.draw_symbol(data, part, draw_state)  # (no optional whitespace here: cheaper)


def grammar_sources(max_depth: int = 14) -> st.SearchStrategy[str]:
    """Syntactically plausible text from the grammar itself: from_lark's strategy on the
    engine's parser (`engine.expr.syntax.get_parser()`), bounded in depth (plain `from_lark`
    if the installed hypothesis does not allow the bound).

    `explicit` strategies replace the word-like terminals (drawing from their own regexes is
    slow, as they use look-arounds): mostly known names and valid literals, some invalid words
    and patterns, each followed by a space where it could merge with the next token. Fixed
    punctuation and whitespace are drawn with `just`/`sampled_from`. About one draw in ten
    compiles; the others exercise the AST builder's context rules and error messages."""
    names = [*VARIABLES, *CONSTANTS, *(name for name, _ in PURE_FUNCTIONS), "nothing",
             "matches", "config_get", "key_get", "dns_query"]
    explicit = {
        "NAME": _word(st.one_of(st.sampled_from(names), st.sampled_from(_ODD_NAMES))),
        "INT": _word(integer_literals()),
        "FLOAT": _word(float_literals()),
        "DURATION": _word(duration_literals()),
        "TRUE": st.just("true "),
        "FALSE": st.just("false "),
        "CAPTURE": _word(st.sampled_from(["$0", "$1", "$2", "$4294967296", "$00"])),
        "GLOBAL": _word(st.sampled_from([*GLOBALS, "$x.*y", "$.", "$__class__"])),
        "STRING": string_literals(),
        "MATCHES_HEAD": st.sampled_from([*PATTERNS, *_BAD_PATTERNS]).map(
            lambda p: f"matches({p},"),
        "CONFIG_GET_HEAD": st.sampled_from(CONFIG_KEYS).map(lambda k: f"config_get('{k}'"),
        "EQ": st.sampled_from(["== ", "= "]),
    }
    # A parser built here, not the cached one: Lark's cache keeps the tables, not the grammar
    # (ignore_tokens, rules) that the strategy reads.
    parser = Lark(_grammar_text(), **PARSER_OPTIONS)
    for terminal in parser.terminals:
        # Fixed punctuation: `just` is far cheaper to draw than from_regex.
        if terminal.name not in explicit and terminal.pattern.type == "str":
            explicit[terminal.name] = st.just(terminal.pattern.value)
    for ignored in parser.ignore_tokens:
        explicit[ignored] = st.sampled_from([" ", "\n", "\r\n", "  "])
    try:
        return _BoundedLarkStrategy(parser, "expr", explicit, max_depth)
    except Exception:  # noqa: BLE001 - hypothesis internals changed: plain from_lark
        # `expr` rather than `start`: the start rule's short alternatives (`()`, empty) would
        # otherwise win almost every draw.
        return from_lark(parser, start="expr", explicit=explicit)


_SOUP_TOKENS = (
    "(", ")", "[", "]", ",", "+", "-", "*", "/", "!", "!=", "==", "=", "=>", "=<", "<", "<=",
    ">", ">=", "&", "&&", "|", "||", "^", "}", "{", "%", "\t", " ", "\n", "'", '"', "\\",
    "1", "0", "007", "1.5", "1.", ".5", "2.*3", "1.2.3", "1e3", "0x10", "9223372036854775808",
    "30s", "0s", "h2", "1m1s", "true", "false", "True", "$0", "$1", "$foo", "$", "$.*",
    "rcpt", "recipients", "priority", "daily", "len", "len(", "matches(", "matches ('",
    "matches('(a)', ", "matches('(?=a)', ", "config_get(", "config_get('a.b'", "sort(",
    "if_then(", "split_n(", "'x'", "'a\\'b'", "'a\\\\'", '"é"', "é", "rcpt.__class__",
    "__import__", "lambda", ":", ";", "#", "a.b.*c", ".", "..", "()", "[]",
)


def token_soup() -> st.SearchStrategy[str]:
    """Random sequences of tokens, fragments and broken tokens of the language."""
    return st.lists(st.sampled_from(_SOUP_TOKENS), max_size=25).map("".join)


# --- regular expressions for `matches` -------------------------------------------------------

_REGEX_ATOMS = ("a", "b", "A", "k", "s", "ß", "é", ".", "[ab]", "[^a]", "[a-c]", "[k-s]", "[^k]",
                r"\d", r"\D", r"\s", r"\S", r"\.", r"\n", "1", "x", "[[:alpha:]]", "^", "$")
_REGEX_QUANTIFIERS = ("*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{0,}", "{2,}?")


@st.composite
def _regex(draw: st.DrawFn, depth: int) -> str:
    if depth <= 0:
        return draw(st.sampled_from(_REGEX_ATOMS))
    inner = _regex(depth - 1)
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return draw(st.sampled_from(_REGEX_ATOMS))
    if kind == 1:
        return draw(inner) + draw(inner)
    if kind == 2:
        return draw(inner) + draw(st.sampled_from(_REGEX_QUANTIFIERS))
    if kind == 3:
        return "(" + draw(inner) + ")"
    if kind == 4:
        return "(?:" + draw(inner) + ")"
    if kind == 5:
        return draw(inner) + "|" + draw(inner)
    return "(?i)" + draw(inner)


def regex_patterns(max_depth: int = 3) -> st.SearchStrategy[str]:
    """Small patterns in the syntax both regex engines of `matches` accept."""
    return _regex(max_depth)


def regex_subjects() -> st.SearchStrategy[str]:
    """Short subjects with case-folding and whitespace corner cases (Kelvin sign, long s,
    sharp s, NBSP, U+001C, the Turkish dotted and dotless i...)."""
    return st.text(st.sampled_from(list("abAB1 .\né\u00a0x\r\u212aſßẞ\x1ckKsSiIİı٣\u2028")),
                   max_size=12)
