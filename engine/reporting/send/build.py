"""Aggregation and rendering of one report (spec/reporting.md 1, 3.4-3.7 and 4).

`build_report` groups the events of one report key into policy entries and failure-detail
entries, counts them, orders them deterministically and writes the exact JSON bytes of spec
1.6, enforcing `max-size` with the algorithm of spec 4. The size bookkeeping of the fill step
is incremental (each detail is serialised once, and only its length is added), so a report
with n details costs O(n) serialisation, not O(n^2); the tests compare it with a brute-force
rebuild-and-measure reference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from engine.reporting.counts import PolicyCounts, WindowCounts, count_events
from engine.reporting.model import DETAIL_FIELDS, Event, FailureDetail, Policy
from engine.reporting.window import rfc3339

_SEPARATORS: Final = (",", ":")


@dataclass(frozen=True, slots=True)
class BuiltReport:
    """The outcome of `build_report`.

    `json` is the §1.6 serialization, or None when the report is `oversize` (not even one
    policy without details fits `max-size`). `policies`, `successes` and `failures` describe
    the emitted JSON (the kept policies and their untouched summaries; all 0 when oversize).
    `omitted_details` counts failure-detail *entries* left out (those of removed policies
    included) and `omitted_policies` the policies removed. `destinations` is the union of the
    events' destinations in first-seen order, or None when no event carried any (the record is
    then looked up at render time, spec 6.1); the `max-destinations` cap is the caller's.
    """

    report_id: str
    json: bytes | None
    oversize: bool
    omitted_details: int
    omitted_policies: int
    policies: int
    successes: int
    failures: int
    destinations: tuple[str, ...] | None


def report_id(domain: str, start: int, end: int) -> str:
    """`B_E_domain` with E the inclusive end (spec 3.6), e.g. `1714953600_1715039999_x.org`."""
    return f"{start}_{end - 1}_{domain}"


def filename(submitter: str, domain: str, start: int, end: int,
             unique_id: str | None = None) -> str:
    """The RFC 8460 §5.1 attachment name (spec 3.6); we always gzip, hence `.json.gz`."""
    parts = [submitter, domain, str(start), str(end - 1)]
    if unique_id:
        if not (unique_id.isascii() and unique_id.isalnum()):
            # `!` and `.` are the name's own separators; 1*alphanumeric keeps it parseable
            raise ValueError(f"unique-id must be 1*alphanumeric, not {unique_id!r}")
        parts.append(unique_id)
    return "!".join(parts) + ".json.gz"


def build_report(events: Sequence[Event], *, domain: str, start: int, end: int,
                 organization_name: str | None, contact_info: str,
                 max_size: int) -> BuiltReport:
    """Aggregate `events` (in acceptance order) into the report of key (domain, start, end).

    `organization_name` None or empty falls back to the domain of `contact_info` (see
    `_organization`). `max_size` 0 means unlimited.
    """
    _check_events(events, domain, start, end)
    return build_from_counts(count_events(events), domain=domain, start=start, end=end,
                             organization_name=organization_name, contact_info=contact_info,
                             max_size=max_size)


def build_from_counts(counts: WindowCounts, *, domain: str, start: int, end: int,
                      organization_name: str | None, contact_info: str,
                      max_size: int) -> BuiltReport:
    """The report of key (domain, start, end) from its counters (what the event store keeps);
    the same bytes as `build_report` on the events that were counted."""
    _check_arguments(counts, start, end, contact_info, max_size)
    entries = counts.policies
    the_id = report_id(domain, start, end)
    header: dict[str, Any] = {
        "organization-name": _organization(organization_name, contact_info),
        "date-range": {"start-datetime": rfc3339(start), "end-datetime": rfc3339(end - 1)},
        "contact-info": contact_info,
        "report-id": the_id,
    }
    ordered = [(entry, _ordered_details(entry)) for entry in entries]
    fitted = _fit(header, ordered, max_size)
    destinations = counts.destinations
    total_details = sum(len(details) for _, details in ordered)
    if fitted is None:
        return BuiltReport(the_id, None, True, total_details, len(entries),
                           0, 0, 0, destinations)
    payload, kept = fitted
    return BuiltReport(
        report_id=the_id, json=payload, oversize=False,
        omitted_details=total_details - sum(len(details) for _, details in kept),
        omitted_policies=len(entries) - len(kept), policies=len(kept),
        successes=sum(entry.successes for entry, _ in kept),
        failures=sum(entry.failures for entry, _ in kept),
        destinations=destinations)


# --- aggregation (3.4, 3.5, 3.7) --------------------------------------------------------------

def _check_events(events: Sequence[Event], domain: str, start: int, end: int) -> None:
    """Refuse events of another report key: such a report would be wrong."""
    if events and not start < end:
        raise ValueError(f"empty window [{start}, {end})")
    for index, event in enumerate(events):
        if event.report_domain != domain or not start <= event.time < end:
            raise ValueError(f"event {index} ({event.report_domain}, {event.time}) is not in "
                             f"the report key ({domain}, [{start}, {end}))")


def _check_arguments(counts: WindowCounts, start: int, end: int, contact_info: str,
                     max_size: int) -> None:
    """Refuse calls that cannot describe one report key: such a report would be wrong."""
    if not counts.policies:
        raise ValueError("a report needs at least one event (policies has >= 1 element)")
    if not start < end:
        raise ValueError(f"empty window [{start}, {end})")
    if not contact_info:
        # spec 5.4: the caller substitutes postmaster@<submitter>; we never emit "" or null
        raise ValueError("contact-info must be resolved before rendering")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
        raise ValueError(f"max-size must be an integer >= 0, not {max_size!r}")


def _ordered_details(entry: PolicyCounts) -> list[tuple[FailureDetail, int]]:
    # count descending; `sorted` is stable, so ties keep first-occurrence order (3.7)
    return sorted(entry.details, key=lambda item: -item[1])


def _organization(organization_name: str | None, contact_info: str) -> str:
    """The organisation name, which is never null or empty (spec 1.1).

    Unset, it falls back to the domain of `contact-info`: spec 5.4 defaults org-name to our own
    `report.domain` and makes contact-info's domain our submitter, so that is the sending
    organisation's name this layer can still see. The report domain would be wrong: it names
    the *receiving* organisation, not the one responsible for the report.
    """
    if organization_name:
        return organization_name
    return contact_info.rpartition("@")[2] or contact_info


# --- serialization (1.6) ---------------------------------------------------------------------

def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False).encode("utf-8")


def _policy_object(policy: Policy) -> dict[str, Any]:
    found: dict[str, Any] = {"policy-type": policy.type, "policy-string": list(policy.strings),
                             "policy-domain": policy.domain}
    if policy.type == "sts":
        found["mx-host"] = list(policy.mx_hosts)
    return found


def _policy_result(entry: PolicyCounts, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "policy": _policy_object(entry.policy),
        "summary": {"total-successful-session-count": entry.successes,
                    "total-failure-session-count": entry.failures},
        "failure-details": details,
    }


def _detail_object(detail: FailureDetail, count: int) -> dict[str, Any]:
    found: dict[str, Any] = {"result-type": detail.result_type}
    for name, attribute in DETAIL_FIELDS:
        value = getattr(detail, attribute)
        if value is not None:  # absent fields are omitted, never null (1.6)
            found[name] = value
        if name == "receiving-ip":
            # 1.6 places the count between receiving-ip and additional-information
            found["failed-session-count"] = count
    return found


def _document(header: dict[str, Any], policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {**header, "policies": policies}


# --- max-size (4) ----------------------------------------------------------------------------

_Ordered = list[tuple[PolicyCounts, list[tuple[FailureDetail, int]]]]


def _fit(header: dict[str, Any], ordered: _Ordered,
         max_size: int) -> tuple[bytes, _Ordered] | None:
    """The bytes and the kept (policy, details) pairs, or None for OVERSIZE (spec 4)."""
    full = _dumps(_document(header, [
        _policy_result(entry, [_detail_object(detail, count) for detail, count in details])
        for entry, details in ordered]))
    if max_size == 0 or len(full) <= max_size:
        return full, ordered
    skeleton = [_policy_result(entry, []) for entry, _ in ordered]
    size = len(_dumps(_document(header, skeleton)))
    # step 3: drop the last policy while it does not fit; removing one of n > 1 policies
    # removes its own bytes plus one comma
    while size > max_size and len(skeleton) > 1:
        size -= len(_dumps(skeleton.pop())) + 1
    if size > max_size:
        return None
    kept, size = _fill(skeleton, ordered[:len(skeleton)], size, max_size)
    payload = _dumps(_document(header, skeleton))
    if len(payload) != size or size > max_size:
        # cannot happen while the arithmetic is right; never emit a report that breaks max-size
        raise AssertionError(f"max-size arithmetic is off: {len(payload)} vs {size}")
    return payload, kept


def _fill(skeleton: list[dict[str, Any]], ordered: _Ordered, size: int,
          max_size: int) -> tuple[_Ordered, int]:
    """Step 4: append details in report order until the first one that does not fit.

    Mutates the skeleton's `failure-details` arrays and returns what was kept with the new
    size. A detail adds its own length, plus one for the comma when its array is not empty.
    """
    kept: _Ordered = [(entry, []) for entry, _ in ordered]
    for result, (_, details), (_, kept_details) in zip(skeleton, ordered, kept):
        array: list[dict[str, Any]] = result["failure-details"]
        for detail, count in details:
            obj = _detail_object(detail, count)
            grown = size + len(_dumps(obj)) + (1 if array else 0)
            if grown > max_size:
                return kept, size  # every later detail is omitted too, smaller ones included
            array.append(obj)
            kept_details.append((detail, count))
            size = grown
    return kept, size
