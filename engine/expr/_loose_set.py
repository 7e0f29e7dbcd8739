"""A set under the language's loose equality (`values.equals`), for `dedup` and `is_intersect`.

Loose equality is not an equivalence: `"1" == 1` and `"1.0" == 1` but `"1" != "1.0"` (two
Strings compare as text), and `"abc" == 0` (a non-numeric String is 0 as a number) while
`"abc" != "xyz"`. No single hash key can stand for a value, so a scalar is filed under the
views that `equals` actually compares, each in its own hash set:

- a String under its text (String against String);
- every value under its numeric view, split by who may match it: Strings' views are only
  compared with Numbers, Numbers' views with both. An Integer view is kept exact and as a
  Float, because Integer against Integer is exact and anything against a Float compares as
  Floats (so 2^53 + 1 equals 2.0^53 but not 2^53).

A lookup is then a few hash probes, O(1) expected, so `dedup` and `is_intersect` are linear.
Arrays whose leaves are all Strings are equal only when all texts are, so they are filed by
their texts. Arrays holding a Number are filed by a coarse key that equal arrays always share
(the shape and the Float view of every element) and compared with `equals` within the bucket:
that stays pairwise only for many distinct arrays mixing Strings and Numbers whose Float views
coincide (such as `["a", 0]`, `["b", 0]`, ...), which no setting produces.
"""

from __future__ import annotations

from engine.expr.values import Value, equals, number


class _Numbers:
    """The numeric views of some values: exact Integers, Floats, and Integers as Floats."""

    __slots__ = ("ints", "floats", "int_floats")

    def __init__(self) -> None:
        self.ints: set[int] = set()
        self.floats: set[float] = set()
        self.int_floats: set[float] = set()

    def add(self, view: int | float) -> None:
        if view.__class__ is float:
            if view == view:  # a NaN equals nothing, itself included
                self.floats.add(view)
            return
        exact = int(view)
        self.ints.add(exact)
        as_float = _as_float(exact)
        if as_float is not None:
            self.int_floats.add(as_float)

    def matches(self, view: int | float) -> bool:
        if view.__class__ is float:
            return view == view and (view in self.floats or view in self.int_floats)
        exact = int(view)
        if exact in self.ints:
            return True
        as_float = _as_float(exact)
        return as_float is not None and as_float in self.floats


def _as_float(value: int) -> float | None:
    try:
        return float(value)
    except OverflowError:  # beyond any Float: it can equal no Float
        return None


class LooseSet:
    """Values added so far; `contains(v)` is `any(equals(seen, v) for seen in added)`."""

    __slots__ = ("texts", "string_numbers", "number_numbers", "text_arrays", "text_buckets",
                 "arrays")

    def __init__(self) -> None:
        self.texts: set[str] = set()
        self.string_numbers = _Numbers()  # numeric views of Strings: matched by Numbers only
        self.number_numbers = _Numbers()  # Numbers: matched by Strings' views and Numbers
        #: arrays whose leaves are all Strings, by their exact texts: two such arrays are
        #: equal only when every text is
        self.text_arrays: set[tuple[object, ...]] = set()
        self.text_buckets: dict[tuple[object, ...], list[Value]] = {}
        #: arrays holding a Number, by the coarse key equal arrays share
        self.arrays: dict[tuple[object, ...], list[Value]] = {}

    def add(self, value: Value) -> None:
        if value.__class__ is list:
            texts = _texts_only(value)
            if texts is not None:
                self.text_arrays.add(texts)
                self.text_buckets.setdefault(_array_key(value), []).append(value)
            else:
                self.arrays.setdefault(_array_key(value), []).append(value)
        elif value.__class__ is str:
            self.texts.add(value)
            self.string_numbers.add(number(value))
        else:
            self.number_numbers.add(value)  # type: ignore[arg-type]

    def contains(self, value: Value) -> bool:
        if value.__class__ is list:
            texts = _texts_only(value)
            if texts is not None and texts in self.text_arrays:
                return True
            key = _array_key(value)
            # the text-only arrays were answered exactly above for a text-only query
            buckets = (self.arrays.get(key, ()),) if texts is not None else (
                self.arrays.get(key, ()), self.text_buckets.get(key, ()))
            return any(equals(seen, value) for bucket in buckets for seen in bucket)
        if value.__class__ is str:
            return value in self.texts or self.number_numbers.matches(number(value))
        view: int | float = value  # type: ignore[assignment]
        return self.number_numbers.matches(view) or self.string_numbers.matches(view)


def _texts_only(value: Value) -> tuple[object, ...] | None:
    """The array as nested tuples of its texts when every leaf is a String, else None."""
    items: list[Value] = value  # type: ignore[assignment]
    out: list[object] = []
    for item in items:
        if item.__class__ is str:
            out.append(item)
        elif item.__class__ is list:
            inner = _texts_only(item)
            if inner is None:
                return None
            out.append(inner)
        else:
            return None
    return tuple(out)


def _array_key(value: Value) -> tuple[object, ...]:
    """Equal arrays share this key: the same length, and elements whose Float views are equal
    (loose equality of two scalars implies equal Float views; NaN is keyed by its kind)."""
    items: list[Value] = value  # type: ignore[assignment]
    return tuple(_element_key(item) for item in items)


def _element_key(item: Value) -> object:
    if item.__class__ is list:
        return _array_key(item)
    # bool is a Number here (comparisons give True/False); number() is only for Strings
    view: int | float = number(item) if item.__class__ is str else item  # type: ignore[assignment]
    if view.__class__ is float:
        return "nan" if view != view else view
    as_float = _as_float(int(view))
    return int(view) if as_float is None else as_float
