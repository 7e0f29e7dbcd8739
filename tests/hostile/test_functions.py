"""Item: every built-in is at most n log n. `dedup` and `is_intersect` compared every pair
(30,000 values: 272 s of lint); they now file values in a LooseSet. A property test checks
them against the pairwise definition on small mixed values, where loose equality's
non-transitive corners (`"1"`, `"1.0"`, `1`, `"abc"`, 0, NaN, 2^53 + 1) are likeliest."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expr.functions import dedup, is_intersect
from engine.expr.values import Value, equals
from tests.hostile.bounds import traced

N = 30_000


def pairwise_dedup(value: list[Value]) -> list[Value]:
    kept: list[Value] = []
    for item in value:
        if not any(equals(seen, item) for seen in kept):
            kept.append(item)
    return kept


def pairwise_intersect(left: list[Value], right: list[Value]) -> int:
    return int(any(equals(a, b) for a in left for b in right))


scalars = st.one_of(
    st.sampled_from(["1", "1.0", "01", "abc", "xyz", "", "0", "nan", "1e0", " 1",
                     "9007199254740993", "inf"]),
    st.integers(-3, 3), st.sampled_from([2**53, 2**53 + 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True, width=64).filter(lambda f: abs(f) < 4 or
                                                                   f != f or abs(f) == 2.0**53),
    st.booleans(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(values, max_size=12))
def test_dedup_agrees_with_the_pairwise_definition(items: list[Value]) -> None:
    assert repr(dedup(items)) == repr(pairwise_dedup(items))


@settings(max_examples=400, deadline=None)
@given(st.lists(values, max_size=8), st.lists(values, max_size=8))
def test_is_intersect_agrees_with_the_pairwise_definition(left: list[Value],
                                                          right: list[Value]) -> None:
    assert is_intersect(left, right) == pairwise_intersect(left, right)


def test_dedup_of_30000_distinct_texts() -> None:
    items: list[Value] = [f"host-{i}.example" for i in range(N)] + ["host-7.example"]
    kept = traced(f"dedup of {N} texts", lambda: dedup(items), peak_mib=32)
    assert len(kept) == N  # 0 == "host-*" loosely, but no Number is present


def test_dedup_of_30000_mixed_numbers_and_texts() -> None:
    items: list[Value] = [i for i in range(N)] + [str(i) for i in range(N)] + [float(i) for i in range(N)]
    kept = traced(f"dedup of {3 * N} numbers and numeric texts", lambda: dedup(items),
                  peak_mib=32)
    assert kept == list(range(N))


def test_is_intersect_of_two_30000_arrays() -> None:
    left: list[Value] = [f"a{i}" for i in range(N)]
    right: list[Value] = [f"b{i}" for i in range(N)]
    assert traced(f"is_intersect of two {N}-element arrays, disjoint",
                  lambda: is_intersect(left, right), peak_mib=32) == 0
    assert is_intersect(left, right + ["a29999"]) == 1


def test_dedup_of_30000_one_element_arrays() -> None:
    items: list[Value] = [[f"x{i}"] for i in range(N)]  # all share the Float view 0.0
    kept = traced(f"dedup of {N} one-element arrays", lambda: dedup(items), peak_mib=64,
                  seconds=600)
    assert len(kept) == N
