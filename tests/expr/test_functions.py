"""The pure built-in functions of spec section 7, called directly, with exact expected values."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expr import _unicode
from engine.expr._text_functions import MAX_EMPTY_SEPARATOR_CUTS
from engine.expr.functions import FUNCTIONS, SPECIAL_FORMS, Function, closest_function
from engine.expr.values import INT_MAX, INT_MIN

NAN = float("nan")
INF = float("inf")
CRLF = "\r\n"


def call(name: str, *args: Any) -> Any:
    function = FUNCTIONS[name]
    assert function.pure and function.arity == len(args)
    return function.implementation(*args)


def same(actual: Any, expected: Any) -> bool:
    """Strict equality: kinds must match (1 is not 1.0 nor True), NaN equals NaN."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return bool(actual == expected)


def check(name: str, args: tuple[Any, ...], expected: Any) -> None:
    result = call(name, *args)
    assert same(result, expected), f"{name}{args!r} = {result!r}, expected {expected!r}"


def cases(name: str, *rows: tuple[Any, ...]) -> list[Any]:
    """rows of (arg, ..., expected) -> pytest params named after the call."""
    return [pytest.param(name, row[:-1], row[-1], id=f"{name}{row[:-1]!r}"[:90]) for row in rows]


ARRAYS = [
    *cases("count", ([1, 2, 3], 3), ([], 0), ("", 0), ("a", 1), (0, 1), (0.0, 1), ([[]], 1),
           (NAN, 1)),
    # 14: a truthy second argument sorts descending.
    *cases("sort", ([3, 1, 2], 0, [1, 2, 3]), ([3, 1, 2], 1, [3, 2, 1]),
           (["b", "a", "z"], 1, ["z", "b", "a"]), (["b", "a", "z"], 0, ["a", "b", "z"]),
           (["b", "a", "z"], "false", ["z", "b", "a"]), (["b", "a"], "", ["a", "b"]),
           ("x", 0, ["x"]), ("", 1, []), (5, 0.0, [5]),
           ([[2], [1, 0], [1]], 0, [[1], [1, 0], [2]]),
           ([2, [1], 1.5, -1], 0, [-1, 1.5, 2, [1]]), ([2, [1], 1.5, -1], 1, [[1], 2, 1.5, -1]),
           (["b", "B", "é", "z"], 0, ["B", "b", "z", "é"]), (["10", 9], 0, [9, "10"])),
    *cases("dedup", ([1, "1", 2], [1, 2]), (["a", 0], ["a"]), ("", []), ("x", ["x"]),
           ([[1], ["1"], [2]], [[1], [2]]), ([1.0, 1], [1.0]), ([NAN, NAN], [NAN, NAN]),
           ([2, 1, 2, 1], [2, 1]), (0, [0])),
    *cases("winnow", (["", 0, [], [""], "a", ""], [0, [], [""], "a"]), ("", ""), (5, 5),
           ("x", "x"), ([], [])),
    *cases("is_intersect", ([1, 2], [3, "2"], 1), ([1], [2], 0), ([1, 2], "1", 1),
           ("a", ["b", "a"], 1), ("a", "a", 0), ([], [], 0), ([[1]], [[1]], 1), (1, 1, 0),
           (["abc"], "b", 0), ([""], "", 1), ([], "", 0)),
]

EMAIL = [
    # The examples of 7.3, then the corners of the state machine.
    *cases("is_email", ("user@example.com", 1), ("user@localhost", 0), ("a@b.", 1),
           ("a.@b.c", 1), (".a@b.c", 0), ("a..b@c.d", 0), ("a@.b.c", 0), ("a@b..c", 0),
           ("a b@c.d", 0), ('"a b"@c.d', 1), ("é@b.c", 1), ("a.b@c", 0),
           ("", 0), ("@b.c", 0), ("a@b@c.d", 0), ("a@b.c ", 0), ("a\\b@c.d", 0),
           ('"a\\"b"@c.d', 1), ('"a\\\\"@b.c', 0), ('"a@b"@c.d', 1), ('a"@b.c', 0),
           ('"a,b:c>d"@e.f', 1), ("\x7f@b.c", 1), ("a@b.c\x00", 0), ("a@b.c.", 1),
           (["a@b.c"], 1), (["a@b.c", "x"], 0), (5, 0), ("a+tag@ex-ample.com", 1)),
    *cases("email_part", ("user@example.com", "local", "user"),
           ("user@example.com", "domain", "example.com"),
           ("a@b@c", "local", "a@b"), ("a@b@c", "domain", "c"),
           (" user @ example.com ", "local", "user"),
           (" user @ example.com ", "domain", "example.com"),
           ("nobody", "domain", ""), ("a@b", "Domain", ""), ("a@b", "host", ""),
           (["a@b", "c@d", 5, ["x@y"]], "domain", ["b", "d", "", "y"]), (5, "local", ""),
           ("\u3000x@y\u2003", "local", "x"), ("x@y\x1c", "domain", "y\x1c"), ("@", "local", ""),
           ("a@", "domain", "")),
]

TEXT = [
    *cases("trim", ("  a b  ", "a b"), ("\t\n x \r\n", "x"), ("\u3000\u00a0x\u2029\x85", "x"),
           ("\x1cx\x1f", "\x1cx\x1f"), ("\u200bx", "\u200bx"), (5, "5"), (1.0, "1.0"),
           ([" a ", 5, [" b "], ""], ["a", "5", "b", ""]), ("", ""), ([], [])),
    *cases("trim_start", (" a ", "a "), ([" a"], ["a"]), (-1, "-1")),
    *cases("trim_end", (" a ", " a"), ("a\u2028", "a"), ("a\x1d", "a\x1d")),
    *cases("len", ("é", 2), ("abc", 3), ("", 0), ("日", 3), ([1, 2], 2), ([], 0), (-5, 2),
           (1.0, 3), (1e16, 4), (NAN, 3), (INT_MIN, 20)),
    *cases("to_lowercase", ("ΣΑΣ", "σας"), ("ABC", "abc"),
           (["A", 1, "Σ", [1.5]], ["a", "1", "σ", "1.5"]),
           ("İ", "i\u0307"), ("ΑΣ Σ", "ας σ")),
    *cases("to_uppercase", ("ß", "SS"), ("ﬁ", "FI"), (1.5, "1.5"), (["a"], ["A"]),
           ("σας", "ΣΑΣ")),
    *cases("is_uppercase", ("ABC", 1), ("AbC", 0), ("123", 1), ("", 1), ("A1!", 1), ("日", 0),
           ("Ⓐ", 1), ("ा", 0), (5, 1), (["A", "a", 7], [1, 0, 1])),
    *cases("is_lowercase", (["a", "B"], [1, 0]), ("ª", 1), ("ा", 0), ("्", 1), ("ʰ", 1),
           ("ⓐ", 1), ("Ⅰ", 0), ("日本", 0), ("abc def", 1)),
    *cases("has_digits", ("abc1", 1), ("abc", 0), ("٣", 0), (5, 1), (["a", "b2"], [0, 1]),
           ("", 0)),
    *cases("count_spaces", ("a b\tc\n", 3), ("\x1c\x1d\x1e\x1f", 0), ("\u3000\u00a0\u2028", 3),
           (["a", "b"], 2), ("\u200b", 0), (1.5, 0)),
    *cases("count_uppercase", ("HeLLo", 3), ("ⒶⅠ", 2), ("日", 0), ([], 0)),
    *cases("count_lowercase", ("HeLLo", 2), ("ªʰ", 2), ("ß", 1)),
    *cases("count_chars", ("hi there", 8), ("é日", 2), ("", 0), (12, 2), ([1, 2], 4),
           (["a", "", "b"], 6)),
    *cases("contains", ("hello", "ell", 1), ("hello", "", 1), ("hello", "x", 0),
           (["abc"], "b", 0), ([1, 2], "1", 1), (["a"], 0, 1), (123, 2, 1), (1.5, ".", 1),
           ("a5", 5, 1), ([[1]], [1], 1), ([], "", 0), ("", "", 1), (1.0, "1.0", 1)),
    *cases("contains_ignore_case", ("Hello World", "WORLD", 1), ("ΣΑΣ", "ς", 1),
           ("straße", "SS", 0), (["Hello"], "HELLO", 1), (["Hello world"], "hello", 0),
           ([1], "1", 0), (["É"], "é", 0), (123, "2", 1), (1e20, "E", 0), (1e20, "e", 1),
           ("ABC", ["b"], 1), (["a", ["A"]], "a", 1), ([["A"]], "a", 0)),
    *cases("eq_ignore_case", ("ABC", "abc", 1), ("É", "é", 0), ("a", "a ", 0), (1, "1", 1),
           (1.0, "1.0", 1), ("\u212a", "k", 0), ("", [], 1)),
    *cases("starts_with", ("hello", "he", 1), ("hello", "", 1), (123, 1, 1), ("he", "hello", 0)),
    *cases("ends_with", ("hello", "lo", 1), ("hello", "he", 0), (["a", "b"], "b", 1),
           (1.0, ".0", 1)),
    *cases("lines", ("a\nb", ["a", "b"]), ("a\r\nb\r\n", ["a", "b"]), ("", []),
           ("a\n\nb", ["a", "", "b"]), ("\n", [""]), ("a\rb", ["a\rb"]), ("a\r", ["a\r"]),
           ("a\n\r", ["a", "\r"]), ("hello\\nworld", ["hello\\nworld"]), (5, 5),
           (["a\nb"], ["a\nb"]), ("x\r\r\n", ["x\r"]), ("\r\n\r\n", ["", ""])),
    # start and length in characters, with index() (5.6).
    *cases("substring", ("hello world", 6, 5, "world"), ("hello", 1, -1, "ello"),
           ("hello", -1, 3, ""), ("héllo", 1, 2, "él"), ("hello", "x", 2, "he"),
           ("hello", 1, "x", ""), ("hello", 1.9, 2.5, "el"), ("hello", "+1", "2", "el"),
           (12345, 1, 2, "23"), ("abc", 0, 100, "abc"), ("abc", [], 1, "a"),
           ("hello", -1.5, 2, "he"), ("日本語", 2, 1, "語"), ("abc", 3, 1, ""),
           ("abc", "18446744073709551615", 1, "")),
    *cases("strip_prefix", ("foobar", "foo", "bar"), ("foobar", "bar", ""), ("foo", "", "foo"),
           (["ab", "b", "abab"], "a", ["b", "", "bab"]), (123, 1, "23"), ("foo", "foo", "")),
    *cases("strip_suffix", ("foobar", "bar", "foo"), ("foobar", "foo", ""), ("foo", "", "foo"),
           ("foo", "foo", ""), ([1.5, "x.5"], ".5", ["1", "x"])),
    *cases("split", ("a,b,c", ",", ["a", "b", "c"]), ("", ",", [""]),
           ("abc", "", ["", "a", "b", "c", ""]), ("", "", ["", ""]), ("a,,b", ",", ["a", "", "b"]),
           (["a,b", "c"], ",", ["a", "b" + CRLF + "c"]), (1.5, ".", ["1", "5"]),
           ("aaa", "aa", ["", "a"]), ("a1b1c", 1, ["a", "b", "c"])),
    *cases("rsplit", ("hello.world.com", ".", ["com", "world", "hello"]),
           ("abc", "", ["", "c", "b", "a", ""]), ("aaa", "aa", ["", "a"]), ("a", ",", ["a"]),
           ("", ",", [""])),
    *cases("split_once", ("a=b=c", "=", ["a", "b=c"]), ("abc", "=", ""), ("abc", "", ["", "abc"]),
           ("=", "=", ["", ""]), ("", "x", "")),
    *cases("rsplit_once", ("a=b=c", "=", ["a=b", "c"]), ("abc", "", ["abc", ""]), ("abc", "x", ""),
           ("aaa", "aa", ["a", ""])),
    *cases("split_n", ("a,b,c,d", ",", 2, ["a", "b", "c,d"]), ("a,b,c,d", ",", 0, ["a,b,c,d"]),
           ("abc", "", 3, ["", "", "", "abc"]), ("a,b", ",", -1, ["a", "b"]),
           ("a,b", ",", "x", ["a,b"]), ("a,b,c", ",", 1.9, ["a", "b,c"]),
           ("a,b,c", ",", "2", ["a", "b", "c"]), ("a,b,c", ",", 10, ["a", "b", "c"]),
           ("", ",", 5, [""]), ("abc", "", 0, ["abc"]), ("a,b", ",", "", ["a,b"]),
           ("a,b,c", ",", "1.5", ["a,b,c"]), ("a,b", ",", [2], ["a,b"]),
           ("a,b", ",", "18446744073709551615", ["a,b"]),  # not an i64: none, so 0
           ("a,b,c", ",", INT_MIN, ["a", "b", "c"]), ("a,b,c", ",", -INF, ["a", "b", "c"]),
           ("a,b,c", ",", NAN, ["a,b,c"]), ("aaaa", "aa", 5, ["", "", ""])),
    *cases("split_words", ("hello, world 42", ["world", "42"]), ("", []),
           ("  a\u3000b\x1cc ", ["a"]), ("naïve café", ["naïve", "café"]),
           ("हिन्दी", []),  # the virama is a mark, not alphanumeric
           ("कि", ["कि"]), ("x²", ["x²"]), ("Ⅻ 日本", ["Ⅻ", "日本"]),
           (["a b", "c"], ["a", "b", "c"]),
           (1.5, [])),
    *cases("hash", ("abc", "md5", "900150983cd24fb0d6963f7d28e17f72"),
           ("abc", "sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
           ("abc", "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
           ("abc", "sha512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
           ("", "md5", "d41d8cd98f00b204e9800998ecf8427e"),
           (["a", "b"], "md5", "65d5f03c46e62e3f2babbe712d2ce464"),
           ("abc", "MD5", ""), ("abc", "sha-256", ""), ("abc", "", ""),
           ("abc", ["md5"], "900150983cd24fb0d6963f7d28e17f72"),
           ("abc", "sha384", ""), ("abc", " md5", "")),
]

NETWORK = [
    *cases("is_empty", ("", 1), ("a", 0), (0, 0), (0.0, 0), ([], 1), ([""], 0)),
    *cases("is_number", (1, 1), (1.5, 1), ("1", 0), ("123", 0), ([], 0), ("", 0), (NAN, 1)),
    *cases("is_ip_addr", ("192.0.2.1", 1), ("::1", 1), ("fe80::1%eth0", 0), ("[::1]", 0),
           ("01.2.3.4", 0), ("1.2.3", 0), ("", 0), (5, 0), (["1.2.3.4"], 1), (" 1.2.3.4", 0),
           ("1.2.3.4 ", 0), ("١.2.3.4", 0), ("0.0.0.0", 1), ("255.255.255.255", 1),
           ("256.1.1.1", 0), ("1.2.3.4.5", 0), ("1.2.3.004", 0), ("::", 1)),
    *cases("is_ipv4_addr", ("192.0.2.1", 1), ("::ffff:192.0.2.1", 0), ("256.0.0.1", 0),
           ("1.2.3.4\n", 0)),
    *cases("is_ipv6_addr", ("::ffff:192.0.2.1", 1), ("192.0.2.1", 0), ("2001:db8::", 1),
           ("1::2:3:4:5:6:7:8", 0), ("12345::", 0), (":::", 0), ("1:2:3:4:5:6:7:8", 1),
           ("1:2:3:4:5:6:7::", 1), ("::2:3:4:5:6:7:8", 1), ("1:2:3:4:5:6:1.2.3.4", 1),
           ("1.2.3.4::", 0), ("::1.2.3.4:5", 0), ("1:2:3:4:5:6:7:1.2.3.4", 0), (":1::", 0),
           ("1:::2", 0), ("0000::", 1), ("::00001", 0), ("1:2:3:4:5:6::1.2.3.4", 0),
           ("1:2:3:4:5::1.2.3.4", 1), ("::1.2.3.04", 0), ("f:f:f:f:f:f:f:f:f", 0),
           ("FE80::A", 1), ("fe80::1%eth0", 0), ("[::1]", 0), ("1::", 1), ("::g", 0)),
    *cases("ip_reverse_name", ("192.0.2.1", "1.2.0.192"),
           ("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"),
           ("::ffff:192.0.2.1", "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"),
           ("FE80::A", "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f"),
           ("not an ip", ""), ("01.2.3.4", ""), ("10.0.0.255", "255.0.0.10"), (3, "")),
    *cases("if_then", (1, "a", "b", "a"), (0, "a", "b", "b"), ("", [1], 2, 2), ("0", "x", "y", "x"),
           (0.0, 1, 2, 2), (-0.0, 1, 2, 2), (NAN, 1, 2, 1), ([], "a", "b", "b"),
           ([0], "a", "b", "a"), (" ", 1.5, 2, 1.5)),
]


@pytest.mark.parametrize(("name", "args", "expected"), ARRAYS + EMAIL + TEXT + NETWORK)
def test_function_table(name: str, args: tuple[Any, ...], expected: Any) -> None:
    check(name, args, expected)


# --- section 14: the code, not the documentation -------------------------------------------

@pytest.mark.parametrize(("name", "args", "expected"), [
    ("sort", (["b", "a", "z"], 1), ["z", "b", "a"]),
    ("is_number", ("123",), 0),
    ("rsplit", ("hello.world.com", "."), ["com", "world", "hello"]),
    ("substring", ("hello world", 0, 5), "hello"),
    ("count_chars", ("hi there",), 8),
    ("count_spaces", ("a\u2003b\u00a0c",), 2),
    ("lines", ("hello\\nworld",), ["hello\\nworld"]),
    ("lines", ("hello\nworld",), ["hello", "world"]),
    ("strip_prefix", ("hello", "x"), ""),
    ("strip_suffix", ("hello", "x"), ""),
    ("contains", (["a", "b"], "a"), 1),
    ("contains_ignore_case", (["Mail"], "mail"), 1),
    ("contains_ignore_case", (10, "1"), 1),
    ("eq_ignore_case", ("Ä", "ä"), 0),
])
def test_documentation_differences(name: str, args: tuple[Any, ...], expected: Any) -> None:
    check(name, args, expected)


# --- unchanged values, bounds and properties -------------------------------------------------

def test_unchanged_values_are_the_same_objects() -> None:
    a, b = [1], [2]
    assert call("if_then", 1, a, b) is a and call("if_then", 0, a, b) is b
    nested = [["x\ny"]]
    assert call("lines", nested) is nested
    assert call("winnow", 7.5) == 7.5


# Spec 5.3: ['a', [1]] -> 'a' CR LF (Stalwart pushes the separator before looking at the
# element, so a nested array still separates).
@pytest.mark.parametrize(("name", "args", "expected"), [
    ("count_chars", (["a", [1], "b"],), 6),
    ("split", (["a", [1]], CRLF), ["a", ""]),
    ("hash", (["a", [1]], "md5"), "933222b19ff3e7ea5f65517ea1f7d57e"),
])
def test_nested_arrays_in_text(name: str, args: tuple[Any, ...], expected: Any) -> None:
    check(name, args, expected)


def test_results_are_new_lists() -> None:
    original = [3, 1]
    assert call("sort", original, 0) == [1, 3] and original == [3, 1]
    assert call("dedup", original) is not original
    assert call("winnow", original) is not original


@pytest.mark.parametrize("count", [-1, INT_MIN, INT_MAX, "-1", INF, 1e300])
def test_split_n_empty_separator_is_bounded(count: Any) -> None:
    result = call("split_n", "abc", "", count)
    assert len(result) == MAX_EMPTY_SEPARATOR_CUTS + 1
    assert result[-1] == "abc" and set(result[:-1]) == {""}


def test_split_n_empty_separator_exact_below_the_bound() -> None:
    assert call("split_n", "a", "", 5) == ["", "", "", "", "", "a"]
    result = call("split_n", "a", "", MAX_EMPTY_SEPARATOR_CUTS)
    assert len(result) == MAX_EMPTY_SEPARATOR_CUTS + 1


def test_split_n_huge_count_with_separator() -> None:
    assert call("split_n", "a,b", ",", -1) == ["a", "b"]
    assert call("split_n", "a,b", ",", INT_MAX) == ["a", "b"]


def test_booleans_are_ints_not_bools() -> None:
    for name, args in [("is_empty", ("",)), ("contains", ("a", "a")), ("is_email", ("a@b.c",)),
                       ("is_ip_addr", ("::1",)), ("eq_ignore_case", ("a", "A")),
                       ("is_intersect", ([1], [1])), ("starts_with", ("a", "")),
                       ("is_number", (1,)), ("has_digits", ("1",)), ("is_uppercase", ("A",))]:
        result = call(name, *args)
        assert type(result) is int and result == 1, name


def test_white_space_is_the_unicode_property() -> None:
    expected = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
    found = {code for code in range(0x110000) if _unicode.is_whitespace(chr(code))}
    assert found == expected
    assert "\x1c".isspace() and not _unicode.is_whitespace("\x1c")  # why str.isspace is avoided


@pytest.mark.parametrize(("char", "alphabetic", "upper", "lower", "numeric"), [
    ("a", True, False, True, False), ("A", True, True, False, False),
    ("日", True, False, False, False), ("\u093e", True, False, False, False),  # vowel sign AA
    ("\u094d", False, False, False, False),  # virama: a mark, not alphabetic
    ("\u0345", True, False, True, False),  # Other_Lowercase, Other_Alphabetic
    ("Ⅻ", True, True, False, True), ("ⓐ", True, False, True, False),
    ("Ⓐ", True, True, False, False), ("ª", True, False, True, False),
    ("ʰ", True, False, True, False), ("1", False, False, False, True),
    ("²", False, False, False, True), ("٣", False, False, False, True),
    ("_", False, False, False, False),
    ("\U0001F130", True, True, False, False),  # squared Latin capital letter A (So)
    ("\U00011F50", False, False, False, True),  # Kawi digit zero: Unicode 15.0
    ("\U0001E030", True, False, True, False),  # modifier letter Cyrillic small a: Unicode 15.0
])
def test_unicode_properties(char: str, alphabetic: bool, upper: bool, lower: bool,
                            numeric: bool) -> None:
    assert _unicode.is_alphabetic(char) is alphabetic
    assert _unicode.is_uppercase(char) is upper
    assert _unicode.is_lowercase(char) is lower
    assert _unicode.is_numeric(char) is numeric


# --- the registry ------------------------------------------------------------------------------

PURE_TABLE = {
    "count": 1, "sort": 2, "dedup": 1, "winnow": 1, "is_intersect": 2, "is_email": 1,
    "email_part": 2, "is_empty": 1, "is_number": 1, "is_ip_addr": 1, "is_ipv4_addr": 1,
    "is_ipv6_addr": 1, "ip_reverse_name": 1, "trim": 1, "trim_end": 1, "trim_start": 1, "len": 1,
    "to_lowercase": 1, "to_uppercase": 1, "is_uppercase": 1, "is_lowercase": 1, "has_digits": 1,
    "count_spaces": 1, "count_uppercase": 1, "count_lowercase": 1, "count_chars": 1,
    "contains": 2, "contains_ignore_case": 2, "eq_ignore_case": 2, "starts_with": 2,
    "ends_with": 2, "lines": 1, "substring": 3, "strip_prefix": 2, "strip_suffix": 2, "split": 2,
    "rsplit": 2, "split_once": 2, "rsplit_once": 2, "split_n": 3, "split_words": 1, "hash": 2,
    "if_then": 3,
}
SERVICE_TABLE = {
    "is_local_domain": 2, "is_local_address": 2, "key_get": 2, "key_exists": 2, "key_set": 3,
    "counter_incr": 3, "counter_get": 2, "dns_query": 2, "sql_query": 3,
}


def test_registry_is_the_summary_table() -> None:
    assert {name: f.arity for name, f in FUNCTIONS.items() if f.pure} == PURE_TABLE
    assert {name: f.arity for name, f in FUNCTIONS.items() if not f.pure} == SERVICE_TABLE
    assert all(isinstance(f, Function) and f.name == name for name, f in FUNCTIONS.items())
    assert "matches" not in FUNCTIONS and "config_get" not in FUNCTIONS
    assert dict(SPECIAL_FORMS) == {"matches": 2, "config_get": 1}
    with pytest.raises(TypeError):
        FUNCTIONS["x"] = FUNCTIONS["count"]  # type: ignore[index]


@pytest.mark.parametrize(("name", "expected"), [
    ("contain", "contains"), ("Contains", "contains"), ("to_lower", "to_lowercase"),
    ("lenght", "len"), ("splitn", "split_n"), ("matchs", "matches"), ("key_gte", "key_get"),
    ("xyzzy", None), ("", None),
])
def test_closest_function(name: str, expected: str | None) -> None:
    assert closest_function(name) == expected


# --- totality -----------------------------------------------------------------------------------

_ODD_CHARS = ["\ud800", "\udfff", "\x1c", "\x00", "\r", "\n", "\u0345", "Σ", "ß", "İ", "@", ".",
              '"', "\\", ":", "%", "\u3000", "\U0010ffff", "\U0001F130", "\u093e"]
_ODD_TEXTS = ["", "1", "-1", "+1", "1.5", "nan", "inf", "-inf", "1e400", "::1", "1.2.3.4",
              "::ffff:1.2.3.4", "a@b.c", '"a b"@c.d', "md5", "sha1", "sha256", "sha512", "local",
              "domain", "18446744073709551615", "-9223372036854775808", "9223372036854775808",
              "a\r\nb\n", " x "]

SCALARS = st.one_of(
    st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_ODD_CHARS)), max_size=12),
    st.sampled_from(_ODD_TEXTS),
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.sampled_from([0, 1, -1, INT_MIN, INT_MAX, 1 << 32]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([NAN, INF, -INF, 0.0, -0.0, 5e-324, 1e16, 1.5]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def _is_value(value: Any) -> bool:
    if type(value) in (str, int, float):
        return type(value) is not int or INT_MIN <= value <= INT_MAX
    return type(value) is list and all(_is_value(item) for item in value)


@pytest.mark.parametrize("name", sorted(PURE_TABLE))
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_pure_functions_are_total(name: str, data: st.DataObject) -> None:
    function = FUNCTIONS[name]
    args = data.draw(st.lists(VALUES, min_size=function.arity, max_size=function.arity))
    result = function.implementation(*args)
    assert _is_value(result), (name, args, result)
