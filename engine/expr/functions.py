"""The built-in functions of spec section 7, by name.

`FUNCTIONS` maps every name of the table in 7.7 except the two special forms (`matches`,
`config_get`, which the tokenizer reads) to a `Function`: its fixed arity, whether it is pure
and its implementation. Pure implementations take the evaluated arguments and return a value;
they are total (no exception on any value of the four kinds). Service implementations take the
evaluation's `Services` (or None) first and raise `EvalError` when their backend is missing or
fails. The array, email and network functions live here; the text functions in
`_text_functions`, the service functions in `_service_functions`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cmp_to_key
from types import MappingProxyType
from typing import Final

from engine.expr import _service_functions as svc
from engine.expr import _text_functions as txt
from engine.expr._loose_set import LooseSet
from engine.expr._ip import parse_ip, parse_ipv4, parse_ipv6, reverse_name
from engine.expr._unicode import WHITE_SPACE
from engine.expr.values import Value, compare, equals, list_view, text, truthy

__all__ = ["FUNCTIONS", "SPECIAL_FORMS", "Function", "closest_function"]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    arity: int
    pure: bool
    implementation: Callable[..., Value]


def _flag(condition: bool) -> int:
    return 1 if condition else 0


# --- arrays (7.2) ----------------------------------------------------------------------------

def count(value: Value) -> Value:
    if value.__class__ is list:
        return len(value)
    return 0 if value == "" and value.__class__ is str else 1


def _ascending(left: Value, right: Value) -> int:
    order = compare(left, right)
    return 1 if order is None else order  # unordered (NaN) pairs count as "greater" (6.10)


def _descending(left: Value, right: Value) -> int:
    # Stalwart sorts with `b.cmp(a)`: the arguments swap, and an unordered pair still gives
    # "greater", so this is not simply the reverse of the ascending order when a NaN is present.
    order = compare(right, left)
    return 1 if order is None else order


def sort(value: Value, descending: Value) -> Value:
    order = _descending if truthy(descending) else _ascending
    return sorted(list_view(value), key=cmp_to_key(order))


def dedup(value: Value) -> Value:
    # Keeps an item unless it loosely equals one kept before it; the LooseSet answers that
    # in O(1) expected, where scanning `kept` made 30,000 values take minutes.
    kept: list[Value] = []
    seen = LooseSet()
    for item in list_view(value):
        if not seen.contains(item):
            kept.append(item)
            seen.add(item)
    return kept


def winnow(value: Value) -> Value:
    if value.__class__ is not list:
        return value
    # Only empty Strings go: 0, [] and [''] stay.
    return [item for item in value if not (item.__class__ is str and item == "")]


def is_intersect(left: Value, right: Value) -> Value:
    if isinstance(left, list):
        if isinstance(right, list):
            index = LooseSet()  # linear instead of every pair
            for item in left:
                index.add(item)
            return _flag(any(index.contains(item) for item in right))
        return _flag(any(equals(item, right) for item in left))
    if isinstance(right, list):
        return _flag(any(equals(item, left) for item in right))
    return 0  # two non-arrays never intersect, even when equal


# --- email (7.3) -----------------------------------------------------------------------------

_ATOM_BYTES: Final = frozenset(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-/=?^_`{|}~"
)
_QUOTED_RUN_BYTES: Final = frozenset(b">:, ")
_DOT, _AT, _QUOTE, _BACKSLASH = ord("."), ord("@"), ord('"'), ord("\\")


def is_email(value: Value) -> Value:
    """The byte state machine of 7.3, transcribed arm by arm (the order of the tests matters)."""
    quoted = False
    ats = dots = local_len = run = 0
    prev = 0  # "none": no byte processed yet
    for byte in txt.utf8(text(value)):
        if byte in _ATOM_BYTES or byte >= 0x7F:
            run += 1
        elif byte == _DOT and not quoted:
            if prev == _DOT or prev == _AT or run == 0:
                return 0
            run += 1
            if ats == 1:
                dots += 1
        elif byte == _AT and not quoted:
            ats += 1
            local_len = run
            run = 0
        elif byte in _QUOTED_RUN_BYTES and quoted:
            run += 1
        elif byte == _QUOTE and (not quoted or prev != _BACKSLASH):
            quoted = not quoted
        elif byte == _BACKSLASH and quoted and prev != _BACKSLASH:
            pass
        elif not quoted:
            return 0
        prev = byte
    return _flag(ats == 1 and dots >= 1 and local_len >= 1 and run >= 1)


def email_part(value: Value, part: Value) -> Value:
    name = text(part)

    def one(address: str) -> Value:
        local, at, domain = address.rpartition("@")  # the LAST @
        if not at:
            return ""
        if name == "local":
            return local.strip(WHITE_SPACE)
        if name == "domain":
            return domain.strip(WHITE_SPACE)
        return ""

    return txt.mapped(value, one)


# --- network and miscellaneous (7.5) ---------------------------------------------------------

def is_empty(value: Value) -> Value:
    if value.__class__ is str or value.__class__ is list:
        return _flag(not value)
    return 0  # Integer, Float


def is_number(value: Value) -> Value:
    return _flag(value.__class__ is int or value.__class__ is float)


def is_ip_addr(value: Value) -> Value:
    return _flag(parse_ip(text(value)) is not None)


def is_ipv4_addr(value: Value) -> Value:
    return _flag(parse_ipv4(text(value)) is not None)


def is_ipv6_addr(value: Value) -> Value:
    # An IPv4 text never parses as IPv6 (no colon), so checking IPv6 alone matches `IpAddr`.
    return _flag(parse_ipv6(text(value)) is not None)


def ip_reverse_name(value: Value) -> Value:
    return reverse_name(text(value))


def if_then(condition: Value, when_true: Value, when_false: Value) -> Value:
    # Both branches were already evaluated by the caller (7: no laziness); pick one unchanged.
    return when_true if truthy(condition) else when_false


# --- the registry ----------------------------------------------------------------------------

_PURE: Final[tuple[tuple[str, int, Callable[..., Value]], ...]] = (
    ("count", 1, count),
    ("sort", 2, sort),
    ("dedup", 1, dedup),
    ("winnow", 1, winnow),
    ("is_intersect", 2, is_intersect),
    ("is_email", 1, is_email),
    ("email_part", 2, email_part),
    ("is_empty", 1, is_empty),
    ("is_number", 1, is_number),
    ("is_ip_addr", 1, is_ip_addr),
    ("is_ipv4_addr", 1, is_ipv4_addr),
    ("is_ipv6_addr", 1, is_ipv6_addr),
    ("ip_reverse_name", 1, ip_reverse_name),
    ("trim", 1, txt.trim),
    ("trim_end", 1, txt.trim_end),
    ("trim_start", 1, txt.trim_start),
    ("len", 1, txt.length),
    ("to_lowercase", 1, txt.to_lowercase),
    ("to_uppercase", 1, txt.to_uppercase),
    ("is_uppercase", 1, txt.is_uppercase),
    ("is_lowercase", 1, txt.is_lowercase),
    ("has_digits", 1, txt.has_digits),
    ("count_spaces", 1, txt.count_spaces),
    ("count_uppercase", 1, txt.count_uppercase),
    ("count_lowercase", 1, txt.count_lowercase),
    ("count_chars", 1, txt.count_chars),
    ("contains", 2, txt.contains),
    ("contains_ignore_case", 2, txt.contains_ignore_case),
    ("eq_ignore_case", 2, txt.eq_ignore_case),
    ("starts_with", 2, txt.starts_with),
    ("ends_with", 2, txt.ends_with),
    ("lines", 1, txt.lines),
    ("substring", 3, txt.substring),
    ("strip_prefix", 2, txt.strip_prefix),
    ("strip_suffix", 2, txt.strip_suffix),
    ("split", 2, txt.split),
    ("rsplit", 2, txt.rsplit),
    ("split_once", 2, txt.split_once),
    ("rsplit_once", 2, txt.rsplit_once),
    ("split_n", 3, txt.split_n),
    ("split_words", 1, txt.split_words),
    ("hash", 2, txt.hash_text),
    ("if_then", 3, if_then),
)

_SERVICE: Final[tuple[tuple[str, int, Callable[..., Value]], ...]] = (
    ("is_local_domain", 2, svc.is_local_domain),
    ("is_local_address", 2, svc.is_local_address),
    ("key_get", 2, svc.key_get),
    ("key_exists", 2, svc.key_exists),
    ("key_set", 3, svc.key_set),
    ("counter_incr", 3, svc.counter_incr),
    ("counter_get", 2, svc.counter_get),
    ("dns_query", 2, svc.dns_query),
    ("sql_query", 3, svc.sql_query),
)

FUNCTIONS: Final[Mapping[str, Function]] = MappingProxyType({
    **{name: Function(name, arity, True, impl) for name, arity, impl in _PURE},
    **{name: Function(name, arity, False, impl) for name, arity, impl in _SERVICE},
})

#: Names that look like calls but are read by the tokenizer (2.8), with their arities.
SPECIAL_FORMS: Final[Mapping[str, int]] = MappingProxyType({"matches": 2, "config_get": 1})


def closest_function(name: str) -> str | None:
    """The known function name closest to `name`, for a "did you mean" hint; None if none is
    close. The special forms count as known: `matchs(` most likely meant `matches(`."""
    candidates = [*FUNCTIONS, *SPECIAL_FORMS]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if found:
        return found[0]
    # difflib's ratio punishes case differences as hard as any other; names are case-sensitive
    # (7), so `Contains` deserves the hint `contains` all the same.
    lowered = {candidate.lower(): candidate for candidate in candidates}
    return lowered.get(name.lower())
