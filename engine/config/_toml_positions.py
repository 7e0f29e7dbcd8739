"""Where each value of a TOML document sits in its text: the source map behind `load.py`.

tomli returns values without positions. This scanner walks a text that tomli has already
accepted and records, for every leaf value, the span of its key, the span of its value token
and, for strings whose decoded text maps one to one onto the file, where the content starts.
It also records where every table and array is defined.

Because tomli has validated the text, the scanner only looks for token boundaries and never
decodes values (except quoted keys, which it hands back to tomli). On text that tomli rejects its
result is meaningless, but it always terminates: a character it cannot place raises `ScanError`.

Paths are tuples of key parts; an `int` part is an array position (`load.py` writes it as four
digits). Array-of-tables headers follow TOML: `[[a]]` appends to the array `a`, and a header
path that goes through an array of tables goes into its last element.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Final

import tomli

from engine.errors import Span

PathPart = str | int
KeyPath = tuple[PathPart, ...]

# The scanner recurses twice per nesting level of inline arrays and tables. Configuration values
# never nest deeply (Stalwart's own reader rejects more than 10 levels), and this bound keeps the
# recursion far below Python's default limit of 1000 frames whoever the caller is.
MAX_NESTING: Final = 100

_WS: Final = frozenset(" \t")
# Blank space inside arrays and multi-line inline tables; "\r" comes before "\n" in CRLF files.
_WS_NL: Final = frozenset(" \t\r\n")
_BARE_KEY_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
)
# Characters that end a bare value token (number, boolean, date/time).
_BARE_VALUE_END: Final = frozenset(" \t\r\n,]}#")
_DATE_ONLY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# TOML allows a space between the date and the time of a date-time: `1979-05-27 07:32:00`.
_TIME_AFTER_SPACE: Final = re.compile(r" [0-9]{2}:")


class ScanError(ValueError):
    """The scanner met a character it cannot place (the text is not valid TOML)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} at offset {pos}")
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class ValuePosition:
    key_span: Span
    value_span: Span
    content_offset: int | None


@dataclass(frozen=True, slots=True)
class Positions:
    values: dict[KeyPath, ValuePosition] = field(default_factory=dict)  # in document order
    tables: dict[KeyPath, Span] = field(default_factory=dict)


class _LineIndex:
    """Spans with line and column in O(log n), where `Span.in_text` counts from the start."""

    def __init__(self, text: str) -> None:
        self._text_len = len(text)
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def span(self, start: int, end: int) -> Span:
        start = max(0, min(start, self._text_len))
        end = max(start, min(end, self._text_len))
        line = bisect.bisect_right(self._line_starts, start)
        return Span(start, end, line, start - self._line_starts[line - 1] + 1)


def scan_positions(text: str) -> Positions:
    """Return the source map of `text`, a document tomli has accepted."""
    return _Scanner(text).scan()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines = _LineIndex(text)
        self.result = Positions()
        # Number of elements of each array of tables so far, by its resolved path.
        self.aot_lengths: dict[KeyPath, int] = {}
        self.explicit_tables: set[KeyPath] = set()

    # -- low level ---------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def skip(self, chars: frozenset[str]) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def skip_blank(self) -> None:
        """Skip spaces, line breaks and comments (inside arrays and inline tables)."""
        while True:
            self.skip(_WS_NL)
            if self.peek() != "#":
                return
            self.skip_comment()

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise ScanError(f"expected {token!r}", self.pos)
        self.pos += len(token)

    # -- document ----------------------------------------------------------------------------

    def scan(self) -> Positions:
        prefix: KeyPath = ()
        while True:
            self.skip_blank()
            if self.pos >= len(self.text):
                return self.result
            if self.peek() == "[":
                prefix = self.parse_header()
            else:
                self.parse_key_value(prefix)
            self.skip(_WS)
            self.skip_comment()

    def parse_header(self) -> KeyPath:
        start = self.pos
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        parts, _ = self.parse_key()
        self.skip(_WS)
        self.expect("]]" if is_array else "]")
        span = self.lines.span(start, self.pos)

        path: KeyPath = ()
        for index, part in enumerate(parts):
            path += (part,)
            if index == len(parts) - 1:
                break
            self.note_table(path, span, explicit=False)
            if path in self.aot_lengths:  # a path through an array of tables: its last element
                path += (self.aot_lengths[path] - 1,)
        if is_array:
            self.note_table(path, span, explicit=False)  # the array: where it first appears
            position = self.aot_lengths.get(path, 0)
            self.aot_lengths[path] = position + 1
            path += (position,)
        self.note_table(path, span, explicit=True)
        return path

    def parse_key_value(self, prefix: KeyPath) -> None:
        parts, key_span = self.parse_key()
        for depth in range(1, len(parts)):  # a dotted key defines the tables it goes through
            self.note_table(prefix + tuple(parts[:depth]), key_span, explicit=False)
        self.skip(_WS)
        self.expect("=")
        self.skip(_WS)
        self.parse_value(prefix + tuple(parts), key_span, depth=0)

    def note_table(self, path: KeyPath, span: Span, *, explicit: bool) -> None:
        # An explicit definition (`[a]`, `a = {...}`) wins over a table implied by a longer
        # header or dotted key; otherwise the first place that mentions the path is kept.
        if explicit and path not in self.explicit_tables:
            self.explicit_tables.add(path)
            self.result.tables[path] = span
        else:
            self.result.tables.setdefault(path, span)

    # -- keys --------------------------------------------------------------------------------

    def parse_key(self) -> tuple[list[str], Span]:
        """A (dotted) key: its decoded parts and the span from its first to its last part."""
        parts: list[str] = []
        self.skip(_WS)
        start = self.pos
        while True:
            parts.append(self.parse_key_part())
            end = self.pos
            self.skip(_WS)
            if self.peek() != ".":
                break
            self.pos += 1
            self.skip(_WS)
        return parts, self.lines.span(start, end)

    def parse_key_part(self) -> str:
        start = self.pos
        char = self.peek()
        if char == '"':
            self.skip_basic_string()
            return _decode_string(self.text[start : self.pos])
        if char == "'":
            self.skip_literal_string()
            return self.text[start + 1 : self.pos - 1]
        self.skip(_BARE_KEY_CHARS)
        if self.pos == start:
            raise ScanError("expected a key", start)
        return self.text[start : self.pos]

    # -- values ------------------------------------------------------------------------------

    def parse_value(self, path: KeyPath, key_span: Span | None, depth: int) -> None:
        """Record the value at the cursor under `path`.

        `key_span` is the span of the key that introduced it, or None for an array element
        (whose own span then stands in for the key).
        """
        if depth > MAX_NESTING:
            raise ScanError(f"values nested deeper than {MAX_NESTING} levels", self.pos)
        start = self.pos
        char = self.peek()
        if char == "[":
            self.parse_array(path, depth)
        elif char == "{":
            self.parse_inline_table(path, depth)
        else:
            content_offset = self.skip_scalar()
            value_span = self.lines.span(start, self.pos)
            self.result.values[path] = ValuePosition(
                key_span or value_span, value_span, content_offset
            )
            return
        self.note_table(path, key_span or self.lines.span(start, self.pos), explicit=True)

    def parse_array(self, path: KeyPath, depth: int) -> None:
        self.expect("[")
        position = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return
            self.parse_value(path + (position,), None, depth + 1)
            position += 1
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise ScanError("expected ',' or ']'", self.pos)

    def parse_inline_table(self, path: KeyPath, depth: int) -> None:
        self.expect("{")
        while True:
            # TOML 1.1 (tomli 2.3+) allows line breaks, comments and a trailing comma here.
            self.skip_blank()
            if self.peek() == "}":
                self.pos += 1
                return
            parts, key_span = self.parse_key()
            for sub_depth in range(1, len(parts)):
                self.note_table(path + tuple(parts[:sub_depth]), key_span, explicit=False)
            self.skip(_WS)
            self.expect("=")
            self.skip(_WS)
            self.parse_value(path + tuple(parts), key_span, depth + 1)
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise ScanError("expected ',' or '}'", self.pos)

    def skip_scalar(self) -> int | None:
        """Move past a string, number, boolean or date; return the string's content offset."""
        start = self.pos
        if self.text.startswith('"""', start):
            self.skip_multiline_string('"')
            return _multiline_content_offset(self.text, start, self.pos, escapes=True)
        if self.text.startswith("'''", start):
            self.skip_multiline_string("'")
            return _multiline_content_offset(self.text, start, self.pos, escapes=False)
        if self.peek() == '"':
            self.skip_basic_string()
            has_escape = "\\" in self.text[start : self.pos]
            return None if has_escape else start + 1
        if self.peek() == "'":
            self.skip_literal_string()
            return start + 1
        self.skip_bare_value()
        return None

    def skip_bare_value(self) -> None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _BARE_VALUE_END:
            self.pos += 1
        if self.pos == start:
            raise ScanError("expected a value", start)
        if _DATE_ONLY.fullmatch(self.text, start, self.pos) and _TIME_AFTER_SPACE.match(
            self.text, self.pos
        ):
            self.pos += 1
            self.skip_bare_value()

    def skip_basic_string(self) -> None:
        self.pos += 1
        while True:
            char = self.peek()
            if char == "\\":
                self.pos += 2
            elif char == '"':
                self.pos += 1
                return
            elif char in ("", "\n"):
                raise ScanError("unterminated string", self.pos)
            else:
                self.pos += 1

    def skip_literal_string(self) -> None:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ScanError("unterminated string", self.pos)
        self.pos = end + 1

    def skip_multiline_string(self, quote: str) -> None:
        delimiter = quote * 3
        self.pos += 3
        while True:
            if self.pos >= len(self.text):
                raise ScanError("unterminated string", self.pos)
            if quote == '"' and self.peek() == "\\":
                self.pos += 2  # an escape (or a line-ending backslash) can hide a quote
            elif self.text.startswith(delimiter, self.pos):
                # Up to two quotes right before the closing delimiter belong to the content.
                run = 3
                while run < 5 and self.peek(run) == quote:
                    run += 1
                self.pos += run
                return
            else:
                self.pos += 1


def _multiline_content_offset(text: str, start: int, end: int, *, escapes: bool) -> int | None:
    """Content offset of a multi-line string token `text[start:end]`, or None.

    A line break right after the opening delimiter is not part of the value. tomli turns every
    CRLF into LF before parsing, so content holding a CR no longer maps one to one; neither does
    a basic string with a backslash (an escape or a line-ending backslash).
    """
    offset = start + 3
    if text.startswith("\n", offset):
        offset += 1
    elif text.startswith("\r\n", offset):
        offset += 2
    content = text[offset : end - 3]
    if "\r" in content or (escapes and "\\" in content):
        return None
    return offset


def _decode_string(token: str) -> str:
    """Decode a basic-string token (a quoted key part) exactly as tomli does."""
    value = tomli.loads(f"k = {token}\n")["k"]
    assert isinstance(value, str)
    return value
