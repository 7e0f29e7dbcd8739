"""Limits, rejection codes and result records of the report analysis (spec/reporting.md 7.4,
7.8). Used by `analysis` and `analysis_schema`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIB: Final = 1024 * 1024

NOT_A_REPORT: Final = "NOT_A_REPORT"
DECOMPRESS_ERROR: Final = "DECOMPRESS_ERROR"
LIMIT_EXCEEDED: Final = "LIMIT_EXCEEDED"
JSON_SYNTAX: Final = "JSON_SYNTAX"
SCHEMA_ERROR: Final = "SCHEMA_ERROR"
AUTH_FAILED: Final = "AUTH_FAILED"


@dataclass(frozen=True, slots=True)
class Limits:
    """The safety limits of spec 7.4 (defaults as there)."""

    max_input: int = 15 * MIB            # raw input / compressed data / message analysed
    max_parts: int = 100                 # MIME parts walked
    max_mime_depth: int = 10             # MIME nesting
    max_part: int = 10 * MIB             # decoded size of one MIME part
    max_decompressed: int = 20 * MIB     # gzip / zip output
    max_ratio: int = 1000                # abort when output > ratio_floor and > ratio * input
    ratio_floor: int = 1 * MIB
    chunk: int = 64 * 1024               # decompression step
    max_zip_entries: int = 16
    max_depth: int = 16                  # JSON nesting
    max_policies: int = 10_000
    max_details: int = 10_000            # failure-details per policy
    max_items: int = 1_000               # policy-string / mx-host items per policy
    max_policy_string: int = 8_192       # code points of a policy-string item
    max_string: int = 1_024              # code points of any other string
    max_container: int = 10_000          # elements of any JSON array / members of any object


@dataclass(frozen=True, slots=True)
class Warning:  # noqa: A001 - the name the analysis API promises
    """A deviation that was tolerated (or an error, in `Analysis.errors`): JSON path + text."""

    path: str
    message: str


class Rejected(Exception):
    """Stops the analysis of one input with a stable code (spec 7.8 error categories)."""

    def __init__(self, code: str, reason: str, path: str | None = None) -> None:
        super().__init__(f"{code}: {reason}" + (f" at {path}" if path else ""))
        self.code = code
        self.reason = reason
        self.path = path
