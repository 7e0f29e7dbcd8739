"""`matches` patterns: the Rust dialect on two engines that must agree, in linear time."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expr.regex import BACKTRACKING_BUDGET, RegexSyntaxError, compile_pattern

PATTERNS = [
    r"^(.+)@(.+)$", r"^([^@]+)@([^.]+)\.(.+)$", r"(a)|(b)", r"o+", r"^\d+$", r"\s+", r"\S+@\S+",
    r"^(small|tiny)[.-]", r"(?i)^Mail", r"(?i:A)b", r"[]a]$", r"[^]$]+$", r"a$", r"^$",
    r"(?:ab)+$", r"x*", r"[[:digit:]]+", r"(\d{1,3})\.(\d{1,3})", r"^[a-z0-9.-]+\.example$",
    r".*\.test$", r"(foo)?bar", r"^\w+$", r"(?-u:\b)word(?-u:\b)",
]
SUBJECTS = ["joe@ex.org", "user@foo.example.org", "b", "ab", "foo", "123", "١٢٣", "a b\u3000c",
            "tiny.example", "small-shop.example", "mail.example", "MAIL", "x]", "ab]", "a\n",
            "", "abab", "xyz", "192.0.2.1", "host.example", "x.test", "bar", "foobar",
            "word", "a word here", "é"]


def re2_only(pattern: str) -> object:
    """The same pattern forced onto the RE2 engine."""
    compiled = compile_pattern(pattern)
    return compiled._re2  # noqa: SLF001 - the test compares the two engines on purpose


@pytest.mark.parametrize("pattern", PATTERNS)
def test_both_engines_agree(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    linear = re2_only(pattern)
    for subject in SUBJECTS:
        found = linear.search(subject)  # type: ignore[attr-defined]
        expected = None if found is None else (found.group(),) + found.groups("")
        if r"\w" in pattern or r"\b" in pattern:
            continue  # RE2's \b is ASCII-only (documented); \w is translated, compared below
        assert compiled.search(subject) == expected, (pattern, subject)


def test_python_path_is_used_only_within_its_budget() -> None:
    address = compile_pattern(r"^(.+)@(.+)$")  # two growing quantifiers: n^3 steps
    assert address.python_search is not None
    assert address.python_limit ** 3 <= BACKTRACKING_BUDGET
    assert compile_pattern(r"(a+)+$").python_search is None  # nested quantifiers
    assert compile_pattern(r"(a|aa)+$").python_search is None  # quantified alternation
    assert compile_pattern(r"\p{L}+").python_search is None  # syntax Python lacks


def test_rust_dollar_is_the_end_of_the_text() -> None:
    assert compile_pattern("a$").search("a\n") is None
    assert compile_pattern("(?m)a$").search("a\nb") == ("a",)


@pytest.mark.parametrize(("pattern", "subject"), [
    (r"^\d+$", "١٢٣"), (r"^\s$", "\u3000"), (r"^\w+$", "été"), (r"^[\d_]+$", "١_"),
])
def test_shorthand_classes_are_unicode_as_in_rust(pattern: str, subject: str) -> None:
    assert compile_pattern(pattern).search(subject) is not None


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)", r"(?<=a)b", "(", r"a{1000}{1000}",
                                     r"(?x) a"])
def test_patterns_rust_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(RegexSyntaxError):
        compile_pattern(pattern)


@pytest.mark.parametrize(("pattern", "subject"), [
    (r"(a+)+$", "a" * 100_000 + "b"),
    (r"(x+x+)+y", "x" * 50_000),
    (r"(a|aa)+$", "a" * 100_000 + "b"),
    (r"(.*a){20}", "a" * 50_000),
    (r"^(.+)@(.+)$", "a" * 200_000),
])
def test_hostile_patterns_finish(pattern: str, subject: str) -> None:
    compiled = compile_pattern(pattern)
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(compiled.search(subject)),
                              daemon=True)
    worker.start()
    worker.join(timeout=20)  # a hang guard, not a speed assertion
    assert not worker.is_alive() and len(result) == 1


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for p in PATTERNS if "\\w" not in p and "\\b" not in p]),
       st.text(alphabet="ab@.-x1 \n日", max_size=30))
def test_engines_agree_on_random_subjects(pattern: str, subject: str) -> None:
    found = re2_only(pattern).search(subject)  # type: ignore[attr-defined]
    expected = None if found is None else (found.group(),) + found.groups("")
    assert compile_pattern(pattern).search(subject) == expected


# --- Rust's dialect: Unicode tables, code point escapes, scripts, and named refusals ----------

@pytest.mark.parametrize("char", ["Ⅰ", "Ⓐ", "〇", "é", "_", "٣", "\u200d"])
def test_word_class_follows_rusts_unicode_tables(char: str) -> None:
    # Rust's \w is Alphabetic + marks + Nd + Pc + Join_Control: Nl and circled letters count.
    assert compile_pattern(r"^\w$").search(char) == (char,)
    assert compile_pattern(r"^\W$").search(char) is None
    assert compile_pattern(r"^[\w]$").search(char) == (char,)


@pytest.mark.parametrize("char", ["-", " ", "⑴", "€"])
def test_non_word_characters(char: str) -> None:
    assert compile_pattern(r"^\w$").search(char) is None


@pytest.mark.parametrize(("pattern", "subject", "found"), [
    (r"\u0041", "xA", "A"), (r"\u{41}", "A", "A"), (r"\U0001F600", "😀", "😀"),
    (r"\U{1F600}", "😀", "😀"), (r"[\u0061-\u0063]+", "abcd", "abc"),
    (r"^\p{Script=Greek}+$", "αβγ", "αβγ"), (r"^\p{sc=Greek}+$", "αβ", "αβ"),
    (r"^\P{Script=Greek}+$", "abc", "abc"), (r"(?-u:\b)mail(?-u:\b)", "a mail.", "mail"),
    (r"a{1000}", "a" * 1000, "a" * 1000), (r"\x{1001}", "\u1001", "\u1001"),
])
def test_rust_spellings_are_translated(pattern: str, subject: str, found: str) -> None:
    assert compile_pattern(pattern).search(subject) == (found,)


@pytest.mark.parametrize(("pattern", "reason"), [
    (r"\bé", "Unicode word boundary in Rust"), (r"x\B", "Unicode word boundary in Rust"),
    (r"\Qa.b\E", r"\Q...\E quoting is not Rust regex syntax"),
    (r"x{1001}", "exceeds 1000"), (r"x{2,5000}", "exceeds 1000"),
    (r"\<word", "word-boundary half"), (r"\u{110000}", "not a Unicode scalar value"),
    (r"\uD800", "not a Unicode scalar value"), (r"\u12", r"invalid \u escape"),
])
def test_differences_are_refused_with_their_name(pattern: str, reason: str) -> None:
    with pytest.raises(RegexSyntaxError, match=re.escape(reason)):
        compile_pattern(pattern)


def test_a_nul_character_is_not_taken_for_the_boundary_marker() -> None:
    assert compile_pattern("a\x00b").search("a\x00b") == ("a\x00b",)
