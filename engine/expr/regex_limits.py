"""How large a `matches` pattern may be once compiled.

RE2 runs in time linear in the subject, but the constant grows with the pattern: its NFA keeps
a copy of every capture position per state, so a pattern with thousands of groups costs
groups x states per character (16,000 groups: gigabytes and seconds per evaluation; on this
machine 4,000 optional groups search in 10 ms and 8,000 in over 100 s, once the program no
longer fits RE2's faster engines). Real patterns have a handful of groups and a few hundred
instructions, so both are capped far above them and far below the cliff.

Kept apart from `regex.py` (which owns the dialect) so that the bounds live in one small
function: `regex.compile_pattern` calls `pattern_too_large` once, after RE2 compiled.
"""

from __future__ import annotations

from typing import Final

#: Most capture groups in one pattern (Rust's regex crate has no group limit of its own; its
#: 10 MiB program size limit admits about 100,000).
MAX_CAPTURE_GROUPS: Final = 250

#: Most RE2 program instructions in one pattern (`(a)?` is four; `[a-z]{1000}` about 1,000).
MAX_PROGRAM_SIZE: Final = 20_000


def pattern_too_large(groups: int, program_size: int) -> str | None:
    """Why a compiled pattern is too large to run, or None when it is within the bounds."""
    if groups > MAX_CAPTURE_GROUPS:
        return f"the pattern has {groups} capture groups; at most {MAX_CAPTURE_GROUPS} are allowed"
    if program_size > MAX_PROGRAM_SIZE:
        return (f"the pattern compiles to {program_size} instructions; at most "
                f"{MAX_PROGRAM_SIZE} are allowed (a repetition such as {{1000}} copies its "
                "operand)")
    return None
