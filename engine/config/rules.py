"""Flat keys -> the if/then/else block of one setting (spec/expressions.md 12.3).

A setting K is either a single value (K itself has a text) or a block read from its sub-keys
`K.<position>.if|then|else`, visited in byte order of the keys, exactly as Stalwart's
IfBlock::try_parse visits them. This module only reads the structure; compiling the texts is
the caller's job.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RuleSource:
    """One `if`/`then` pair of a block, with the flat keys the texts came from."""

    condition_key: str
    condition: str
    value_key: str
    value: str


@dataclass(frozen=True, slots=True)
class BlockSource:
    """The texts of one setting: a single value, or rules and an else."""

    key: str
    single: str | None = None
    rules: tuple[RuleSource, ...] = ()
    default_key: str | None = None
    default: str | None = None


@dataclass(frozen=True, slots=True)
class StructureProblem:
    """A malformed block (an error) or an ignored sub-key (a warning), at a flat key."""

    key: str
    message: str
    is_error: bool = True


@dataclass(slots=True)
class _Reading:
    rules: list[RuleSource] = field(default_factory=list)
    position: str | None = None
    condition: tuple[str, str] | None = None  # (key, text) of an `if` awaiting its `then`
    has_then: bool = True
    default: tuple[str, str] | None = None
    default_position: str | None = None


def sub_keys(key: str, sorted_keys: Sequence[str]) -> list[str]:
    """The flat keys below `key.`, in byte order (`sorted_keys` is sorted by UTF-8 bytes)."""
    prefix = key + "."
    # Byte order and code point order agree for UTF-8, so bisect on str works.
    start = bisect.bisect_left(sorted_keys, prefix)
    found = []
    for candidate in sorted_keys[start:]:
        if not candidate.startswith(prefix):
            break
        found.append(candidate)
    return found


def _condition_number(position: str | None) -> int:
    return int(position) + 1 if position is not None and position.isdigit() else 1


def read_block(key: str, values: Mapping[str, str], sorted_keys: Sequence[str]
               ) -> tuple[BlockSource | None, list[StructureProblem]]:
    """Read setting `key`. Returns (None, []) when the file does not define it."""
    if key in values:
        return BlockSource(key, single=values[key]), []
    problems: list[StructureProblem] = []
    state = _Reading()
    for full_key in sub_keys(key, sorted_keys):
        rest = full_key[len(key) + 1:]
        if "." not in rest:
            problems.append(StructureProblem(
                full_key, f"invalid property `{full_key}` in an if/then/else block: each entry "
                          "needs `if`, `then` or `else`"))
            continue
        position, _, after = rest.partition(".")
        role = after.partition(".")[0]
        text = values[full_key]
        if role == "if":
            if position != state.position:
                if state.position is not None and not state.has_then:
                    problems.append(StructureProblem(
                        full_key, f"missing `then` in condition "
                                  f"{_condition_number(state.position)}"))
                state.condition = (full_key, text)
                state.position = position
                state.has_then = False
        elif role == "then":
            if state.default is not None:
                problems.append(StructureProblem(full_key, "`then` after the `else`"))
            elif position == state.position and state.condition is not None:
                if not state.has_then:
                    state.rules.append(RuleSource(state.condition[0], state.condition[1],
                                                  full_key, text))
                    state.has_then = True
            else:
                problems.append(StructureProblem(full_key, "`then` without an `if`"))
        elif role == "else":
            if state.default is None:
                if state.position is not None:
                    state.default = (full_key, text)
                    state.default_position = position
                else:
                    problems.append(StructureProblem(full_key, "`else` before any `if`"))
            elif position != state.default_position:
                problems.append(StructureProblem(full_key, "more than one `else`"))
        else:
            problems.append(StructureProblem(
                full_key, f"`{role}` is not part of an if/then/else rule and is ignored",
                is_error=False))
    if state.position is None:
        return None, problems  # no `if` at all: the setting keeps its default
    if not state.has_then:
        problems.append(StructureProblem(
            key, f"missing `then` in condition {_condition_number(state.position)}"))
    if state.default is None:
        problems.append(StructureProblem(key, "missing `else`"))
    if any(problem.is_error for problem in problems):
        return None, problems
    assert state.default is not None
    return BlockSource(key, rules=tuple(state.rules), default_key=state.default[0],
                       default=state.default[1]), problems
