"""Regular expressions for `matches`: Rust `regex` syntax, run by a linear-time engine.

Stalwart uses Rust's `regex` crate, whose matching time is linear in the input. Python's `re`
backtracks and can take exponential time on patterns such as `(a+)+$`, so patterns run on RE2
(the `google-re2` package), which has the same guarantee and almost the same syntax. Where the
two dialects differ we translate: Rust's `\\d`, `\\s` and `\\w` are Unicode-aware, RE2's are
ASCII, so they become the Unicode classes Rust means. Residual differences (documented in
docs/expressions.md): `\\b` and the negated `\\S`/`\\W` inside a bracket class keep RE2's ASCII
meaning; Rust's class set operations (`&&`, `--`, `~~`) and verbose mode `(?x)` are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import re2

#: RE2 memory budget for one compiled pattern. Rust's regex crate refuses patterns whose
#: compiled program exceeds 10 MiB by default; we allow the same order of size.
MAX_PROGRAM_MEMORY: Final = 16 << 20

# Unicode White_Space, as Rust's `\s`; \p{Z} holds the space separators, LS and PS.
_SPACE_CLASS: Final = r"\t\n\x0B\f\r\x{85}\p{Z}"
# Rust's `\w`: alphabetic, marks, decimal digits and connector punctuation.
_WORD_CLASS: Final = r"\p{L}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}"

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


class RegexSyntaxError(ValueError):
    """The pattern is not a valid regular expression for `matches`."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled `matches` pattern: `search` returns the capture list or None."""

    source: str
    _compiled: object

    def search(self, subject: str) -> tuple[str, ...] | None:
        """Leftmost match anywhere in `subject`: (whole match, group 1, ...), `''` for groups
        that did not take part; None when there is no match."""
        match = self._compiled.search(subject)  # type: ignore[attr-defined]
        if match is None:
            return None
        return tuple(group or "" for group in match.group(*range(match.re.groups + 1))) \
            if match.re.groups else (match.group(0),)


def translate(pattern: str) -> str:
    """Rewrite Rust-only spellings into RE2's (see the module docstring)."""
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
        if char == "\\" and position + 1 < length:
            escaped = pattern[position + 1]
            table = _INSIDE_CLASS if class_depth else _OUTSIDE_CLASS
            out.append(table.get(escaped, "\\" + escaped))
            position += 2
            continue
        if char == "[":
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
    try:
        compiled = re2.compile(translate(pattern), options=options)
    except re2.error as err:
        reason = err.args[0] if err.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexSyntaxError(str(reason)) from None
    return Pattern(pattern, compiled)
