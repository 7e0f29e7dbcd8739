"""The RFC 8460 data model: events as they are stored, and their plain-dict form.

An `Event` is one TLS outcome of one SMTP session attempt (spec/reporting.md 3.1), already
normalised (3.2): `intake.normalise_event` builds them from untrusted input. Records are
frozen; `to_dict`/`from_dict` map them to the JSON stored by the event store, with explicit
keys (never `**`-splatting external data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

POLICY_TYPES: Final = ("sts", "tlsa", "no-policy-found")
RESULT_TYPES: Final = (
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
    "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
)
#: failure-detail fields in RFC 8460 / spec 1.6 emission order (result-type and the count
#: aside), with the attribute names used here
DETAIL_FIELDS: Final = (
    ("sending-mta-ip", "sending_mta_ip"),
    ("receiving-mx-hostname", "receiving_mx_hostname"),
    ("receiving-mx-helo", "receiving_mx_helo"),
    ("receiving-ip", "receiving_ip"),
    ("additional-information", "additional_information"),
    ("failure-reason-code", "failure_reason_code"),
)


@dataclass(frozen=True, slots=True)
class Policy:
    type: str                      # one of POLICY_TYPES
    strings: tuple[str, ...]       # normalised policy-string lines (spec 1.3)
    domain: str                    # policy-domain (A-label, lower case)
    mx_hosts: tuple[str, ...]      # MX patterns (sts only; () otherwise)


@dataclass(frozen=True, slots=True)
class FailureDetail:
    result_type: str               # one of RESULT_TYPES
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None

    def key(self) -> tuple[str | None, ...]:
        """The failure key of spec 3.4 (None, an absent field, differs from every string)."""
        return (self.result_type, self.sending_mta_ip, self.receiving_mx_hostname,
                self.receiving_mx_helo, self.receiving_ip, self.additional_information,
                self.failure_reason_code)


class Event(NamedTuple):
    """One delivery outcome (spec 1.1). A named tuple rather than a frozen dataclass: intake
    builds one per line or datagram, and a tuple is built in a quarter of the time."""

    time: int                      # Unix seconds, UTC
    report_domain: str             # A-label, lower case, no trailing dot
    policy: Policy
    success: bool
    failure_details: tuple[FailureDetail, ...] = ()
    destinations: tuple[str, ...] | None = None   # rua URIs, or None: look up the record
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id, "time": self.time, "report_domain": self.report_domain,
            "policy": {"type": self.policy.type, "strings": list(self.policy.strings),
                       "domain": self.policy.domain, "mx_hosts": list(self.policy.mx_hosts)},
            "outcome": "success" if self.success else "failure",
            "failure_details": [_detail_dict(detail) for detail in self.failure_details],
            "destinations": None if self.destinations is None else list(self.destinations),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Rebuild an event that `to_dict` wrote (trusted: our own store's data)."""
        policy = data["policy"]
        return cls(
            time=int(data["time"]), report_domain=str(data["report_domain"]),
            policy=Policy(str(policy["type"]), tuple(policy["strings"]), str(policy["domain"]),
                          tuple(policy["mx_hosts"])),
            success=data["outcome"] == "success",
            failure_details=tuple(FailureDetail(
                result_type=str(detail["result-type"]),
                **{attribute: detail.get(name) for name, attribute in DETAIL_FIELDS})
                for detail in data["failure_details"]),
            destinations=None if data.get("destinations") is None else tuple(
                data["destinations"]),
            event_id=data.get("event_id"))


def _detail_dict(detail: FailureDetail) -> dict[str, Any]:
    found: dict[str, Any] = {"result-type": detail.result_type}
    for name, attribute in DETAIL_FIELDS:
        value = getattr(detail, attribute)
        if value is not None:
            found[name] = value
    return found
