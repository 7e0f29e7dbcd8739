"""Rolling many analysed reports into one overview: `tlsrpt analyze --group-by`.

Groups by sending organisation, policy domain, result type or day (UTC, of the report's
start). Per group: how many reports, sessions ok and failed, failed sessions per result type,
and who and what was involved (organisations, domains, MX hosts, receiving IPs). A report
counts once in every group it touches; by domain and by result type only the matching
policies' sessions are added, so the groups of one report never double its sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from engine.reporting.analysis.schema import ParsedPolicy, ParsedReport
from engine.reporting.window import rfc3339

GROUPINGS: Final = ("organisation", "domain", "result-type", "day")
NO_ORGANISATION: Final = "(no organisation)"
NO_DOMAIN: Final = "(no domain)"


@dataclass(frozen=True, slots=True)
class Group:
    """One line of the overview. For result-type groups `successes` is None (a successful
    session has no result type) and `failures` is the sessions failed with that type."""

    key: str
    reports: int
    successes: int | None
    failures: int
    failure_types: tuple[tuple[str, int], ...]     # most failed sessions first
    organisations: tuple[str, ...]
    domains: tuple[str, ...]
    mx_hosts: tuple[str, ...]
    receiving_ips: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "reports": self.reports, "successes": self.successes,
                "failures": self.failures, "failure_types": dict(self.failure_types),
                "organisations": list(self.organisations), "domains": list(self.domains),
                "mx_hosts": list(self.mx_hosts), "receiving_ips": list(self.receiving_ips)}


@dataclass(slots=True)
class _Tally:
    reports: set[int] = field(default_factory=set)
    successes: int = 0
    failures: int = 0
    failure_types: dict[str, int] = field(default_factory=dict)
    # dicts as ordered sets: first-seen order, no repeats
    organisations: dict[str, None] = field(default_factory=dict)
    domains: dict[str, None] = field(default_factory=dict)
    mx_hosts: dict[str, None] = field(default_factory=dict)
    receiving_ips: dict[str, None] = field(default_factory=dict)

    def add_policy(self, number: int, report: ParsedReport, policy: ParsedPolicy) -> None:
        self.reports.add(number)
        self.successes += policy.successes
        self.failures += policy.failures
        for kind, count in policy.failures_by_result_type.items():
            self.failure_types[kind] = self.failure_types.get(kind, 0) + count
        self.involve(report, policy)

    def add_result_type(self, number: int, report: ParsedReport, policy: ParsedPolicy,
                        kind: str, count: int) -> None:
        self.reports.add(number)
        self.failures += count
        self.failure_types[kind] = self.failure_types.get(kind, 0) + count
        self.involve(report, policy, only=kind)

    def involve(self, report: ParsedReport, policy: ParsedPolicy, only: str | None = None
                ) -> None:
        """Note who reported and what was involved; with `only`, just the MX hosts and IPs
        of that result type's failure details (not the policy's MX patterns)."""
        self.organisations[report.organization or NO_ORGANISATION] = None
        self.domains[policy.domain or NO_DOMAIN] = None
        if only is None:
            for host in policy.mx_hosts:
                self.mx_hosts[host] = None
        for detail in policy.details:
            if only is not None and detail.result_type != only:
                continue
            if detail.receiving_mx_hostname:
                self.mx_hosts[detail.receiving_mx_hostname] = None
            if detail.receiving_ip:
                self.receiving_ips[detail.receiving_ip] = None

    def freeze(self, key: str, *, successes: bool = True) -> Group:
        kinds = tuple(sorted(self.failure_types.items(), key=lambda item: (-item[1], item[0])))
        return Group(key, len(self.reports), self.successes if successes else None,
                     self.failures, kinds, tuple(self.organisations), tuple(self.domains),
                     tuple(self.mx_hosts), tuple(self.receiving_ips))


def summarise(reports: Iterable[ParsedReport], by: str) -> tuple[Group, ...]:
    """The overview of `reports` grouped `by` one of GROUPINGS; groups sorted by most failed
    sessions, then by key (days: in date order)."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r} (use {', '.join(GROUPINGS)})")
    tallies: dict[str, _Tally] = {}
    for number, report in enumerate(reports):
        for policy in report.policies:
            if by == "result-type":
                for kind, count in policy.failures_by_result_type.items():
                    tallies.setdefault(kind, _Tally()).add_result_type(number, report, policy,
                                                                       kind, count)
                continue
            if by == "organisation":
                key = report.organization or NO_ORGANISATION
            elif by == "domain":
                key = policy.domain or NO_DOMAIN
            else:
                key = rfc3339(report.start)[:10]
            tallies.setdefault(key, _Tally()).add_policy(number, report, policy)
        if not report.policies and by in ("organisation", "day"):
            key = (report.organization or NO_ORGANISATION if by == "organisation"
                   else rfc3339(report.start)[:10])
            tallies.setdefault(key, _Tally()).reports.add(number)
    groups = [tally.freeze(key, successes=by != "result-type") for key, tally in tallies.items()]
    if by == "day":
        return tuple(sorted(groups, key=lambda group: group.key))
    return tuple(sorted(groups, key=lambda group: (-group.failures, group.key)))
