"""Regular expressions for `matches`: Rust `regex` syntax, run by a linear-time engine.

Stalwart uses Rust's `regex` crate, whose matching time is linear in the input. Python's `re`
backtracks and can take exponential time on patterns such as `(a+)+$`, so patterns run on RE2
(the `google-re2` package), which has the same guarantee and almost the same syntax. Where the
two dialects differ we translate: Rust's `\\d`, `\\s` and `\\w` are Unicode-aware (Rust's own
tables: `\\w` is Alphabetic, marks, Nd, Pc and Join_Control), RE2's are ASCII, so they become the
Unicode classes Rust means; `\\u0041`, `\\u{...}`, `\\U...` become `\\x{...}` and
`\\p{Script=X}` becomes `\\p{X}`. What cannot be made to agree is refused with a message naming
the difference (docs/expressions.md): `\\b`/`\\B` (Unicode in Rust, ASCII in RE2; `(?-u:\\b)` is
accepted), counted repetitions above 1000, `\\Q...\\E` (not Rust syntax), class set operations
(`&&`, `--`, `~~`) and verbose mode `(?x)`. Left as is: `[\\S]`/`[\\W]` inside brackets keep RE2's
ASCII meaning, and a bare script `\\p{Greek}` is Script here, Script_Extensions in Rust.

Speed: calling RE2 from Python costs about a microsecond per search, Python's `re` a tenth of
that. A pattern whose backtracking cost is provably bounded for the subject at hand (no
quantifier inside a quantified group or alternation, so the work is polynomial in the subject
length with a known degree) runs on `re` while `len(subject)` keeps that bound under
`BACKTRACKING_BUDGET` steps; every other pattern or subject runs on RE2. Both engines give the
same leftmost-first matches for the syntax admitted on the `re` path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _parser as sre_parse
from typing import Any, Final

import re2

from engine.errors import EngineError
from engine.expr.regex_limits import pattern_too_large

#: Most backtracking steps a `re` search may need in the worst case before RE2 is used instead.
#: 10^6 steps of CPython's matcher are a few milliseconds.
BACKTRACKING_BUDGET: Final = 1_000_000

#: RE2 memory budget for one compiled pattern. Rust's regex crate refuses patterns whose
#: compiled program exceeds 10 MiB by default; we allow the same order of size.
MAX_PROGRAM_MEMORY: Final = 16 << 20

# Unicode White_Space, as Rust's `\s`; \p{Z} holds the space separators, LS and PS.
_SPACE_CLASS: Final = r"\t\n\x0B\f\r\x{85}\p{Z}"
# Rust's `\w`: Alphabetic, marks, decimal digits, connector punctuation and Join_Control.
# Alphabetic is the letters, Nl (Ⅰ, 〇) and Other_Alphabetic; the ranges are the Alphabetic
# code points outside L, M and Nl (circled letters such as Ⓐ, and letters of Unicode 15.0
# that RE2's tables may not place in L), generated from engine/expr/_unicode.py.
_WORD_CLASS: Final = (
    r"\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}\x{CF3}\x{24B6}-\x{24E9}\x{1123F}-\x{11241}"
    r"\x{11F00}-\x{11F10}\x{11F12}-\x{11F3A}\x{11F3E}-\x{11F40}\x{1342F}\x{13441}-\x{13446}"
    r"\x{1B132}\x{1B155}\x{1DF25}-\x{1DF2A}\x{1E030}-\x{1E06D}\x{1E08F}\x{1E4D0}-\x{1E4EB}"
    r"\x{1F130}-\x{1F149}\x{1F150}-\x{1F169}\x{1F170}-\x{1F189}\x{2B739}\x{31350}-\x{323AF}")

_OUTSIDE_CLASS: Final = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": "[" + _SPACE_CLASS + "]",
    "S": "[^" + _SPACE_CLASS + "]",
    "w": "[" + _WORD_CLASS + "]",
    "W": "[^" + _WORD_CLASS + "]",
}
_INSIDE_CLASS: Final = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": _SPACE_CLASS,
    "w": _WORD_CLASS,
}


class RegexSyntaxError(EngineError, ValueError):
    """The pattern is not a valid regular expression for `matches`."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled `matches` pattern: `search` returns the capture list or None."""

    source: str
    _re2: Any
    _groups: int
    #: the same pattern for Python's `re`, when its backtracking cost is bounded
    _python: re.Pattern[str] | None = None
    #: longest subject `_python` may search within BACKTRACKING_BUDGET
    _python_limit: int = 0

    @property
    def python_search(self) -> Any:
        """`re` search function for subjects up to `python_limit` characters, or None."""
        return self._python.search if self._python is not None else None

    @property
    def python_limit(self) -> int:
        return self._python_limit

    def re2_search(self, subject: str) -> Any:
        """RE2's search: linear time for any subject. RE2 reads UTF-8, which cannot hold a
        lone surrogate (a Python str can; Rust's cannot): those become U+FFFD first."""
        try:
            return self._re2.search(subject)
        except UnicodeEncodeError:
            return self._re2.search(subject.encode("utf-8", "surrogatepass").decode(
                "utf-8", "replace"))

    def search(self, subject: str) -> tuple[str, ...] | None:
        """Leftmost match anywhere in `subject`: (whole match, group 1, ...), `''` for groups
        that did not take part; None when there is no match."""
        if self._python is not None and len(subject) <= self._python_limit:
            found = self._python.search(subject)
            if found is None:
                return None
            return (found.group(),) + found.groups("")
        match = self.re2_search(subject)
        if match is None:
            return None
        if not self._groups:
            return (match.group(0),)
        return tuple(group or "" for group in match.group(*range(self._groups + 1)))


#: Rust's longest counted repetition is bounded only by its program size; RE2's is 1000.
_MAX_RE2_REPEAT: Final = 1000
_REPEAT: Final = re.compile(r"\{(\d+)(?:,(\d*))?\}")
# Rust's `\u0041`, `\u{41}`, `\U0001F600`, `\U{1F600}`: the same code point as RE2's `\x{...}`.
_CODE_POINT: Final = re.compile(r"u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|[uU]\{([0-9A-Fa-f]{1,8})\}")
# `\p{Script=Greek}` and `\p{sc=Greek}` name the script RE2 writes `\p{Greek}`.
_SCRIPT_QUERY: Final = re.compile(r"([pP])\{\s*(?:[Ss]cript|sc)\s*[=:]\s*([A-Za-z_]+)\s*\}")
# An ASCII word boundary written the one way Rust and RE2 read alike.
_ASCII_BOUNDARY: Final = re.compile(r"\(\?-u:\\([bB])\)")


def _escape(pattern: str, position: int) -> tuple[str, int] | None:
    """Rust escapes that RE2 lacks or reads differently, at `pattern[position]` (a backslash):
    (RE2 text, length consumed), None for an escape passed on as written."""
    escaped = pattern[position + 1]
    if escaped == "Q":
        raise RegexSyntaxError(
            "\\Q...\\E quoting is not Rust regex syntax (Stalwart refuses the pattern); "
            "escape each special character instead")
    if escaped in "bB":
        raise RegexSyntaxError(
            f"\\{escaped} is a Unicode word boundary in Rust's regex and an ASCII one in this "
            f"engine; write (?-u:\\{escaped}) for the ASCII word boundary both read alike")
    if escaped in "<>":
        raise RegexSyntaxError(f"\\{escaped} (a Unicode word-boundary half) is not supported")
    if escaped in "uU":
        found = _CODE_POINT.match(pattern, position + 1)
        if found is None:
            raise RegexSyntaxError(f"invalid \\{escaped} escape")
        digits = next(group for group in found.groups() if group)
        if int(digits, 16) > 0x10FFFF or 0xD800 <= int(digits, 16) <= 0xDFFF:
            raise RegexSyntaxError(f"\\{escaped}{{{digits}}} is not a Unicode scalar value")
        return "\\x{" + digits + "}", found.end() - position
    if escaped in "pP":
        found = _SCRIPT_QUERY.match(pattern, position + 1)
        if found is not None:
            return "\\" + found.group(1) + "{" + found.group(2) + "}", found.end() - position
    return None


def translate(pattern: str) -> str:
    """Rewrite Rust-only spellings into RE2's (see the module docstring)."""
    pattern = pattern.replace("\x00", "\\x{0}")  # keep NUL free for the marker below
    pattern = _ASCII_BOUNDARY.sub(lambda m: "\x00" + m.group(1), pattern)
    for found in _REPEAT.finditer(pattern):
        start = found.start()
        if start >= 2 and pattern[start - 2] == "\\" and pattern[start - 1] in "xuUpPb":
            continue  # `\x{1001}` is a code point, not a repetition
        counts = [int(text) for text in found.groups() if text]
        if any(count > _MAX_RE2_REPEAT for count in counts):
            raise RegexSyntaxError(
                f"the repetition {found.group()} exceeds {_MAX_RE2_REPEAT}: Rust's regex accepts "
                f"it within its size limit, this engine does not; split it ({{1000}} twice)")
    if "(?-u" in pattern or "(?x" in pattern:
        # Unicode-off and verbose modes change what every escape means; verbose mode does not
        # exist in RE2, so refuse it rather than guess.
        if "(?x" in pattern:
            raise RegexSyntaxError("verbose mode (?x) is not supported")
        return pattern
    out: list[str] = []
    class_depth = 0
    position = 0
    length = len(pattern)
    while position < length:
        char = pattern[position]
        if char == "\x00":  # the ASCII word boundary set aside above
            out.append("\\" + pattern[position + 1])
            position += 2
            continue
        if char == "\\" and position + 1 < length:
            special = _escape(pattern, position)
            if special is not None:
                out.append(special[0])
                position += special[1]
                continue
            escaped = pattern[position + 1]
            table = _INSIDE_CLASS if class_depth else _OUTSIDE_CLASS
            out.append(table.get(escaped, "\\" + escaped))
            position += 2
            continue
        if char == "[":
            if class_depth and pattern.startswith("[:", position):
                # A POSIX class such as [:alpha:] inside brackets: RE2 reads it as Rust does.
                end = pattern.find(":]", position + 2)
                if end != -1:
                    out.append(pattern[position:end + 2])
                    position = end + 2
                    continue
            if class_depth:
                raise RegexSyntaxError("nested character classes are not supported")
            class_depth = 1
            out.append(char)
            position += 1
            # A `]` right after `[` or `[^` is a literal, not the end of the class.
            if position < length and pattern[position] == "^":
                out.append("^")
                position += 1
            if position < length and pattern[position] == "]":
                out.append(r"\]")
                position += 1
            continue
        if char == "]" and class_depth:
            class_depth = 0
        elif class_depth and pattern.startswith(("&&", "--", "~~"), position):
            raise RegexSyntaxError("character class set operations (&&, --, ~~) are not supported")
        out.append(char)
        position += 1
    return "".join(out)


def compile_pattern(pattern: str) -> Pattern:
    """Compile a `matches` pattern; raises RegexSyntaxError with RE2's reason."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_MEMORY
    if any("\ud800" <= char <= "\udfff" for char in pattern):
        raise RegexSyntaxError("the pattern holds a lone surrogate, which is not a character")
    try:
        compiled = re2.compile(translate(pattern), options=options)
    except re2.error as err:
        reason = err.args[0] if err.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexSyntaxError(str(reason)) from None
    too_large = pattern_too_large(compiled.groups, compiled.programsize)
    if too_large is not None:
        raise RegexSyntaxError(too_large)
    python, limit = _python_equivalent(pattern)
    return Pattern(pattern, compiled, compiled.groups, python, limit)


# Rust syntax that Python's `re` reads differently or not at all: such patterns stay on RE2.
# Case-insensitive matching stays on RE2 too: Python folds a few characters (the Turkish
# dotted and dotless i) differently from Rust.
_RE2_ONLY: Final = re.compile(
    r"\\[pPxzQEwWbBAhHvV0-9]|\[\[:|\(\?(?!:)|\{,")
_PYTHON_SPACE: Final = r"\t\n\x0b\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _python_equivalent(pattern: str) -> tuple[re.Pattern[str] | None, int]:
    """The pattern for Python's `re` and the longest subject it may search, or (None, 0)."""
    if _RE2_ONLY.search(pattern):
        return None, 0
    translated = _to_python(pattern)
    try:
        compiled = re.compile(translated)
        tree = sre_parse.parse(translated)
    except (re.error, RecursionError, OverflowError):
        return None, 0
    cost = _backtracking_shape(tree, inside_repeat=False)
    if cost is None:
        return None, 0
    growing, alternatives = cost
    budget = BACKTRACKING_BUDGET // alternatives
    if budget < 1:
        return None, 0
    # Worst case of a backtracking search: n start positions times n^k ways to split the
    # subject between k growing quantifiers.
    limit = int(budget ** (1.0 / (growing + 1)))
    return compiled, limit


def _to_python(pattern: str) -> str:
    """Rust spellings -> Python's for the syntax _RE2_ONLY lets through: `$` is the end of the
    text (Python's also matches before a final newline), `\\s` is Unicode White_Space."""
    out: list[str] = []
    in_class = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            escaped = pattern[position + 1]
            if escaped in "sS":
                body = _PYTHON_SPACE
                out.append(body if in_class and escaped == "s" else
                           f"[{'^' if escaped == 'S' else ''}{body}]")
            else:
                out.append(char + escaped)
            position += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            # `^` and a `]` right after the opening bracket belong to the class.
            end = position + 1
            if pattern.startswith("^", end):
                end += 1
            if pattern.startswith("]", end):
                end += 1
            out.append(pattern[position:end])
            position = end
            continue
        if char == "]" and in_class:
            in_class = False
        if char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
        position += 1
    return "".join(out)


def _backtracking_shape(tree: Any, inside_repeat: bool) -> tuple[int, int] | None:
    """(growing quantifiers, product of alternation widths) of a parsed pattern, or None when a
    quantifier holds another quantifier or an alternation (exponential backtracking)."""
    growing = 0
    alternatives = 1
    for op, value in tree:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            minimum, maximum, body = value
            if inside_repeat and minimum != maximum:
                return None  # `(a?){n}`, `(a+)+`: choices inside a repeat multiply
            if maximum > 1 and minimum != maximum:
                growing += 1
            elif minimum != maximum:
                alternatives *= 2  # `a?` is a choice point: n of them, 2^n paths
            inner = _backtracking_shape(body, inside_repeat or maximum > 1)
            if inner is None:
                return None
            growing += inner[0]
            alternatives *= inner[1]
        elif name == "SUBPATTERN":
            inner = _backtracking_shape(value[-1], inside_repeat)
            if inner is None:
                return None
            growing += inner[0]
            alternatives *= inner[1]
        elif name == "BRANCH":
            if inside_repeat:
                return None
            widths = 0
            for branch in value[1]:
                inner = _backtracking_shape(branch, inside_repeat)
                if inner is None:
                    return None
                growing += inner[0]
                widths += inner[1]
            alternatives *= widths
        elif name in ("ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS", "ATOMIC_GROUP"):
            return None
    return growing, alternatives
