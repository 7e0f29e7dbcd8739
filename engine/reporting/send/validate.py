"""A strict validator for the reports *we* produce (RFC 8460 §4 as narrowed by spec 1).

This is not the tolerant parser of spec 7.5 for incoming reports: it accepts only what spec
1.6 allows us to emit (every required key, exact JSON types, no unknown keys, no `null`, the
eleven result types, the 20-character date form) and lists every violation it finds, each
prefixed with a JSON path, so a test failure says exactly what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Final

from engine.reporting.model import POLICY_TYPES, RESULT_TYPES

_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_TOP: Final = ("organization-name", "date-range", "contact-info", "report-id", "policies")
_POLICY_RESULT: Final = ("policy", "summary", "failure-details")
_SUMMARY: Final = ("total-successful-session-count", "total-failure-session-count")
_DETAIL_OPTIONAL: Final = ("sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                           "receiving-ip", "additional-information", "failure-reason-code")
_IP_KEYS: Final = ("sending-mta-ip", "receiving-ip")


def validate_report(obj: Any) -> list[str]:
    """Every violation in a parsed report, as `path: problem` strings; [] when valid."""
    errors: list[str] = []
    _no_nulls(obj, "$", errors)
    if not _expect_object(obj, "$", _TOP, (), errors):
        return errors
    for key in ("organization-name", "contact-info", "report-id"):
        _non_empty_string(obj.get(key), f"$.{key}", errors)
    _date_range(obj.get("date-range"), errors)
    policies = obj.get("policies")
    if not isinstance(policies, list):
        errors.append(f"$.policies: must be an array, not {_type(policies)}")
    elif not policies:
        errors.append("$.policies: must have at least one element")
    else:
        for index, result in enumerate(policies):
            _policy_result(result, f"$.policies[{index}]", errors)
    return errors


def _no_nulls(value: Any, path: str, errors: list[str]) -> None:
    if value is None:
        errors.append(f"{path}: null is never emitted")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nulls(item, f"{path}.{key}", errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_nulls(item, f"{path}[{index}]", errors)


def _expect_object(value: Any, path: str, required: tuple[str, ...],
                   optional: tuple[str, ...], errors: list[str]) -> bool:
    if not isinstance(value, dict):
        errors.append(f"{path}: must be an object, not {_type(value)}")
        return False
    for key in required:
        if key not in value:
            errors.append(f"{path}: missing required key {key!r}")
    for key in value:
        if key not in required and key not in optional:
            errors.append(f"{path}: unknown key {key!r}")
    return True


def _date_range(value: Any, errors: list[str]) -> None:
    keys = ("start-datetime", "end-datetime")
    if not _expect_object(value, "$.date-range", keys, (), errors):
        return
    parsed = [_date(value.get(key), f"$.date-range.{key}", errors) for key in keys]
    start, end = parsed
    if start is not None and end is not None and end < start:
        errors.append("$.date-range: end-datetime is before start-datetime")


def _date(value: Any, path: str, errors: list[str]) -> datetime | None:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        errors.append(f"{path}: must be a 'YYYY-MM-DDTHH:MM:SSZ' string, not {value!r}")
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        errors.append(f"{path}: not a real date-time: {value!r}")
        return None


def _policy_result(value: Any, path: str, errors: list[str]) -> None:
    if not _expect_object(value, path, _POLICY_RESULT, (), errors):
        return
    _policy(value.get("policy"), f"{path}.policy", errors)
    summary = value.get("summary")
    if _expect_object(summary, f"{path}.summary", _SUMMARY, (), errors):
        for key in _SUMMARY:
            _count(summary.get(key), f"{path}.summary.{key}", 0, errors)
    details = value.get("failure-details")
    if not isinstance(details, list):
        errors.append(f"{path}.failure-details: must be an array, not {_type(details)}")
        return
    for index, detail in enumerate(details):
        _detail(detail, f"{path}.failure-details[{index}]", errors)


def _policy(value: Any, path: str, errors: list[str]) -> None:
    kind = value.get("policy-type") if isinstance(value, dict) else None
    # mx-host belongs to sts policies only, and we always write it for them (spec 1.3)
    mx_host = ("mx-host",) if kind == "sts" else ()
    if not _expect_object(value, path, ("policy-type", "policy-string", "policy-domain",
                                        *mx_host), (), errors):
        return
    if kind not in POLICY_TYPES:
        errors.append(f"{path}.policy-type: must be one of {POLICY_TYPES}, not {kind!r}")
    _string_list(value.get("policy-string"), f"{path}.policy-string", errors)
    _non_empty_string(value.get("policy-domain"), f"{path}.policy-domain", errors)
    if mx_host:
        _string_list(value.get("mx-host"), f"{path}.mx-host", errors)


def _detail(value: Any, path: str, errors: list[str]) -> None:
    if not _expect_object(value, path, ("result-type", "failed-session-count"),
                          _DETAIL_OPTIONAL, errors):
        return
    result_type = value.get("result-type")
    if result_type not in RESULT_TYPES:
        errors.append(f"{path}.result-type: not an RFC 8460 result type: {result_type!r}")
    _count(value.get("failed-session-count"), f"{path}.failed-session-count", 1, errors)
    for key in _DETAIL_OPTIONAL:
        if key in value:
            check: Callable[[Any, str, list[str]], None] = (
                _ip if key in _IP_KEYS else _non_empty_string)
            check(value[key], f"{path}.{key}", errors)


def _count(value: Any, path: str, minimum: int, errors: list[str]) -> None:
    # a JSON `true` parses as a Python bool, which is an int: refuse it explicitly
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{path}: must be an integer, not {_type(value)}")
    elif value < minimum:
        errors.append(f"{path}: must be >= {minimum}, not {value}")


def _ip(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{path}: must be a string, not {_type(value)}")
        return
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        errors.append(f"{path}: not an IP address: {value!r}")
        return
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    if mapped or str(address) != value:
        errors.append(f"{path}: not in canonical form (RFC 5952 / plain IPv4): {value!r}")


def _string_list(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        errors.append(f"{path}: must be an array, not {_type(value)}")
        return
    for index, item in enumerate(value):
        _non_empty_string(item, f"{path}[{index}]", errors)


def _non_empty_string(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        errors.append(f"{path}: must be a string, not {_type(value)}")
    elif not value:
        errors.append(f"{path}: must not be empty")


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__
