"""Parsing and validating an incoming report's JSON (spec/reporting.md 7.4, 7.5, 1.1-1.3).

`parse_json` checks the bytes (UTF-8, nesting depth, container sizes) with a non-recursive
scan *before* `json.loads` builds anything, so hostile input never reaches the recursive
parser or allocates huge lists. `validate` walks the parsed value in the order of spec 7.5
and returns a `ParsedReport` plus warnings, or the errors (first one in document order).
Paths look like `policies[0].failure-details[1].failed-session-count` (`$` is the root).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from engine.reporting.analysis.limits import (
    JSON_SYNTAX, SCHEMA_ERROR, Limits, Rejected, Finding,
)
from engine.reporting.model import POLICY_TYPES, RESULT_TYPES

MAX_INT: Final = 2 ** 63 - 1
_BOM: Final = b"\xef\xbb\xbf"
# one JSON string, a structural character, or a run of anything else (no backtracking blow-up)
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"|[\[\]{}]|[^"\[\]{}]+|"')
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"')
_BRACKET: Final = re.compile(rb"[\[\]{}]")
_INNERMOST: Final = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_DATE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
_TOP_KEYS: Final = ("organization-name", "date-range", "contact-info", "report-id", "policies")
_RESULT_KEYS: Final = ("policy", "summary", "failure-details")
_POLICY_KEYS: Final = ("policy-type", "policy-string", "policy-domain", "mx-host")
_SUMMARY_KEYS: Final = ("total-successful-session-count", "total-failure-session-count")
_DETAIL_STRINGS: Final = ("sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                          "receiving-ip", "additional-information", "failure-reason-code")
_DETAIL_KEYS: Final = ("result-type", "failed-session-count", *_DETAIL_STRINGS)
_IP_KEYS: Final = ("sending-mta-ip", "receiving-ip")


@dataclass(frozen=True, slots=True)
class ParsedDetail:
    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    type: str
    strings: tuple[str, ...]
    domain: str | None
    mx_hosts: tuple[str, ...]
    successes: int
    failures: int
    details: tuple[ParsedDetail, ...]

    @property
    def failures_by_result_type(self) -> dict[str, int]:
        """Per result type, the sum of `failed-session-count` (spec 7.8), first-seen order."""
        sums: dict[str, int] = {}
        for detail in self.details:
            sums[detail.result_type] = sums.get(detail.result_type, 0) + detail.failed_session_count
        return sums

    @property
    def receiving_ips(self) -> list[str]:
        """The receiving IPs of the failure details, first-seen order, no repeats."""
        return list(dict.fromkeys(detail.receiving_ip for detail in self.details
                                  if detail.receiving_ip))


@dataclass(frozen=True, slots=True)
class ParsedReport:
    organization: str | None
    contact: str | None
    report_id: str
    start: int                      # Unix seconds, UTC
    end: int                        # Unix seconds, UTC (as given: inclusive end)
    policies: tuple[ParsedPolicy, ...]

    @property
    def successes(self) -> int:
        return sum(policy.successes for policy in self.policies)

    @property
    def failures(self) -> int:
        return sum(policy.failures for policy in self.policies)


class _Constant(Exception):
    pass


class _Duplicate(Exception):
    pass


def is_json(data: bytes) -> bool:
    """Spec 7.3: the first non-white-space byte after an optional UTF-8 BOM is `{`."""
    body = data[3:] if data.startswith(_BOM) else data
    return body.lstrip(b" \t\r\n")[:1] == b"{"


def parse_json(data: bytes, limits: Limits) -> Any:
    """The JSON value of `data`, or Rejected (JSON_SYNTAX / SCHEMA_ERROR)."""
    if data.startswith(_BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Rejected(JSON_SYNTAX, f"invalid UTF-8 at byte {error.start}") from None
    _scan(data, limits)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int,
                          object_pairs_hook=_pairs)
    except _Constant as error:
        raise Rejected(JSON_SYNTAX, f"the literal {error} is not JSON") from None
    except _Duplicate as error:
        raise Rejected(SCHEMA_ERROR, "duplicate key in an object", str(error)) from None
    except RecursionError:
        raise Rejected(SCHEMA_ERROR, "JSON nested too deeply", "$") from None
    except ValueError as error:  # JSONDecodeError, int digit limit
        raise Rejected(JSON_SYNTAX, str(error)) from None


def _scan(data: bytes, limits: Limits) -> None:
    """Nesting depth and element counts, without recursion and stopping at the first excess.

    Fast path for the common case: with every string cut out (one regex pass in C), a report
    that has fewer commas than one container may hold can only break the depth rule, which a
    walk over its few brackets checks. Anything unusual (a stray quote, unbalanced or too
    deep brackets, many commas) goes to the token-by-token scan, which names the problem."""
    # the counts on `data` bound the pieces `sub` may make (strings sit between commas,
    # colons and brackets), so that the fast path never costs more memory than the scan
    if (data.count(b",") < limits.max_container
            and data.count(b"{") + data.count(b"[") < limits.max_container):
        skeleton = _STRING.sub(b"", data)
    else:
        skeleton = b'"'
    if b'"' not in skeleton:
        # each pass removes the innermost containers, i.e. one level of nesting: when none
        # is left after max_depth passes, the brackets balance within the depth limit
        for _ in range(limits.max_depth):
            skeleton, removed = _INNERMOST.subn(b"", skeleton)
            if not removed:
                break
        if _BRACKET.search(skeleton) is None:
            return
    _full_scan(data, limits)


def _full_scan(data: bytes, limits: Limits) -> None:
    """The scan of `_scan`, one token at a time, raising the precise rejection."""
    stack: list[int] = []           # commas seen per open container
    for match in _TOKEN.finditer(data):
        token = match.group() if match.end() - match.start() == 1 else None
        if token in (b"[", b"{"):
            if len(stack) >= limits.max_depth:
                raise Rejected(SCHEMA_ERROR,
                               f"JSON nesting deeper than {limits.max_depth}", "$")
            stack.append(0)
        elif token in (b"]", b"}"):
            if not stack:
                raise Rejected(JSON_SYNTAX, f"unbalanced {token.decode()} at byte "
                                            f"{match.start()}")
            stack.pop()
        elif token == b'"':
            raise Rejected(JSON_SYNTAX, f"unterminated string at byte {match.start()}")
        elif stack and data[match.start()] != 0x22:
            stack[-1] += data.count(b",", match.start(), match.end())
            if stack[-1] >= limits.max_container:
                raise Rejected(SCHEMA_ERROR, f"a JSON array or object has more than "
                                             f"{limits.max_container} elements", "$")
    if stack:
        raise Rejected(JSON_SYNTAX, "truncated JSON (unclosed array or object)")


def _reject_constant(name: str) -> Any:
    raise _Constant(name)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"integer with {len(text)} digits")
    return int(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Duplicate(key)
        result[key] = value
    return result


# --- validation (spec 7.5) ------------------------------------------------------------------

class _Validator:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Finding(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Finding(path, message))

    def unknown_keys(self, obj: dict[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in obj:
            if key not in known:
                self.warn(_join(prefix, key), "unknown key ignored")

    def string(self, obj: dict[str, Any], key: str, path: str, *, required: bool = False,
               null_ok: bool = True, maximum: int | None = None) -> str | None:
        """A string field: None when absent/null/empty (warning) or wrong (error)."""
        if key not in obj or (obj[key] is None and null_ok and not required):
            if required:
                self.error(path, "missing")
            else:
                self.warn(path, "missing" if key not in obj else "null, read as absent")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.error(path, f"must be a string, not {_type(value)}")
            return None
        limit = self.limits.max_string if maximum is None else maximum
        if len(value) > limit:
            self.error(path, f"string longer than {limit} characters")
            return None
        if value == "" and not required:
            self.warn(path, "empty string, read as absent")
            return None
        return value

    def count(self, obj: dict[str, Any], key: str, path: str, *, minimum: int,
              required: bool) -> int | None:
        if key not in obj:
            if required:
                self.error(path, "missing")
                return None
            self.warn(path, "missing, read as 0")
            return 0
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, not {_type(value)}")
            return None
        if not minimum <= value <= MAX_INT:
            self.error(path, f"integer {value} out of range {minimum}..2^63-1")
            return None
        return value

    def date(self, obj: dict[str, Any], key: str, path: str) -> int | None:
        if key not in obj:
            self.error(path, "missing")
            return None
        value = obj[key]
        match = _DATE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            self.error(path, f"not an RFC 3339 date-time: {value!r}")
            return None
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError as error:
            self.error(path, f"invalid date-time {value!r}: {error}")
            return None
        offset = match.group(8)
        if offset is None:
            self.warn(path, "date-time without offset, read as UTC")
        elif offset not in ("Z", "z"):
            sign = 1 if offset[0] == "+" else -1
            moment -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        return int(moment.timestamp())

    def report(self, value: Any) -> ParsedReport | None:
        if not isinstance(value, dict):
            self.error("$", f"the report must be an object, not {_type(value)}")
            return None
        organization = self.string(value, "organization-name", "organization-name")
        start = end = None
        dates = value.get("date-range")
        if "date-range" not in value:
            self.error("date-range", "missing")
        elif not isinstance(dates, dict):
            self.error("date-range", f"must be an object, not {_type(dates)}")
        else:
            start = self.date(dates, "start-datetime", "date-range.start-datetime")
            end = self.date(dates, "end-datetime", "date-range.end-datetime")
            self.unknown_keys(dates, ("start-datetime", "end-datetime"), "date-range")
            if start is not None and end is not None and end < start:
                self.error("date-range.end-datetime", "end-datetime before start-datetime")
        contact = self.string(value, "contact-info", "contact-info")
        report_id = self.string(value, "report-id", "report-id")
        policies: list[ParsedPolicy] = []
        raw = value.get("policies")
        if "policies" not in value:
            self.error("policies", "missing")
        elif not isinstance(raw, list):
            self.error("policies", f"must be an array, not {_type(raw)}")
        elif len(raw) > self.limits.max_policies:
            self.error("policies", f"more than {self.limits.max_policies} policies")
        else:
            for index, item in enumerate(raw):
                policy = self.policy_result(item, f"policies[{index}]")
                if policy is not None:
                    policies.append(policy)
        self.unknown_keys(value, _TOP_KEYS, "")
        if self.errors or start is None or end is None:
            return None
        return ParsedReport(organization, contact, report_id or "", start, end, tuple(policies))

    def policy_result(self, value: Any, path: str) -> ParsedPolicy | None:
        if not isinstance(value, dict):
            self.error(path, f"must be an object, not {_type(value)}")
            return None
        policy = value.get("policy")
        kind: str | None = None
        domain: str | None = None
        strings: tuple[str, ...] = ()
        mx_hosts: tuple[str, ...] = ()
        if "policy" not in value:
            self.error(f"{path}.policy", "missing")
        elif not isinstance(policy, dict):
            self.error(f"{path}.policy", f"must be an object, not {_type(policy)}")
        else:
            kind, strings, domain, mx_hosts = self.policy(policy, f"{path}.policy")
        summary = value.get("summary")
        successes = failures = None
        if "summary" not in value:
            self.error(f"{path}.summary", "missing")
        elif not isinstance(summary, dict):
            self.error(f"{path}.summary", f"must be an object, not {_type(summary)}")
        else:
            successes = self.count(summary, _SUMMARY_KEYS[0], f"{path}.summary.{_SUMMARY_KEYS[0]}",
                                   minimum=0, required=False)
            failures = self.count(summary, _SUMMARY_KEYS[1], f"{path}.summary.{_SUMMARY_KEYS[1]}",
                                  minimum=0, required=False)
            self.unknown_keys(summary, _SUMMARY_KEYS, f"{path}.summary")
        details: list[ParsedDetail] = []
        raw = value.get("failure-details")
        dpath = f"{path}.failure-details"
        if raw is None:
            self.warn(dpath, "missing, read as []" if "failure-details" not in value
                      else "null, read as []")
        elif not isinstance(raw, list):
            self.error(dpath, f"must be an array, not {_type(raw)}")
        elif len(raw) > self.limits.max_details:
            self.error(dpath, f"more than {self.limits.max_details} failure details")
        else:
            for index, item in enumerate(raw):
                detail = self.detail(item, f"{dpath}[{index}]")
                if detail is not None:
                    details.append(detail)
        self.unknown_keys(value, _RESULT_KEYS, path)
        if kind is None or successes is None or failures is None:
            return None
        return ParsedPolicy(kind, strings, domain, mx_hosts, successes, failures, tuple(details))

    def policy(self, value: dict[str, Any], path: str
               ) -> tuple[str | None, tuple[str, ...], str | None, tuple[str, ...]]:
        kind = self.string(value, "policy-type", f"{path}.policy-type", required=True)
        if kind is not None and kind not in POLICY_TYPES:
            self.warn(f"{path}.policy-type", f"unknown policy-type {kind!r} kept")
        strings = self.string_list(value, "policy-string", f"{path}.policy-string",
                                   self.limits.max_policy_string, single_ok=False)
        domain = self.string(value, "policy-domain", f"{path}.policy-domain")
        mx_hosts = self.string_list(value, "mx-host", f"{path}.mx-host", self.limits.max_string,
                                    single_ok=True, quiet_missing=kind != "sts")
        self.unknown_keys(value, _POLICY_KEYS, path)
        return kind, strings, domain, mx_hosts

    def string_list(self, obj: dict[str, Any], key: str, path: str, maximum: int, *,
                    single_ok: bool, quiet_missing: bool = False) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            if not quiet_missing:
                self.warn(path, "missing, read as []" if key not in obj else "null, read as []")
            return ()
        if isinstance(value, str) and single_ok:
            self.warn(path, "a single string, read as a one-element list (erratum 6241)")
            value = [value]
        if not isinstance(value, list):
            self.error(path, f"must be an array of strings, not {_type(value)}")
            return ()
        if len(value) > self.limits.max_items:
            self.error(path, f"more than {self.limits.max_items} items")
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.error(f"{path}[{index}]", f"must be a string, not {_type(item)}")
            elif len(item) > maximum:
                self.error(f"{path}[{index}]", f"string longer than {maximum} characters")
            else:
                items.append(item)
        return tuple(items)

    def detail(self, value: Any, path: str) -> ParsedDetail | None:
        if not isinstance(value, dict):
            self.error(path, f"must be an object, not {_type(value)}")
            return None
        result_type = self.string(value, "result-type", f"{path}.result-type", required=True)
        if result_type is not None and result_type not in RESULT_TYPES:
            self.warn(f"{path}.result-type", f"unknown result-type {result_type!r} kept")
        fields: dict[str, str | None] = {}
        for key in _DETAIL_STRINGS:
            if key not in value:
                fields[key] = None
                continue
            text = self.string(value, key, f"{path}.{key}")
            if text is not None and key in _IP_KEYS:
                text = self.ip(text, f"{path}.{key}")
            fields[key] = text
        count = self.count(value, "failed-session-count", f"{path}.failed-session-count",
                           minimum=1, required=True)
        self.unknown_keys(value, _DETAIL_KEYS, path)
        if result_type is None or count is None:
            return None
        return ParsedDetail(
            result_type, count, sending_mta_ip=fields["sending-mta-ip"],
            receiving_mx_hostname=fields["receiving-mx-hostname"],
            receiving_mx_helo=fields["receiving-mx-helo"], receiving_ip=fields["receiving-ip"],
            additional_information=fields["additional-information"],
            failure_reason_code=fields["failure-reason-code"])

    def ip(self, text: str, path: str) -> str:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            self.warn(path, f"not an IP address, kept verbatim: {text!r}")
            return text
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(address)


def validate(value: Any, limits: Limits
             ) -> tuple[ParsedReport | None, tuple[Finding, ...], tuple[Finding, ...]]:
    """(report or None, warnings, errors in document order) for a parsed JSON value."""
    validator = _Validator(limits)
    report = validator.report(value)
    return report, tuple(validator.warnings), tuple(validator.errors)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
