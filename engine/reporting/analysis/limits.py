"""Limits, rejection codes and result records of the report analysis (spec/reporting.md 7.4,
7.8). Used by `analysis` and `analysis_schema`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Final

from engine.errors import EngineError

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
    max_header_bytes: int = 256 * 1024   # header block of one MIME entity
    max_header_fields: int = 1_000       # header fields of one MIME entity
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


#: the user-facing name of each limit (`--limit NAME=VALUE`, `report.analysis.limits.NAME`)
LIMIT_NAMES: Final = {
    "input": "max_input", "parts": "max_parts", "mime-depth": "max_mime_depth",
    "part-size": "max_part", "header-size": "max_header_bytes",
    "header-fields": "max_header_fields", "decompressed": "max_decompressed",
    "ratio": "max_ratio", "zip-entries": "max_zip_entries", "json-depth": "max_depth",
    "json-elements": "max_container", "policies": "max_policies",
    "failure-details": "max_details", "items": "max_items",
    "policy-string-length": "max_policy_string", "string-length": "max_string",
}
_SIZE: Final = re.compile(r"\s*(\d+)\s*(|k|kb|kib|m|mb|mib|g|gb|gib)\s*", re.IGNORECASE)
_UNITS: Final = {"": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": MIB, "mb": 1000 ** 2,
                 "mib": MIB, "g": 1024 * MIB, "gb": 1000 ** 3, "gib": 1024 * MIB}


def limits_with(overrides: Mapping[str, str], base: Limits = Limits()) -> Limits:
    """`base` with the named limits replaced; a value is a whole number, sizes may carry a
    unit (`20MiB`, `512k`). ValueError names the offending limit."""
    known = {field.name for field in fields(Limits)}
    changes: dict[str, int] = {}
    for name, text in overrides.items():
        attribute = LIMIT_NAMES.get(name.strip().lower())
        if attribute is None or attribute not in known:
            raise ValueError(f"unknown limit {name!r} (known: {', '.join(LIMIT_NAMES)})")
        match = _SIZE.fullmatch(str(text))
        if match is None or int(match.group(1)) * _UNITS[match.group(2).lower()] < 1:
            raise ValueError(f"limit {name}: expected a positive whole number or size such as "
                             f"20MiB, got {text!r}")
        changes[attribute] = int(match.group(1)) * _UNITS[match.group(2).lower()]
    return replace(base, **changes)


@dataclass(frozen=True, slots=True)
class Finding:
    """A deviation that was tolerated (or an error, in `Analysis.errors`): JSON path + text."""

    path: str
    message: str


class Rejected(EngineError):
    """Stops the analysis of one input with a stable code (spec 7.8 error categories)."""

    def __init__(self, code: str, reason: str, path: str | None = None) -> None:
        super().__init__(f"{code}: {reason}" + (f" at {path}" if path else ""))
        self.code = code
        self.reason = reason
        self.path = path
