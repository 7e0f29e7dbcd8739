"""Shared plumbing of the benchmarks: import paths, a timing registry and the final summary.

Every benchmark test records the median (and min) of its run under (case, implementation) with
the `record_timing` fixture; at the end of the session `pytest_terminal_summary` prints, after
pytest-benchmark's own tables, the ratios ours/hand-written and simpleeval/ours per case and
their geometric means. Nothing here asserts on time: machines are noisy, figures are printed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# `engine` is imported from the working tree (it is not installed in the virtual environment),
# and the test modules share `expression_cases.py`: make both importable whatever the import
# mode and the current directory.
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from expression_cases import BASELINE, COMPILE, HAND, OURS, SIMPLE  # noqa: E402
from shape_cases import BLOCK, FOLDED, RESOLVE, SHAPE_HAND, SHAPE_OURS  # noqa: E402

_TIMINGS = pytest.StashKey[dict[tuple[str, str], tuple[float, float]]]()
_NOTES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMINGS] = {}
    config.stash[_NOTES] = []


@pytest.fixture
def record_timing(request: pytest.FixtureRequest) -> Callable[[Any, str, str], None]:
    """`record_timing(benchmark, case, implementation)`, called after `benchmark(...)`."""

    def record(benchmark: Any, case: str, implementation: str) -> None:
        metadata = getattr(benchmark, "stats", None)  # None with --benchmark-disable
        stats = getattr(metadata, "stats", None)
        if stats is None or not getattr(stats, "data", None):
            return
        request.config.stash[_TIMINGS][(case, implementation)] = (stats.median, stats.min)

    return record


@pytest.fixture
def summary_note(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add a line to the final summary (for facts such as the corpus size)."""
    return request.config.stash[_NOTES].append


def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


def _nanoseconds(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    timings = terminalreporter.config.stash.get(_TIMINGS, {})
    notes = terminalreporter.config.stash.get(_NOTES, [])
    if not timings:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "expression benchmarks: summary (ratios of medians)")

    cases = [case for case, impl in timings if impl == OURS]
    compared = [case for case in cases if (case, HAND) in timings and (case, SIMPLE) in timings]
    if compared:
        write(f"{'case':<22} {'ours/hand':>10} {'simpleeval/ours':>16}")
        ours_hand: list[float] = []
        simple_ours: list[float] = []
        ours_hand_min: list[float] = []
        simple_ours_min: list[float] = []
        for case in compared:
            ours, ours_min = timings[(case, OURS)]
            hand, hand_min = timings[(case, HAND)]
            simple, simple_min = timings[(case, SIMPLE)]
            ours_hand.append(ours / hand)
            simple_ours.append(simple / ours)
            ours_hand_min.append(ours_min / hand_min)
            simple_ours_min.append(simple_min / ours_min)
            flag = "   <- ours slower than 1.5x hand-written" if ours / hand > 1.5 else ""
            write(f"{case:<22} {ours / hand:>9.2f}x {simple / ours:>15.2f}x{flag}")
        write(f"{'geometric mean':<22} {_geometric_mean(ours_hand):>9.2f}x "
              f"{_geometric_mean(simple_ours):>15.2f}x")
        write(f"(same with min instead of median: ours/hand {_geometric_mean(ours_hand_min):.2f}x,"
              f" simpleeval/ours {_geometric_mean(simple_ours_min):.2f}x)")
        write(f"geometric mean of ours/hand-written: {_geometric_mean(ours_hand):.2f}x; "
              f"geometric mean speedup of ours over simpleeval: "
              f"{_geometric_mean(simple_ours):.2f}x")
        if (BASELINE, BASELINE) in timings:
            floor = timings[(BASELINE, BASELINE)][0]
            write(f"timing floor (pytest-benchmark loop + one call of an empty function): "
                  f"{_nanoseconds(floor)}, included in every figure above")

    compiled = [case for case, impl in timings if impl == COMPILE and (case, OURS) in timings]
    if compiled:
        write("")
        write("compile cost, in evaluations of the compiled expression (compile / evaluate):")
        for case in compiled:
            ratio = timings[(case, COMPILE)][0] / timings[(case, OURS)][0]
            write(f"{case:<22} {ratio:>9,.0f} evaluations")
    _shape_summary(timings, write)
    _reference_summary(timings, write)
    for note in notes:
        write(note)


def _shape_summary(timings: dict[tuple[str, str], tuple[float, float]],
                   write: Callable[[str], None]) -> None:
    shapes = [case for case, impl in timings
              if impl == SHAPE_OURS and (case, SHAPE_HAND) in timings]
    if shapes:
        write("")
        write("expression shapes, compiled / hand-written (medians, same run):")
        ratios = []
        for case in shapes:
            ours, hand = timings[(case, SHAPE_OURS)][0], timings[(case, SHAPE_HAND)][0]
            ratios.append(ours / hand)
            write(f"{case:<26} {_nanoseconds(ours):>9} {_nanoseconds(hand):>9} "
                  f"{ours / hand:>6.2f}x")
        block = timings.get(("block_resolve", RESOLVE))
        hand_block = timings.get(("block_resolve", SHAPE_HAND))
        if block is not None and hand_block is not None:
            ratios.append(block[0] / hand_block[0])
            write(f"{'block of 6 rules (resolve)':<26} {_nanoseconds(block[0]):>9} "
                  f"{_nanoseconds(hand_block[0]):>9} {block[0] / hand_block[0]:>6.2f}x")
        write(f"geometric mean over {len(ratios)} shapes: {_geometric_mean(ratios):.2f}x, "
              f"highest {max(ratios):.2f}x")
    direct = timings.get(("block_resolve", BLOCK))
    resolved = timings.get(("block_resolve", RESOLVE))
    if direct is not None and resolved is not None:
        write(f"Config.resolve / the compiled block called directly: "
              f"{resolved[0] / direct[0]:.2f}x ({_nanoseconds(resolved[0])} vs "
              f"{_nanoseconds(direct[0])})")
    folded = [case for case, impl in timings if impl == FOLDED + "-" + SHAPE_OURS]
    for case in folded:
        ours = timings[(case, FOLDED + "-" + SHAPE_OURS)][0]
        hand = timings.get((case, FOLDED + "-" + SHAPE_HAND), (float("nan"),))[0]
        write(f"folded constant {case}: {_nanoseconds(ours)} (a function returning the "
              f"constant: {_nanoseconds(hand)}; not in the mean)")


#: implementation label of a reference measured beside one of ours (`record_timing`)
REFERENCE = "reference"


def _reference_summary(timings: dict[tuple[str, str], tuple[float, float]],
                       write: Callable[[str], None]) -> None:
    pairs = [case for case, impl in timings
             if impl == "measured" and (case, REFERENCE) in timings]
    if not pairs:
        return
    write("")
    write("costs beside their references (medians, same run):")
    groups: dict[str, list[float]] = {}
    for case in pairs:
        ours, reference = timings[(case, "measured")][0], timings[(case, REFERENCE)][0]
        group = case.split(":", 1)[0]
        groups.setdefault(group, []).append(ours / reference)
        write(f"{case:<40} {ours * 1e6:>12,.1f} us {reference * 1e6:>12,.1f} us "
              f"{ours / reference:>7.2f}x")
    for group, ratios in groups.items():
        if len(ratios) > 1:
            write(f"{group}: geometric mean {_geometric_mean(ratios):.2f}x over "
                  f"{len(ratios)}")
