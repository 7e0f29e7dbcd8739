"""The records of the analysis store, whatever the backend (spec 7.8): a stored report with the
facts the summaries need, a kept raw input, what `add` did with an input, and the report's
JSON form that backends keep beside their columns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from engine.reporting.analysis.limits import Finding
from engine.reporting.analysis.schema import ParsedDetail, ParsedPolicy, ParsedReport

__all__ = ["DUPLICATE", "KEPT_REJECTED", "KeptInput", "NOT_STORED", "STORED", "StoredReport",
           "report_from_json", "report_to_json"]

#: what `AnalysisStore.add` did with an input
STORED: Final = "stored"
DUPLICATE: Final = "duplicate"
KEPT_REJECTED: Final = "kept"            # rejected, raw input kept for reprocessing
NOT_STORED: Final = "not stored"         # AUTH_FAILED: never stored (spec 7.6)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored report with the facts of spec 7.8 that the summaries need."""

    id: int
    input_id: int
    name: str | None
    received: int
    source: str
    dkim: str
    warnings: tuple[Finding, ...]
    report: ParsedReport


@dataclass(frozen=True, slots=True)
class KeptInput:
    """A raw input as kept, with the outcome of its last analysis."""

    id: int
    name: str | None
    received: int
    status: str
    code: str | None
    raw: bytes
    dkim: str | None          # the stored DKIM result of its report, None without one


def report_to_json(report: ParsedReport) -> dict[str, Any]:
    return asdict(report)


def report_from_json(value: dict[str, Any]) -> ParsedReport:
    policies = tuple(
        ParsedPolicy(policy["type"], tuple(policy["strings"]), policy["domain"],
                     tuple(policy["mx_hosts"]), policy["successes"], policy["failures"],
                     tuple(ParsedDetail(**detail) for detail in policy["details"]))
        for policy in value["policies"])
    return ParsedReport(value["organization"], value["contact"], value["report_id"],
                        value["start"], value["end"], policies)
