"""Stalwart's value semantics: the four kinds of value, their views, and the operators.

A value is a `str` (String), an `int` (Integer, signed 64-bit), a `float` (Float) or a `list`
(Array). There is no boolean and no null: comparisons give the Integers 1 and 0 and anything
missing is `''`. Every function here is total (spec/expressions.md sections 4 to 6): none of
them raises on any value of those four kinds. The compiler emits direct Python operations when
it knows operand types and falls back on these helpers otherwise.
"""

from __future__ import annotations

import math
import re
from functools import cmp_to_key
from typing import Final, TypeAlias, Union

Value: TypeAlias = Union[str, int, float, list["Value"]]

INT_MIN: Final = -(1 << 63)
INT_MAX: Final = (1 << 63) - 1
#: index(v) of a negative Integer is 2^64 + n: never a valid position, "take all" as a count.
USIZE_MAX: Final = (1 << 64) - 1

# Rust's `i64::from_str` and `f64::from_str` (spec 5.8). Python's int() and float() accept
# spaces, underscores and more, so they are only called on text these patterns accepted.
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+\Z")
_UINT_TEXT: Final = re.compile(r"\+?[0-9]+\Z")
_FLOAT_TEXT: Final = re.compile(
    r"[+-]?(?:(?i:inf|infinity|nan)|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\Z"
)


# --- conversions from outside -------------------------------------------------------------

#: Deepest nesting of arrays accepted from a caller: deeper values are refused rather than
#: risk exhausting the stack (expressions themselves nest at most 100 levels).
MAX_VALUE_DEPTH: Final = 100


def normalise(value: object, depth: int = 0) -> Value:
    """Turn a Python value given by a caller into one of the four kinds.

    bool and int subclasses become int (saturated to 64 bits), tuples become lists, None
    becomes `''`. Anything else is refused with TypeError: an expression never sees a Python
    object it could reach into.
    """
    cls = type(value)
    if cls is str or cls is float:
        return value  # type: ignore[return-value]
    if cls is int:
        return value if INT_MIN <= value <= INT_MAX else saturate(value)  # type: ignore[operator,return-value,arg-type]
    # issubclass(type(...)), not isinstance: isinstance believes an object's `__class__`,
    # which the object itself can fake.
    if issubclass(cls, bool):
        return int(value)  # type: ignore[call-overload,no-any-return]
    if issubclass(cls, int):
        return saturate(int(value))  # type: ignore[call-overload]
    if issubclass(cls, float):
        return float(value)  # type: ignore[arg-type]
    if issubclass(cls, str):
        return str(value)
    if issubclass(cls, (list, tuple)):
        if depth >= MAX_VALUE_DEPTH:
            raise TypeError(f"arrays nested more than {MAX_VALUE_DEPTH} levels deep")
        return [normalise(item, depth + 1) for item in value]  # type: ignore[attr-defined]
    if value is None:
        return ""
    raise TypeError(f"unsupported value type {type(value).__name__}")


def saturate(number: int) -> int:
    """Clamp to the signed 64-bit range, as Stalwart's saturating integer operators do."""
    if number > INT_MAX:
        return INT_MAX
    if number < INT_MIN:
        return INT_MIN
    return number


def parse_int_text(text: str) -> int | None:
    """Rust `i64::from_str`: optional sign and ASCII digits, fitting in 64 bits; else None."""
    if _INT_TEXT.match(text) is None:
        return None
    number = int(text)
    return number if INT_MIN <= number <= INT_MAX else None


def parse_float_text(text: str) -> float | None:
    """Rust `f64::from_str`: no spaces, no underscores, `inf`/`nan` in any case; else None."""
    if _FLOAT_TEXT.match(text) is None:
        return None
    return float(text)


# --- views (spec 5) --------------------------------------------------------------------------

def truthy(value: Value) -> bool:
    """Integer/Float: not zero (NaN is truthy); String: not empty; Array: not empty."""
    return bool(value) if value.__class__ is not float else value != 0.0


def number(value: Value) -> int | float:
    """The numeric view: numbers as is, numeric strings parsed, anything else 0 (`[]` is 1)."""
    cls = value.__class__
    if cls is int or cls is float:
        return value  # type: ignore[return-value]
    if cls is str:
        if not value:
            return 0
        parsed_int = parse_int_text(value)  # type: ignore[arg-type]
        if parsed_int is not None:
            return parsed_int
        parsed_float = parse_float_text(value)  # type: ignore[arg-type]
        return 0 if parsed_float is None else parsed_float
    return 1 if not value else 0


def _shortest_digits(value: float) -> tuple[str, int]:
    """For a finite positive float: digits D (no leading/trailing zeros) and E, value = D x 10^E.

    `repr` gives the shortest round-trip digits, the same as Rust's ryu.
    """
    mantissa, _, exponent_text = repr(value).partition("e")
    exponent = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent -= len(fraction)
    trimmed = digits.rstrip("0")
    return trimmed, exponent + len(digits) - len(trimmed)


def _special_float(value: float, zero: str) -> str | None:
    """The text of NaN, the infinities and the zeros (both views agree but on zero)."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0.0:
        return ("-" if math.copysign(1.0, value) < 0 else "") + zero
    return None


def float_text(value: float) -> str:
    """Float to text the way v0.12 functions do (ryu layout, spec 5.3)."""
    special = _special_float(value, "0.0")
    if special is not None:
        return special
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    count = len(digits)
    point = count + exponent
    if exponent >= 0 and point <= 16:
        body = digits + "0" * exponent + ".0"
    elif exponent < 0 and 0 < point <= 16:
        body = digits[:point] + "." + digits[point:]
    elif -5 < point <= 0:
        body = "0." + "0" * -point + digits
    elif count == 1:
        body = f"{digits}e{point - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{point - 1}"
    return sign + body


def float_display(value: float) -> str:
    """Float as `+` shows it next to a string: positional, no exponent, `1.0` -> `1` (5.4)."""
    special = _special_float(value, "0")
    if special is not None:
        return special
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    if exponent >= 0:
        return sign + digits + "0" * exponent
    point = len(digits) + exponent
    if point > 0:
        return sign + digits[:point] + "." + digits[point:]
    return sign + "0." + "0" * -point + digits


def text(value: Value) -> str:
    """The text view used by functions (5.3); arrays join their non-array elements with CR LF."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if cls is int:
        return str(value)
    if cls is float:
        return float_text(value)  # type: ignore[arg-type]
    joined = ""
    for item in value:  # type: ignore[union-attr]
        # Stalwart adds the separator before looking at the element, whenever the text so far
        # is not empty; a nested array then contributes nothing.
        if joined:
            joined += "\r\n"
        if item.__class__ is not list:
            joined += text(item)
    return joined


def display(value: Value) -> str:
    """The display view, used only by `+` with a string operand (5.4)."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if cls is float:
        return float_display(value)  # type: ignore[arg-type]
    return text(value)


def list_view(value: Value) -> list[Value]:
    """An Array's elements; `''` gives none; any other value is a one-element list (5.5)."""
    if value.__class__ is list:
        return value
    if value == "" and value.__class__ is str:
        return []
    return [value]


def index_view(value: Value) -> int | None:
    """Unsigned view for positions and counts (5.6); None where Stalwart has no value."""
    cls = value.__class__
    if cls is int:
        return value if value >= 0 else (1 << 64) + value  # type: ignore[operator,return-value]
    if cls is float:
        if value != value or value <= 0:  # type: ignore[operator]
            return 0
        return USIZE_MAX if value >= 18446744073709551615.0 else int(value)  # type: ignore[operator,arg-type]
    if cls is str:
        if _UINT_TEXT.match(value) is None:  # type: ignore[arg-type]
            return None
        parsed = int(value)  # type: ignore[arg-type]
        return parsed if parsed <= USIZE_MAX else None
    return None


def integer_view(value: Value) -> int | None:
    """Signed view (5.7): Float truncated and saturated, NaN 0, numeric String parsed."""
    cls = value.__class__
    if cls is int:
        return value  # type: ignore[return-value]
    if cls is float:
        if value != value:
            return 0
        if math.isinf(value):  # type: ignore[arg-type]
            return INT_MAX if value > 0 else INT_MIN  # type: ignore[operator]
        return saturate(int(value))  # type: ignore[arg-type]
    if cls is str and value:
        return parse_int_text(value)  # type: ignore[arg-type]
    return None


# --- equality and order (6.9, 6.10) ---------------------------------------------------------

def _numbers_equal(left: int | float, right: int | float) -> bool:
    # Stalwart converts the integer to a float before comparing with a float.
    if left.__class__ is int and right.__class__ is int:
        return left == right
    return float(left) == float(right)


def equals(left: Value, right: Value) -> bool:
    """Loose equality: numbers across kinds, numeric strings against numbers, arrays by element."""
    left_cls = left.__class__
    right_cls = right.__class__
    if left_cls is list or right_cls is list:
        if left_cls is not right_cls or len(left) != len(right):  # type: ignore[arg-type]
            return False
        return all(equals(a, b) for a, b in zip(left, right))  # type: ignore[arg-type]
    if left_cls is str:
        if right_cls is str:
            return left == right
        return _numbers_equal(number(left), right)  # type: ignore[arg-type]
    if right_cls is str:
        return _numbers_equal(left, number(right))  # type: ignore[arg-type]
    return _numbers_equal(left, right)  # type: ignore[arg-type]


def _compare_numbers(left: int | float, right: int | float) -> int | None:
    if left.__class__ is not int or right.__class__ is not int:
        left, right = float(left), float(right)
        if left != left or right != right:
            return None
    return (left > right) - (left < right)


def compare(left: Value, right: Value) -> int | None:
    """-1, 0 or 1 by the order of 6.10; None when the values are unordered (a NaN)."""
    left_cls = left.__class__
    right_cls = right.__class__
    if left_cls is list:
        if right_cls is not list:
            return 1
        for a, b in zip(left, right):  # type: ignore[arg-type]
            order = compare(a, b)
            if order != 0:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))  # type: ignore[arg-type]
    if right_cls is list:
        return 1 if left_cls is str else -1
    if left_cls is str:
        if right_cls is str:
            return (left > right) - (left < right)  # type: ignore[operator]
        return _compare_numbers(number(left), right)  # type: ignore[arg-type]
    if right_cls is str:
        return _compare_numbers(left, number(right))  # type: ignore[arg-type]
    return _compare_numbers(left, right)  # type: ignore[arg-type]


def sort_key() -> object:
    """Key for `sorted` with the order of 6.10, unordered pairs counting as "greater"."""
    def ordering(left: Value, right: Value) -> int:
        order = compare(left, right)
        return 1 if order is None else order
    return cmp_to_key(ordering)


# --- operators (6.2 to 6.10) ------------------------------------------------------------------

def add(left: Value, right: Value) -> Value:
    left_cls = left.__class__
    right_cls = right.__class__
    if left_cls is int and right_cls is int:
        return saturate(left + right)  # type: ignore[operator,arg-type]
    if (left_cls is int or left_cls is float) and (right_cls is int or right_cls is float):
        return float(left) + float(right)  # type: ignore[arg-type]
    if left_cls is list:
        return left + right if right_cls is list else left + [right]  # type: ignore[operator]
    if right_cls is list:
        return [left] + right  # type: ignore[operator]
    if left_cls is str:
        return right if not left else left + display(right)  # type: ignore[operator]
    # right is a String here: numbers with numbers were handled above.
    return left if not right else display(left) + right  # type: ignore[operator]


def _numeric(left: Value, right: Value) -> tuple[int | float, int | float]:
    left_cls = left.__class__
    right_cls = right.__class__
    return (left if left_cls is int or left_cls is float else number(left),  # type: ignore[return-value]
            right if right_cls is int or right_cls is float else number(right))


def subtract(left: Value, right: Value) -> Value:
    left_cls = left.__class__
    right_cls = right.__class__
    if left_cls is list:
        return [item for item in left if not equals(item, right)]  # type: ignore[union-attr]
    if right_cls is list:
        # The array is always the one filtered, whichever side it stands on (6.3).
        return [item for item in right if not equals(item, left)]  # type: ignore[union-attr]
    a, b = _numeric(left, right)
    if a.__class__ is int and b.__class__ is int:
        return saturate(a - b)
    return float(a) - float(b)


def multiply(left: Value, right: Value) -> Value:
    a, b = _numeric(left, right)
    if a.__class__ is int and b.__class__ is int:
        return saturate(a * b)
    return float(a) * float(b)


def divide(left: Value, right: Value) -> float:
    a, b = _numeric(left, right)
    if b == 0:
        return 0.0  # Stalwart gives 0.0 for any zero divisor, -0.0 included
    return float(a) / float(b)


def negate(value: Value) -> Value:
    cls = value.__class__
    if cls is int:
        return value if value == INT_MIN else -value  # type: ignore[operator]  # wraps
    if cls is float:
        return -value  # type: ignore[operator]
    return negate(number(value))


def logical_not(value: Value) -> int:
    return 0 if truthy(value) else 1


def logical_xor(left: Value, right: Value) -> int:
    return 1 if truthy(left) != truthy(right) else 0


def equal(left: Value, right: Value) -> int:
    return 1 if equals(left, right) else 0


def not_equal(left: Value, right: Value) -> int:
    return 0 if equals(left, right) else 1


def less(left: Value, right: Value) -> int:
    return 1 if compare(left, right) == -1 else 0


def less_equal(left: Value, right: Value) -> int:
    order = compare(left, right)
    return 1 if order is not None and order <= 0 else 0


def greater(left: Value, right: Value) -> int:
    return 1 if compare(left, right) == 1 else 0


def greater_equal(left: Value, right: Value) -> int:
    order = compare(left, right)
    return 1 if order is not None and order >= 0 else 0


def index(container: Value, position: Value) -> Value:
    """`a[i]`: element index(i) of list(a) (0 when index(i) has no value), `''` out of range."""
    items = list_view(container)
    at = index_view(position)
    if at is None:
        at = 0
    return items[at] if at < len(items) else ""
