"""One libtlsrpt datagram (spec/reporting.md 8.2-8.5) -> events and warnings.

Pure decoding: bytes in, `Event`s out (one per usable policy object), no socket, no clock, no
configuration. The caller supplies the receipt time and chooses each event's window from the
configured frequency (engine.reporting.intake.collector does both).

A datagram is dropped as a whole (`DatagramError`, with a stable `reason` used as a counter
name) when it is not UTF-8 JSON, speaks an unknown protocol version, has no domain or no
policies, or carries a TLSRPT record that does not parse to usable destinations. Problems of
one policy object (an unknown `policy-type`, a field that intake normalisation rejects) drop
only that policy, with a warning; the others still count.

Decoding is memoised on the datagram's bytes: a busy MTA sends the very same bytes for every
successful delivery to one domain (a datagram carries no time, no message id), so most
datagrams are decoded once and then only re-stamped with their receipt time.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from engine.errors import EngineError
from engine.reporting.intake.normalise import EventError, normalise_event
from engine.reporting.model import Event
from engine.reporting.tlsrpt_record import parse_record

#: `dpv` values this decoder understands (absent before libtlsrpt 0.5.0, then "1")
PROTOCOL_VERSION: Final = "1"
#: spec 8.3: the integer policy types of libtlsrpt
POLICY_TYPES: Final = {1: "tlsa", 2: "sts", 9: "no-policy-found"}
#: spec 8.3: libtlsrpt's result-type codes (901 is internal to the library, never sent)
RESULT_CODES: Final = {
    201: "starttls-not-supported", 202: "certificate-host-mismatch",
    203: "certificate-not-trusted", 204: "certificate-expired", 205: "validation-failure",
    301: "sts-policy-fetch-error", 302: "sts-policy-invalid", 303: "sts-webpki-invalid",
    304: "tlsa-invalid", 305: "dnssec-invalid", 306: "dane-required",
}
#: spec 8.5: an unknown code is kept as a validation failure rather than lost
UNKNOWN_CODE_RESULT: Final = "validation-failure"
#: short detail keys (spec 8.3) -> the RFC 8460 names intake reads
DETAIL_KEYS: Final = (
    ("s", "sending-mta-ip"), ("n", "receiving-mx-hostname"), ("h", "receiving-mx-helo"),
    ("r", "receiving-ip"), ("a", "additional-information"), ("f", "failure-reason-code"),
)
#: The `pr` record is parsed with a generous cap, as the scheduler's own lookups are: the
#: per-domain `max-destinations` is applied when the report is sent (spec 2.4, 3.5).
MAX_RECORD_DESTINATIONS: Final = 1000
#: Distinct datagrams remembered. Identical bytes are the common case (every success to one
#: domain); a few thousand entries of about a kilobyte each cover a busy MTA's working set.
CACHE_SIZE: Final = 4096
#: Only datagrams up to this size are memoised: a large one (up to `collector.max-datagram`)
#: decodes into up to thousands of events, and 4096 of them would hold gigabytes.
MAX_CACHED_DATAGRAM: Final = 2048


class DropReason(enum.Enum):
    """Why a whole datagram was dropped; the values are counter and log names."""

    NOT_UTF8 = "not-utf8"
    NOT_JSON = "not-json"
    NOT_OBJECT = "not-object"
    UNKNOWN_VERSION = "unknown-version"
    NO_DOMAIN = "no-domain"
    BAD_DOMAIN = "bad-domain"
    NO_POLICIES = "no-policies"
    BAD_RECORD = "bad-record"
    NO_USABLE_POLICY = "no-usable-policy"


class DatagramError(EngineError, ValueError):
    """A datagram dropped as a whole: `reason` is the counter, `detail` says more."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail))


@dataclass(frozen=True, slots=True)
class Decoded:
    """The events of one datagram (one per usable policy, in datagram order), the warnings
    about what was repaired or skipped, and how many policy objects were dropped."""

    events: tuple[Event, ...]
    warnings: tuple[str, ...] = ()
    policies_dropped: int = 0


def decode_datagram(data: bytes, *, received_at: int) -> Decoded:
    """Decode one datagram as spec 8.5 says; every event gets `received_at` as its time.

    Raises DatagramError when the datagram must be dropped as a whole.

    >>> raw = (b'{"dpv": "1","d": "Example.ORG.","pr": "v=TLSRPTv1;rua=mailto:t@example.org",'
    ...        b'"policies":[{"policy-type":9,"t":0,"f":0}]}')
    >>> decoded = decode_datagram(raw, received_at=1714953600)
    >>> event = decoded.events[0]
    >>> (event.report_domain, event.policy.type, event.success, event.destinations)
    ('example.org', 'no-policy-found', True, ('mailto:t@example.org',))
    """
    data = bytes(data)
    template = (_decode_cached(data) if len(data) <= MAX_CACHED_DATAGRAM
                else _decode_or_error(data))
    if isinstance(template, DatagramError):
        raise DatagramError(template.reason, template.detail)
    # Positional construction rather than dataclasses.replace, which costs several times more
    # and runs for every datagram the collector receives.
    return Decoded(tuple(Event(received_at, event.report_domain, event.policy, event.success,
                               event.failure_details, event.destinations, event.event_id)
                         for event in template.events),
                   template.warnings, template.policies_dropped)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _decode_cached(data: bytes) -> Decoded | DatagramError:
    # Errors are returned, not raised: lru_cache does not remember exceptions, and a
    # misbehaving client repeating one bad datagram should cost no more than a good one.
    return _decode_or_error(data)


def _decode_or_error(data: bytes) -> Decoded | DatagramError:
    try:
        return _decode(data)
    except DatagramError as err:
        return err


def _decode(data: bytes) -> Decoded:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        # libtlsrpt copies bytes >= 0x80 raw, so this is an MTA that passed non-UTF-8 text
        raise DatagramError(DropReason.NOT_UTF8, f"byte {err.start}: {err.reason}") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise DatagramError(DropReason.NOT_JSON, err.msg) from None
    except ValueError as err:  # NaN/Infinity, or an integer beyond Python's digit limit
        raise DatagramError(DropReason.NOT_JSON, str(err)) from None
    except RecursionError:
        raise DatagramError(DropReason.NOT_JSON, "nested too deeply") from None
    if not isinstance(document, dict):
        raise DatagramError(DropReason.NOT_OBJECT, "a datagram must be a JSON object")
    warnings: list[str] = []
    version = document.get("dpv")
    if version is None:
        warnings.append("no dpv (libtlsrpt before 0.5.0): read as protocol version 1")
    elif version != PROTOCOL_VERSION:
        raise DatagramError(DropReason.UNKNOWN_VERSION, f"dpv {version!r} is not \"1\"")
    domain = document.get("d")
    if not isinstance(domain, str) or not domain.strip():
        raise DatagramError(DropReason.NO_DOMAIN, "no domain (d)")
    policies = document.get("policies")
    if not isinstance(policies, list) or not policies:
        raise DatagramError(DropReason.NO_POLICIES, "no policies")
    record = document.get("pr")
    if not isinstance(record, str):
        raise DatagramError(DropReason.BAD_RECORD, "no TLSRPT record (pr)")
    parsed = parse_record(record, max_destinations=MAX_RECORD_DESTINATIONS)
    if not parsed.ok:
        raise DatagramError(DropReason.BAD_RECORD,
                            f"TLSRPT record {record!r}: {parsed.outcome.value}"
                            + (f" ({parsed.reason})" if parsed.reason else ""))
    warnings.extend(f"pr: {warning}" for warning in parsed.warnings)

    events: list[Event] = []
    dropped = 0
    for index, policy in enumerate(policies):
        path = f"policies[{index}]"
        try:
            raw = _event_input(policy, domain, parsed.destinations, path, warnings)
            event, repaired = normalise_event(raw, now=0)
        except _PolicyDropped as err:
            warnings.append(f"{path}: dropped: {err}")
            dropped += 1
            continue
        except EventError as err:
            if err.path == "report_domain":  # `d` itself: no policy of it can be reported
                raise DatagramError(DropReason.BAD_DOMAIN, err.reason) from None
            warnings.append(f"{path}: dropped: {_datagram_path(err.path)}: {err.reason}")
            dropped += 1
            continue
        warnings.extend(f"{path}: {_datagram_path(line)}" for line in repaired)
        events.append(event)
    if not events:
        raise DatagramError(DropReason.NO_USABLE_POLICY,
                            f"none of its {len(policies)} policies is usable")
    return Decoded(tuple(events), tuple(warnings), dropped)


class _PolicyDropped(ValueError):
    """One policy object cannot become an event (spec 8.5: the others still do)."""


def _event_input(policy: Any, domain: str, destinations: tuple[str, ...], path: str,
                 warnings: list[str]) -> dict[str, Any]:
    """The spec 3.1 (JSON Lines) shape of one policy object, for `normalise_event`."""
    if not isinstance(policy, Mapping):
        raise _PolicyDropped("a policy must be a JSON object")
    code = policy.get("policy-type")
    kind = POLICY_TYPES.get(code) if _is_integer(code) else None
    if kind is None:
        raise _PolicyDropped(f"unknown policy-type {code!r}")
    final = policy.get("f")
    if not _is_integer(final) or final not in (0, 1):  # not a bool, not a float (spec 8.3)
        warnings.append(f"{path}: f is {final!r}, not 0 or 1: read as success")
    failed = _is_integer(final) and final == 1
    details = policy.get("failure-details")
    if details is not None and not isinstance(details, list):
        raise _PolicyDropped("failure-details must be an array")
    details = details or []
    announced = policy.get("t")
    if not _is_integer(announced) or announced != len(details):
        warnings.append(f"{path}: t is {announced!r} but {len(details)} failure details came")
    if details and not failed:
        # tlsrpt-reporter counts them; a success has nothing to detail (spec 8.5)
        warnings.append(f"{path}: {len(details)} failure detail(s) on a success dropped")
        details = []
    policy_domain = policy.get("policy-domain")
    return {
        "report_domain": domain,
        "policy": {"type": kind, "strings": policy.get("policy-string"),
                   "mx_hosts": policy.get("mx-host"),
                   # spec 8.5: policy.domain = policy-domain or d (Postfix omits it for
                   # no-policy-found)
                   "domain": policy_domain if policy_domain not in (None, "") else domain},
        "outcome": "failure" if failed else "success",
        "failure_details": [_detail(detail, f"{path}.failure-details[{number}]", warnings)
                            for number, detail in enumerate(details)],
        "destinations": list(destinations),
    }


def _detail(detail: Any, path: str, warnings: list[str]) -> dict[str, Any]:
    """A short-key detail (spec 8.3) in RFC 8460 names; unknown codes per spec 8.5."""
    if not isinstance(detail, Mapping):
        raise _PolicyDropped(f"{path} must be a JSON object")
    found = {name: detail[short] for short, name in DETAIL_KEYS if short in detail}
    code = detail.get("c")
    result_type = RESULT_CODES.get(code) if _is_integer(code) else None
    if result_type is None:
        label = str(code) if _is_integer(code) else "missing"
        warnings.append(f"{path}: result code {code!r} unknown: kept as {UNKNOWN_CODE_RESULT}")
        result_type = UNKNOWN_CODE_RESULT
        reason = found.get("failure-reason-code")
        if not isinstance(reason, str) or not reason.strip():
            found["failure-reason-code"] = f"libtlsrpt-code-{label}"
    found["result-type"] = result_type
    return found


def _reject_constant(literal: str) -> Any:
    raise ValueError(f"the literal {literal} is not JSON")


def _is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _datagram_path(text: str) -> str:
    """Intake's field names (spec 3.1) back in the datagram's own (spec 8.3) for messages."""
    for ours, theirs in (("policy.strings", "policy-string"), ("policy.mx_hosts", "mx-host"),
                         ("policy.domain", "policy-domain"),
                         ("failure_details", "failure-details")):
        text = text.replace(ours, theirs)
    return text
