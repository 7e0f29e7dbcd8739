"""Event intake: untrusted input (spec/reporting.md 3.1) to a normalised `Event` (3.2).

Normalisation defines identity: two events that differ only in spelling (case, trailing dot,
U-label vs A-label, IPv6 zero compression, TLSA answer order...) must land in the same policy
and failure-detail entries. Everything is checked field by field with explicit keys; the
input is never `**`-splatted, so unknown keys cannot reach a constructor. A problem rejects
the whole event with an `EventError` naming the offending field; a few harmless
inconsistencies are repaired and reported as warnings instead.

`Normaliser` is the same function for streams of events (`tlsrpt record`): an MTA repeats a
few report domains, policies, failure details and destination lists over and over, so it
keeps the normalised form of each combination it has seen and checks only the event's own
fields (`time`, `event_id`) on every event. Only inputs that normalised without an error are
remembered, and anything unusual goes through the plain path, so both give the same events,
warnings and errors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Final

from engine.errors import EngineError
from engine.reporting.model import (
    DETAIL_FIELDS,
    POLICY_TYPES,
    RESULT_TYPES,
    Event,
    FailureDetail,
    Policy,
)

#: spec 3.2: longer string fields are cut to this many code points
MAX_FIELD_LENGTH: Final = 256
#: largest time whose RFC 3339 form still has a four-digit year (9999-12-31T23:59:59Z)
MAX_TIME: Final = 253402300799

_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# the label separators Python's own idna codec accepts (full stop and its CJK/full-width forms)
_DOTS: Final = re.compile("[.\u3002\uff0e\uff61]")
# an encoded label: letters, digits, hyphen (not at either end); underscore for service-style
# names (`_smtp._tls`) that real DNS data contains
_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_DECIMAL: Final = re.compile(r"[0-9]+")
_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
_IP_FIELDS: Final = frozenset({"sending-mta-ip", "receiving-ip"})
#: entries kept in the memo of `Normaliser`; a full memo is emptied and refilled, so a stream
#: of ever-new values (unique failure texts, say) costs memory only up to this bound
MEMO_LIMIT: Final = 65_536
#: characters of raw input the memo keys may hold together (an entry count alone would let
#: 65,536 distinct lines of up to a megabyte each stay alive); a fuller memo is emptied too
MEMO_CHARS: Final = 1 << 24


class EventError(EngineError, ValueError):
    """An event rejected on intake: `path` names the field (`failure_details[0].result-type`),
    `reason` says what is wrong with it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or 'event'}: {reason}")
        self.path = path
        self.reason = reason


def normalise_event(raw: Mapping[str, Any], *, now: int) -> tuple[Event, list[str]]:
    """Validate and normalise one event of the JSON Lines shape of spec 3.1.

    Returns the event and the warnings about what was repaired (details on a success, strings
    or MX hosts on a policy type that has none). Keys this function does not know (such as
    `frequency` and `is_report_message`, which the caller acts on) are ignored.
    """
    if not isinstance(raw, Mapping):
        raise EventError("", f"an event must be an object, not {_json_type(raw)}")
    warnings: list[str] = []
    report_domain = _required_domain(raw, "report_domain")
    policy = _policy(raw.get("policy"), report_domain, warnings)
    success = _outcome(raw.get("outcome"))
    details = _failure_details(raw.get("failure_details"))
    if success and details:
        # a success has nothing to detail (tlsrpt-reporter counts them; we do not, spec 3.1)
        warnings.append(f"failure_details: {len(details)} detail(s) on a success dropped")
        details = ()
    return Event(
        time=_time(raw.get("time"), now),
        report_domain=report_domain,
        policy=policy,
        success=success,
        failure_details=details,
        destinations=_destinations(raw.get("destinations")),
        event_id=_optional_text(raw.get("event_id"), "event_id"),
    ), warnings


class Normaliser:
    """`normalise_event` with a memo of the normalised shared part of events (see the module
    documentation): report domain, policy, outcome, failure details and destinations, keyed
    by their raw values. A hit leaves only `time` and `event_id` to check."""

    def __init__(self, *, limit: int = MEMO_LIMIT, chars: int = MEMO_CHARS) -> None:
        self._limit = limit
        self._chars_limit = chars
        self._chars = 0  # characters held by the keys in the memo
        self._memo: dict[Hashable, _Shared] = {}

    def __call__(self, raw: Mapping[str, Any], *, now: int) -> tuple[Event, list[str]]:
        key = _shared_key(raw) if type(raw) is dict else None
        shared = None
        if key is not None:
            try:
                shared = self._memo.get(key)
            except TypeError:  # a list or an object inside: not a value we remember
                key = None
        if shared is None:
            # the plain path, which also gives the first error in the usual order
            event, warnings = normalise_event(raw, now=now)
            if key is not None:
                size = _key_chars(key)
                if len(self._memo) >= self._limit or self._chars + size > self._chars_limit:
                    self._memo.clear()
                    self._chars = 0
                self._chars += size
                self._memo[key] = (event.report_domain, event.policy, event.success,
                                   event.failure_details, event.destinations, tuple(warnings))
            return event, warnings
        report_domain, policy, success, details, destinations, shared_warnings = shared
        # what normalise_event checks after the shared fields, in its order (destinations,
        # checked between the two, are known to be valid)
        time = raw.get("time")
        if type(time) is not int or not 0 <= time <= MAX_TIME:
            time = _time(time, now)
        event_id = raw.get("event_id")
        if not (type(event_id) is str and plain_text(event_id)):
            event_id = _optional_text(event_id, "event_id")
        return Event(time=time, report_domain=report_domain, policy=policy, success=success,
                     failure_details=details, destinations=destinations,
                     event_id=event_id), list(shared_warnings)


#: (report domain, policy, success, failure details, destinations, warnings) of a memo entry
_Shared = tuple[str, Policy, bool, tuple[FailureDetail, ...], "tuple[str, ...] | None",
                tuple[str, ...]]


def _shared_key(raw: dict[str, Any]) -> Hashable | None:
    """The raw values that decide the shared part of an event, as a memo key; None when they
    cannot be one (a string where a list belongs, say: the plain path rejects or converts
    it). The key may still hold an unhashable value; the caller catches that."""
    policy = raw.get("policy")
    if type(policy) is not dict:
        return None
    strings, hosts = policy.get("strings"), policy.get("mx_hosts")
    if type(strings) not in _LIST_OR_NONE or type(hosts) not in _LIST_OR_NONE:
        return None
    details = raw.get("failure_details")
    if details is not None:
        if type(details) is not list or any(type(item) is not dict for item in details):
            return None
        details = tuple(tuple(item.items()) for item in details)
    destinations = raw.get("destinations")
    if destinations is not None:
        if type(destinations) is not list:
            return None
        destinations = tuple(destinations)
    # None and [] normalise alike for strings and MX hosts, so they share an entry
    return (raw.get("report_domain"), policy.get("type"), policy.get("domain"),
            tuple(strings or ()), tuple(hosts or ()), raw.get("outcome"), details,
            destinations)


_LIST_OR_NONE: Final = (list, type(None))


def _key_chars(key: Any) -> int:
    """About how much a memo key holds: the length of its strings, 1 for anything else (a
    key is tuples of hashable JSON scalars, see `_shared_key`)."""
    if type(key) is str:
        return len(key)
    if type(key) is tuple:
        return 1 + sum(_key_chars(item) for item in key)
    return 1


def plain_text(text: str) -> bool:
    """True when `_optional_text` would return `text` unchanged: printable (no control
    characters, no lone surrogates), not padded, not empty, not too long."""
    return (0 < len(text) <= MAX_FIELD_LENGTH and text.isprintable()
            and text[0] != " " and text[-1] != " ")


# --- scalar fields ---------------------------------------------------------------------------

def _time(value: Any, now: int) -> int:
    if value is None:
        value = now
    elif isinstance(value, bool) or not isinstance(value, int):
        raise EventError("time", f"must be an integer, not {_json_type(value)}")
    # the window bounds must be printable as RFC 3339 date-times (four-digit years, no BC)
    if not 0 <= value <= MAX_TIME:
        raise EventError("time", f"{value} is outside 0..{MAX_TIME}")
    return int(value)


def _outcome(value: Any) -> bool:
    if isinstance(value, str) and value in ("success", "failure"):
        return value == "success"
    raise EventError("outcome", f"must be \"success\" or \"failure\", not {_show(value)}")


def _optional_text(value: Any, path: str) -> str | None:
    """A free-text field per spec 3.2: control characters to spaces, trimmed, at most 256 code
    points; empty means absent."""
    if value is None:
        return None
    text = _clean(_string(value, path))
    text = text[:MAX_FIELD_LENGTH].strip()  # trim again: a cut may end in a space
    return text or None


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise EventError(path, f"must be a string, not {_json_type(value)}")
    if _SURROGATE.search(value):
        # JSON can smuggle lone surrogates (`"\ud800"`); they cannot be written as UTF-8
        raise EventError(path, "contains a lone surrogate (not valid Unicode)")
    return value


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _list(value: Any, path: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise EventError(path, f"must be an array, not {_json_type(value)}")
    return value


# --- domains ---------------------------------------------------------------------------------

def _required_domain(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        raise EventError(key, "is required")
    domain = _domain(_string(value, key), key)
    if domain is None:
        raise EventError(key, "is empty")
    return domain


def _domain(text: str, path: str, *, wildcard: bool = False) -> str | None:
    """Trimmed, one trailing dot removed, lower case, A-labels (spec 3.2); None when empty.

    Labels go one by one through Python's `idna` codec (IDNA 2003, as the brief requires) and
    must then be LDH (plus `_`); `xn--` labels must decode, which the codec alone does not
    check for ASCII input. `wildcard` admits a leading `*` label (MTA-STS `mx` patterns).
    """
    text = _CONTROL.sub(" ", text).strip()
    if text.endswith(".") and text != ".":
        text = text[:-1]
    if not text:
        return None
    labels = _DOTS.split(text.lower())
    encoded = [_label(label, path, allow_star=wildcard and index == 0 and len(labels) > 1)
               for index, label in enumerate(labels)]
    domain = ".".join(encoded)
    if len(domain) > 253:
        raise EventError(path, f"domain is longer than 253 characters: {_show(text)}")
    return domain


def _label(label: str, path: str, *, allow_star: bool) -> str:
    if allow_star and label == "*":
        return label
    if not label:
        raise EventError(path, "domain has an empty label")
    try:
        ascii_label = label.encode("idna").decode("ascii")
        if ascii_label.startswith("xn--"):
            ascii_label.encode("ascii").decode("idna")  # raises if the punycode is bad
    except UnicodeError as error:
        raise EventError(path, f"invalid domain label {_show(label)}: {error}") from None
    ascii_label = ascii_label.lower()
    if len(ascii_label) > 63 or not _LABEL.fullmatch(ascii_label):
        raise EventError(path, f"invalid domain label {_show(label)}")
    return ascii_label


# --- policy ----------------------------------------------------------------------------------

def _policy(value: Any, report_domain: str, warnings: list[str]) -> Policy:
    if value is None:
        raise EventError("policy", "is required")
    if not isinstance(value, Mapping):
        raise EventError("policy", f"must be an object, not {_json_type(value)}")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in POLICY_TYPES:
        raise EventError("policy.type", f"must be one of {', '.join(POLICY_TYPES)}, "
                                        f"not {_show(kind)}")
    raw_strings = _list(value.get("strings"), "policy.strings")
    raw_hosts = _list(value.get("mx_hosts"), "policy.mx_hosts")
    raw_domain = value.get("domain")
    domain = (None if raw_domain is None
              else _domain(_string(raw_domain, "policy.domain"), "policy.domain"))
    return Policy(type=kind, strings=_policy_strings(kind, raw_strings, warnings),
                  domain=domain or report_domain,
                  mx_hosts=_mx_hosts(kind, raw_hosts, warnings))


def _policy_strings(kind: str, raw: Sequence[Any], warnings: list[str]) -> tuple[str, ...]:
    texts = [_string(item, f"policy.strings[{index}]") for index, item in enumerate(raw)]
    if kind == "sts":
        return tuple(line for text in texts for line in _sts_lines(text))
    if kind == "tlsa":
        # one RRset is one policy whatever the DNS answer order (spec 1.3)
        return tuple(sorted({_tlsa(text, f"policy.strings[{index}]")
                             for index, text in enumerate(texts)}))
    if texts:
        warnings.append(f"policy.strings: {len(texts)} string(s) on no-policy-found dropped")
    return ()


def _sts_lines(text: str) -> list[str]:
    """Normalised `key: value` lines (spec 1.3). A string holding several lines (a whole policy
    file) is split, so both ways of passing the file give the same policy. No line is ever
    invalid: unusable ones are dropped, as the spec says."""
    lines = []
    for line in text.replace("\r", "").split("\n"):
        key, colon, value = _CONTROL.sub(" ", line).partition(":")
        if colon:  # blank lines and lines without ':' are dropped
            lines.append(f"{key.strip(' ')}: {value.strip(' ')}")
    return lines


def _tlsa(text: str, path: str) -> str:
    """`usage selector mtype HEX`: decimals without leading zeros, upper-case hex.

    The hex may come split into blocks as in zone-file presentation (`dig` prints long data
    that way); parentheses and anything else are refused.
    """
    fields = text.split()
    if len(fields) < 4:
        raise EventError(path, f"TLSA record must be 'usage selector mtype hex': {_show(text)}")
    numbers = fields[:3]
    for number in numbers:
        if not _DECIMAL.fullmatch(number) or int(number) > 255:
            raise EventError(path, f"TLSA field {_show(number)} is not a number 0-255")
    data = "".join(fields[3:])
    if not _HEX.fullmatch(data) or len(data) % 2:
        raise EventError(path, "TLSA association data is not an even-length hex string")
    return " ".join([*(str(int(number)) for number in numbers), data.upper()])


def _mx_hosts(kind: str, raw: Sequence[Any], warnings: list[str]) -> tuple[str, ...]:
    if kind != "sts":
        if raw:
            warnings.append(f"policy.mx_hosts: {len(raw)} MX host(s) on {kind} dropped")
        return ()
    hosts = []
    for index, item in enumerate(raw):
        path = f"policy.mx_hosts[{index}]"
        host = _domain(_string(item, path), path, wildcard=True)
        if host is not None:  # '' is absent, so there is nothing to keep
            hosts.append(host)
    return tuple(hosts)


# --- failure details -------------------------------------------------------------------------

def _failure_details(value: Any) -> tuple[FailureDetail, ...]:
    return tuple(_detail(item, f"failure_details[{index}]")
                 for index, item in enumerate(_list(value, "failure_details")))


def _detail(value: Any, path: str) -> FailureDetail:
    if not isinstance(value, Mapping):
        raise EventError(path, f"must be an object, not {_json_type(value)}")
    result_type = value.get("result-type")
    if not isinstance(result_type, str) or result_type not in RESULT_TYPES:
        raise EventError(f"{path}.result-type",
                         f"must be one of the RFC 8460 result types, not {_show(result_type)}")
    fields = {attribute: _detail_field(name, value.get(name), f"{path}.{name}")
              for name, attribute in DETAIL_FIELDS}
    return FailureDetail(
        result_type=result_type,
        sending_mta_ip=fields["sending_mta_ip"],
        receiving_mx_hostname=fields["receiving_mx_hostname"],
        receiving_mx_helo=fields["receiving_mx_helo"],
        receiving_ip=fields["receiving_ip"],
        additional_information=fields["additional_information"],
        failure_reason_code=fields["failure_reason_code"],
    )


def _detail_field(name: str, value: Any, path: str) -> str | None:
    text = _optional_text(value, path)
    if text is None:
        return None
    if name in _IP_FIELDS:
        return _ip(text, path)
    if name == "receiving-mx-hostname":
        return _domain(text, path)
    return text


def _ip(text: str, path: str) -> str:
    """IPv4 dotted quad; IPv6 per RFC 5952; an IPv4-mapped IPv6 address as plain IPv4."""
    if "%" in text:
        # `ipaddress` keeps a zone index (`fe80::1%eth0`), which RFC 5952 text has not
        raise EventError(path, f"IP address with a zone index: {_show(text)}")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise EventError(path, f"not an IP address: {_show(text)}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Python 3.11 prints a mapped address in hex groups (`::ffff:102:304`)
        return str(address.ipv4_mapped)
    return str(address)


# --- destinations ----------------------------------------------------------------------------

def _destinations(value: Any) -> tuple[str, ...] | None:
    """The rua URIs as given (already parsed per spec 2.4 by the caller), de-duplicated.

    Control characters become spaces and the URI is trimmed, but it is not cut at 256 code
    points: a truncated URI would be a different, wrong destination.
    """
    if value is None:
        return None  # absent: the record is looked up when the report is rendered (6.1)
    found: dict[str, None] = {}
    for index, item in enumerate(_list(value, "destinations")):
        path = f"destinations[{index}]"
        uri = _clean(_string(item, path))
        if uri:
            found.setdefault(uri, None)
    return tuple(found)


# --- messages --------------------------------------------------------------------------------

def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short, printable rendering of untrusted input for messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
