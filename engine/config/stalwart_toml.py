"""Stalwart's own TOML reader: the flat map of texts its configuration loader builds.

Stalwart (v0.12, crates/utils/src/config/parser.rs) does not use a TOML library. Its reader
accepts constructs that standard TOML refuses (unknown escapes, line breaks inside quotes, sets
`{ "a", "b" }`, repeated table headers, bare words) and reads some others differently (triple double quotes are
raw, `'...'` processes escapes, `[[a]]` positions restart after another array of tables, table
names are lower-cased). This module follows its rules, character by character, so that the
flat keys and texts are the ones a Stalwart server gets; `load.py` reads standard TOML.

It is the reference the rewriting pass and `lint` are built on: it returns the flat map, in
document order, with the offset of each key and value in the text, or the first error that makes
Stalwart refuse the whole file. It deliberately does not recover after an error: Stalwart does
not either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from engine.errors import EngineError
from engine.expr._unicode import is_alphanumeric

#: Stalwart refuses values nested this deep (its MAX_NEST_LEVEL).
MAX_NESTING: Final = 10
_BARE_KEY: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_ESCAPES: Final = {"t": "\t", "r": "\r", "n": "\n"}


class StalwartReadError(EngineError, ValueError):
    """Stalwart's reader refuses the file; `pos` is the offset where it stopped."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} (at offset {pos})")
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    value: str
    #: offset of the value's first character (its quote, for a string) and one past its end
    start: int
    end: int


@dataclass(slots=True)
class Reading:
    entries: list[Entry] = field(default_factory=list)  # in document order
    values: dict[str, str] = field(default_factory=dict)


def read_stalwart(text: str) -> Reading:
    """Read `text` as Stalwart does; raises StalwartReadError where Stalwart would.

    >>> read_stalwart('[Sets]\\nips = { "10.0.0.1", 2 }\\nre = "\\\\d+"\\n').values
    {'Sets.ips.10.0.0.1': '', 'Sets.ips.2': '', 'Sets.re': 'd+'}
    """
    return _Reader(text).read()


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.result = Reading()

    # -- characters, as Stalwart's iterator yields them (carriage returns never reach it) -----

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] == "\r":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next_char(self, skip_space: bool, allow_newline: bool) -> str:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\r" or (skip_space and char in " \t"):
                continue
            if char == "\n" and not allow_newline:
                raise StalwartReadError("Unexpected end of line", self.pos - 1)
            return char
        raise StalwartReadError("Unexpected EOF", self.pos)

    def skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def seek_next(self) -> bool:
        while True:
            char = self.peek()
            if char in (" ", "\t", "\n"):
                self.pos += 1
            elif char == "#":
                self.skip_line()
            else:
                return char != ""

    # -- document ----------------------------------------------------------------------------

    def read(self) -> Reading:
        table = ""
        last_array = ""
        last_position = 0
        while self.seek_next():
            char = self.peek()
            if char == "[":
                table, last_array, last_position = self.header(last_array, last_position)
            elif char.isascii() and (char.isalnum() or char == '"'):
                key = self.key(f"{table}." if table else "", in_curly=False)[0]
                self.value(key, ("\n",), 0)
            else:
                raise StalwartReadError(f"Unexpected character {char!r}", self.pos)
        return self.result

    def header(self, last_array: str, last_position: int) -> tuple[str, str, int]:
        start = self.pos
        self.next_char(True, False)
        first = self.next_char(True, False)
        is_array = first == "["
        name = "" if is_array else first  # the first character of a [table] is kept as written
        in_quote = False
        last = ""
        while True:
            char = self.next_char(not in_quote, False)
            if char == '"' and (not in_quote or last != "\\"):
                in_quote = not in_quote
            elif char == "\\" and in_quote:
                pass
            elif char == "]" and not in_quote:
                if not name:
                    raise StalwartReadError("Empty table name", start)
                if not is_array:
                    break
                if name == last_array:
                    last_position += 1
                else:
                    last_array, last_position = name, 0
                is_array = False
                name += f".{last_position:04d}"
            elif in_quote:
                name += char
            elif is_alphanumeric(char) or char in ".-_":
                name += char.lower() if char.isascii() else char
            else:
                raise StalwartReadError(f"Unexpected character {char!r}", self.pos - 1)
            last = char
        self.skip_line()  # whatever follows the closing bracket is ignored
        return name, last_array, last_position

    def key(self, key: str, in_curly: bool) -> tuple[str, str]:
        base = len(key)
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "=" or (in_curly and char in ",}"):
                if len(key) == base:
                    raise StalwartReadError("Empty key", self.pos - 1)
                return key, char
            if char in _BARE_KEY:
                key += char
            elif char == '"':
                last = ""
                while True:
                    if self.pos >= len(self.text):
                        raise StalwartReadError("Unexpected EOF", self.pos)
                    inner = self.text[self.pos]
                    self.pos += 1
                    if inner == '"' and last != "\\":
                        break
                    if inner == "\n":
                        raise StalwartReadError("Unexpected end of line in a quoted key",
                                                self.pos - 1)
                    if inner != "\\":
                        key += inner
                    last = inner
            elif char in " \t\r":
                pass
            elif char == "\n" and len(key) == base:
                pass
            else:
                raise StalwartReadError(f"Unexpected character {char!r} in key", self.pos - 1)
        raise StalwartReadError("Unexpected EOF", self.pos)

    def value(self, key: str, stops: tuple[str, ...], depth: int) -> str:
        if depth == MAX_NESTING:
            raise StalwartReadError("Too many nested structures", self.pos)
        char = self.next_char(True, False)
        start = self.pos - 1
        if char == "[":
            position = 0
            self.seek_next()
            while True:
                stop = self.value(f"{key}.{position:04d}", (",", "]"), depth + 1)
                if stop == "]":
                    break
                if stop != ",":
                    raise StalwartReadError(f"Unexpected character {stop!r} in array",
                                            self.pos - 1)
                self.seek_next()
                position += 1
        elif char == "{":
            base = f"{key}."
            while True:
                element = self.pos
                sub_key, stop = self.key(base, in_curly=True)
                if stop == "=":
                    self.seek_next()
                    found = self.value(sub_key, (",", "}"), depth + 1)
                    if found == "}":
                        break
                    if found != ",":
                        raise StalwartReadError(f"Unexpected character {found!r} in table",
                                                self.pos - 1)
                    self.seek_next()
                    continue
                if len(sub_key) > len(base):  # a set element
                    written = self.text[element:self.pos - 1]
                    first = element + len(written) - len(written.lstrip())
                    self.insert(sub_key, "", first, element + len(written.rstrip()))
                if stop == "}":
                    break
        elif char in "'\"":
            self.insert(key, self.string(char), start, self.pos)
        elif is_alphanumeric(char) or char in ".+-":
            while self.pos < len(self.text) and (is_alphanumeric(self.text[self.pos])
                                                 or self.text[self.pos] in ".+-"):
                self.pos += 1
            self.insert(key, self.text[start:self.pos], start, self.pos)
        elif char in stops:
            return char
        else:
            raise StalwartReadError(f"Expected {' or '.join(map(repr, stops))} but found "
                                    f"{char!r}", self.pos - 1)
        while True:
            char = self.next_char(True, True)
            if char == "#":
                self.skip_line()
                if "\n" in stops:
                    return "\n"
            elif char in stops:
                return char
            elif char != "\n":
                raise StalwartReadError(f"Expected {' or '.join(map(repr, stops))} but found "
                                        f"{char!r}", self.pos - 1)

    def string(self, quote: str) -> str:
        if self.peek() == quote:
            self.pos += 1
            if self.peek() != quote:
                return ""
            self.pos += 1
            if self.peek() == "\n":
                self.pos += 1
            value: list[str] = []
            while True:  # raw up to the first three quotes in a row
                value.append(self.next_char(False, True))
                if value[-3:] == [quote] * 3:
                    return "".join(value[:-3])
        value = []
        last = ""
        while True:
            char = self.next_char(False, True)
            if char == "\\" and last != "\\":
                pass  # an escape: the backslash is dropped
            elif last == "\\" and char in _ESCAPES:
                value.append(_ESCAPES[char])
            elif char != quote or last == "\\":
                value.append(char)
            else:
                return "".join(value)
            last = char

    def insert(self, key: str, value: str, start: int, end: int) -> None:
        if key in self.result.values:
            raise StalwartReadError(f"Duplicate key {key!r}", start)
        self.result.values[key] = value
        self.result.entries.append(Entry(key, value, start, end))
