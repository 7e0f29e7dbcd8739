"""The text functions of spec section 7.4 (and the mapped helper of 7.1).

Every function takes already evaluated values and returns a value; none raises on any value of
the four kinds. Booleans are the Integers 1 and 0. Strings may hold lone surrogates when a
caller put them there (Rust strings cannot): byte views encode them with `surrogatepass`, so
they count three bytes instead of failing.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Final

from engine.expr import _unicode
from engine.expr.values import Value, equals, index_view, integer_view, text

_WHITE_SPACE: Final = _unicode.WHITE_SPACE
# Only A-Z fold: Rust's `eq_ignore_ascii_case` leaves every other character as it is.
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_DIGITS: Final = frozenset("0123456789")
_HASHES: Final = ("md5", "sha1", "sha256", "sha512")
#: Most cuts `split_n` makes with an empty separator; see `split_n`.
MAX_EMPTY_SEPARATOR_CUTS: Final = 1 << 16


def utf8(value: str) -> bytes:
    """UTF-8 bytes of a text; a lone surrogate (impossible in Rust) gives 3 bytes, not an error."""
    return value.encode("utf-8", "surrogatepass")


def ascii_lower(value: str) -> str:
    return value.translate(_ASCII_LOWER)


def mapped(value: Value, function: Callable[[str], Value]) -> Value:
    """Spec 7.1: an Array maps element-wise (non-Strings through text()), anything else gives
    one result; a number is first turned into text."""
    if value.__class__ is list:
        return [function(item if item.__class__ is str else text(item)) for item in value]
    return function(value if value.__class__ is str else text(value))


def _flag(condition: bool) -> int:
    return 1 if condition else 0


# --- mapped functions ----------------------------------------------------------------------

def trim(value: Value) -> Value:
    # str.strip() without arguments would use str.isspace, which is not White_Space.
    return mapped(value, lambda s: s.strip(_WHITE_SPACE))


def trim_start(value: Value) -> Value:
    return mapped(value, lambda s: s.lstrip(_WHITE_SPACE))


def trim_end(value: Value) -> Value:
    return mapped(value, lambda s: s.rstrip(_WHITE_SPACE))


def to_lowercase(value: Value) -> Value:
    # str.lower/upper use the full mappings with the Final_Sigma rule, as Rust's str methods do.
    return mapped(value, str.lower)


def to_uppercase(value: Value) -> Value:
    return mapped(value, str.upper)


def _all_letters(s: str, predicate: Callable[[str], bool]) -> int:
    return _flag(all(predicate(c) for c in s if _unicode.is_alphabetic(c)))


def is_uppercase(value: Value) -> Value:
    return mapped(value, lambda s: _all_letters(s, _unicode.is_uppercase))


def is_lowercase(value: Value) -> Value:
    return mapped(value, lambda s: _all_letters(s, _unicode.is_lowercase))


def has_digits(value: Value) -> Value:
    # ASCII digits only (Rust's is_ascii_digit), not str.isdigit.
    return mapped(value, lambda s: _flag(any(c in _ASCII_DIGITS for c in s)))


def strip_prefix(value: Value, prefix: Value) -> Value:
    affix = text(prefix)
    return mapped(value, lambda s: s[len(affix):] if s.startswith(affix) else "")


def strip_suffix(value: Value, suffix: Value) -> Value:
    affix = text(suffix)
    # s[:len(s) - len(affix)], not s[:-len(affix)], which would be '' for an empty suffix.
    return mapped(value, lambda s: s[:len(s) - len(affix)] if s.endswith(affix) else "")


# --- counts and predicates -------------------------------------------------------------------

def length(value: Value) -> Value:
    if value.__class__ is str:
        return len(utf8(value))  # bytes, not characters
    if value.__class__ is list:
        return len(value)
    return len(text(value))  # the text of a number is ASCII: characters = bytes


def count_spaces(value: Value) -> Value:
    return sum(1 for c in text(value) if _unicode.is_whitespace(c))


def count_uppercase(value: Value) -> Value:
    return sum(1 for c in text(value) if _unicode.is_alphabetic(c) and _unicode.is_uppercase(c))


def count_lowercase(value: Value) -> Value:
    return sum(1 for c in text(value) if _unicode.is_alphabetic(c) and _unicode.is_lowercase(c))


def count_chars(value: Value) -> Value:
    return len(text(value))


def contains(haystack: Value, needle: Value) -> Value:
    if haystack.__class__ is str:
        return _flag(text(needle) in haystack)
    if haystack.__class__ is list:
        # Membership with the loose equality of 6.9, not a substring test.
        return _flag(any(equals(item, needle) for item in haystack))
    return _flag(text(needle) in text(haystack))


def contains_ignore_case(haystack: Value, needle: Value) -> Value:
    wanted = text(needle)
    if haystack.__class__ is str:
        return _flag(wanted.lower() in haystack.lower())
    if haystack.__class__ is list:
        # Whole-element, ASCII-only comparison; elements that are not Strings never match.
        folded = ascii_lower(wanted)
        return _flag(any(item.__class__ is str and ascii_lower(item) == folded
                         for item in haystack))
    return _flag(wanted in text(haystack))  # a number: case-sensitive


def eq_ignore_case(left: Value, right: Value) -> Value:
    return _flag(ascii_lower(text(left)) == ascii_lower(text(right)))


def starts_with(value: Value, prefix: Value) -> Value:
    return _flag(text(value).startswith(text(prefix)))


def ends_with(value: Value, suffix: Value) -> Value:
    return _flag(text(value).endswith(text(suffix)))


# --- cutting ---------------------------------------------------------------------------------

def lines(value: Value) -> Value:
    """Rust `str::lines`: LF ends a line, CR LF too; a lone CR (even at the end) stays."""
    if value.__class__ is not str:
        return value
    pieces = value.split("\n")
    last = pieces.pop()
    result: list[Value] = [piece[:-1] if piece.endswith("\r") else piece for piece in pieces]
    if last:
        result.append(last)  # a final line ending adds no empty line
    return result


def substring(value: Value, start: Value, count: Value) -> Value:
    skip = index_view(start)
    take = index_view(count)
    skip = 0 if skip is None else skip
    take = 0 if take is None else take
    chars = text(value)
    if skip >= len(chars):
        return ""
    # Python slices clamp, so a huge count (a negative integer's index view) takes the rest.
    return chars[skip:skip + take]


def split(value: Value, separator: Value) -> Value:
    subject = text(value)
    sep = text(separator)
    if not sep:
        # Rust's empty pattern matches at every character boundary, both ends included.
        return ["", *subject, ""]
    return list(subject.split(sep))


def rsplit(value: Value, separator: Value) -> Value:
    subject = text(value)
    sep = text(separator)
    if not sep:
        return ["", *reversed(subject), ""]
    # Rust searches from the end, so with a self-overlapping separator (`'aaa'` at `'aa'`) the
    # pieces are those of str.rsplit, which also matches from the right: ['', 'a'], not the
    # reversed forward split ['a', ''].
    pieces: list[Value] = list(subject.rsplit(sep))
    pieces.reverse()
    return pieces


def split_once(value: Value, separator: Value) -> Value:
    subject = text(value)
    sep = text(separator)
    if not sep:
        return ["", subject]  # the empty pattern first matches at position 0
    before, found, after = subject.partition(sep)
    return [before, after] if found else ""


def rsplit_once(value: Value, separator: Value) -> Value:
    subject = text(value)
    sep = text(separator)
    if not sep:
        return [subject, ""]  # the empty pattern last matches at the end
    before, found, after = subject.rpartition(sep)
    return [before, after] if found else ""


def split_n(value: Value, separator: Value, count: Value) -> Value:
    subject = text(value)
    sep = text(separator)
    wanted = integer_view(count)
    cuts = 0 if wanted is None else wanted
    if cuts < 0:
        cuts += 1 << 64  # Rust's `as usize`: a negative count is huge
    if not sep:
        # Each cut at an empty separator yields '' and consumes nothing, so the reference makes
        # exactly N cuts; with a huge N (any negative n) it never finishes. The number of cuts
        # is bounded so that such a call ends with a bounded list: exact for every N up to
        # 65,536 (far beyond any sensible use), truncated beyond.
        cuts = min(cuts, MAX_EMPTY_SEPARATOR_CUTS)
        return [*([""] * cuts), subject]
    # Every cut consumes at least one character, so more than len(subject) cuts cannot happen;
    # clamping keeps maxsplit inside what str.split accepts.
    return list(subject.split(sep, min(cuts, len(subject))))


def split_words(value: Value) -> Value:
    return [word for word in _unicode.split_whitespace(text(value))
            if all(_unicode.is_alphanumeric(c) for c in word)]


def hash_text(value: Value, algorithm: Value) -> Value:
    name = text(algorithm)
    if name not in _HASHES:
        return ""  # exact, case-sensitive names only
    # Not a security use: FIPS-restricted builds must still give the digest.
    return hashlib.new(name, utf8(text(value)), usedforsecurity=False).hexdigest()
