"""The TLSRPT DNS record (spec/reporting.md section 2, RFC 8460 §3): lookup, parse, cache.

Three layers, each usable on its own:

* `parse_record(text)` -- one record text -> outcome and destinations (spec 2.2-2.4). The
  collector (spec 8.5) calls it on the `pr` attribute of datagrams, without DNS.
* `select_record(txt_rrs)` -- the character-strings of a TXT RRset -> the one candidate,
  parsed (spec 2.1 steps 2-5).
* `RecordResolver.lookup(domain)` -- DNS through dnspython plus a TTL cache on an injected
  monotonic clock (spec 2.1 steps 1, 6, 7).

The parser is deliberately strict about the record grammar (a syntax error makes the whole
record INVALID, as RFC 8460 requires) but lenient about destinations: each URI, and each
address inside a `mailto:` URI, is judged on its own, so one bad entry never costs the others.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import unquote_to_bytes

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT

#: spec 10 `report.tls.aggregate.max-destinations` default
DEFAULT_MAX_DESTINATIONS: Final = 10
#: spec 2.1 step 7: DNS TTLs are clamped to this range before caching
MIN_TTL: Final = 60
MAX_TTL: Final = 86400
#: spec 2.1 step 7: a TEMPFAIL is never cached longer than this
MAX_TEMPFAIL_TTL: Final = 60

VERSION: Final = "v=TLSRPTv1"

# spec 2.1 step 3: the version, case-sensitive, then optional WSP, then ";" or the end. `\Z`,
# not `$`, because `$` would also match before a final newline.
_CANDIDATE: Final = re.compile(r"v=TLSRPTv1[ \t]*(?:;|\Z)")
# spec 2.1 step 2: printable ASCII and HTAB are the only bytes a candidate may contain
_PRINTABLE: Final = re.compile(rb"[\t\x20-\x7e]*")
_PRINTABLE_TEXT: Final = re.compile(r"[\t\x20-\x7e]*")
_WSP: Final = frozenset(" \t")
# uri = 1*( VCHAR except "," and ";" )
_URI_CHARS: Final = re.compile(r"[\x21-\x2b\x2d-\x3a\x3c-\x7e]+")
# ext-field = ext-name "=" ext-value; ext-value = 1*( VCHAR except "=" and ";" )
_EXT_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_NAME_CHAR: Final = re.compile(r"[A-Za-z0-9_.-]")
_EXT_VALUE: Final = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")
# RFC 3986 scheme
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986: reg-name = *( unreserved / pct-encoded / sub-delims ); pct-encoding checked apart
_REG_NAME: Final = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=]+")
# path-abempty [ "?" query ]: pchar / "/" / "?" (no "#": an absolute-URI has no fragment)
_PATH_QUERY: Final = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@/?]*")
# the label separators Python's idna codec accepts (full stop and its CJK/full-width forms);
# a percent-decoded mailto domain may use any of them
_DOTS: Final = re.compile("[.\u3002\uff0e\uff61]")
_LDH_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


class TlsrptRecordOutcome(enum.Enum):
    """spec 2.3. Only OK leads to events being recorded for the domain."""

    OK = "ok"
    NOT_FOUND = "not-found"
    MULTIPLE = "multiple"
    TEMPFAIL = "tempfail"
    INVALID = "invalid"
    #: a rua field was present but none of its URIs survived spec 2.4
    NO_USABLE_URI = "no-usable-uri"


@dataclass(frozen=True, slots=True)
class TlsrptRecordResult:
    """The outcome of a parse or lookup.

    `destinations` is non-empty exactly when `outcome` is OK: normalised URIs (scheme lower
    case; `mailto:` decoded with an A-label domain), de-duplicated and capped. `warnings` say
    what was skipped and why. `reason` explains INVALID, MULTIPLE and TEMPFAIL.
    """

    outcome: TlsrptRecordOutcome
    destinations: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is TlsrptRecordOutcome.OK


class _SyntaxError(ValueError):
    """A violation of the spec 2.2 grammar: the whole record is INVALID."""


class _BadURI(ValueError):
    """One URI or address fails spec 2.4: only it is skipped."""


# --- grammar (spec 2.2) ------------------------------------------------------------------------

def _skip_wsp(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WSP:
        pos += 1
    return pos


def _describe(text: str, pos: int) -> str:
    return "the end" if pos >= len(text) else f"{text[pos]!r} at offset {pos}"


def _rua_uris(text: str, pos: int) -> tuple[list[str], int]:
    """`uri *( *WSP "," *WSP uri )` from `pos`; returns the URIs and the position after the
    last one (trailing WSP is left for the delimiter)."""
    uris: list[str] = []
    while True:
        match = _URI_CHARS.match(text, pos)
        if match is None:
            raise _SyntaxError(f"expected a URI, found {_describe(text, pos)}")
        uris.append(match.group())
        pos = match.end()
        after = _skip_wsp(text, pos)
        if after < len(text) and text[after] == ",":
            pos = _skip_wsp(text, after + 1)
            continue
        return uris, pos


def _field(text: str, pos: int, rua: list[str]) -> int:
    """One field from `pos`; rua URIs are appended to `rua`, extensions are only checked."""
    # "rua" is case-sensitive: `RUA=` is a (syntactically fine, ignored) extension field
    if text.startswith("rua=", pos):
        uris, pos = _rua_uris(text, pos + 4)
        rua.extend(uris)
        return pos
    name = _EXT_NAME.match(text, pos)
    if name is None:
        raise _SyntaxError(f"expected a field name, found {_describe(text, pos)}")
    pos = name.end()
    if pos >= len(text) or text[pos] != "=":
        if pos < len(text) and text[pos] in _WSP:
            hint = " (no spaces around '=')"
        elif pos < len(text) and _NAME_CHAR.match(text[pos]):
            hint = " (a field name has at most 32 characters)"
        else:
            hint = ""
        raise _SyntaxError(f"expected '=' right after field name {name.group()!r}, found "
                           f"{_describe(text, pos)}{hint}")
    value = _EXT_VALUE.match(text, pos + 1)
    if value is None:
        raise _SyntaxError(f"field {name.group()!r} has an empty value")
    return value.end()


def _grammar(text: str) -> list[str]:
    """The rua URIs of a record that matches spec 2.2, in order; raises `_SyntaxError`.

    Returns an empty list when the record has no rua field (the caller's INVALID)."""
    if not _PRINTABLE_TEXT.fullmatch(text):
        bad = next(i for i, ch in enumerate(text) if not _PRINTABLE_TEXT.fullmatch(ch))
        raise _SyntaxError(f"character {text[bad]!r} at offset {bad} is not printable ASCII")
    if not text.startswith(VERSION):
        raise _SyntaxError(f"does not start with {VERSION!r} (case-sensitive)")
    rua: list[str] = []
    pos = len(VERSION)
    while True:
        pos = _skip_wsp(text, pos)
        if pos >= len(text):
            return rua
        if text[pos] != ";":
            raise _SyntaxError(f"expected ';' or the end, found {_describe(text, pos)}")
        pos = _skip_wsp(text, pos + 1)
        if pos >= len(text):
            return rua  # the optional trailing delimiter
        if text[pos] == ";":
            raise _SyntaxError(f"empty field at offset {pos}")
        pos = _field(text, pos, rua)


# --- destination URIs (spec 2.4) ---------------------------------------------------------------

def _percent_decode(text: str) -> str:
    # a stray '%' cannot be decoded; treating it as literal would guess what the publisher meant
    if _BAD_PERCENT.search(text):
        raise _BadURI("malformed percent-encoding")
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise _BadURI("percent-encoding is not UTF-8") from None


def _mail_domain(text: str) -> str:
    """A syntactically valid domain -> lower-case A-label form; raises `_BadURI`."""
    if not text:
        raise _BadURI("empty domain")
    labels = _DOTS.split(text.lower())
    encoded: list[str] = []
    for label in labels:
        if not label:
            # also rejects a trailing dot: `a@example.org.` is not an RFC 5321 address
            raise _BadURI(f"domain {text!r} has an empty label")
        try:
            ascii_label = label.encode("idna").decode("ascii").lower()
            if ascii_label.startswith("xn--"):
                # the codec passes ASCII through unchecked; bad punycode must not slip by
                ascii_label.encode("ascii").decode("idna")
        except UnicodeError:
            raise _BadURI(f"domain {text!r} has an invalid label {label!r}") from None
        if len(ascii_label) > 63 or not _LDH_LABEL.fullmatch(ascii_label):
            raise _BadURI(f"domain {text!r} has an invalid label {label!r}")
        encoded.append(ascii_label)
    domain = ".".join(encoded)
    if len(domain) > 253:
        raise _BadURI(f"domain {text!r} is longer than 253 characters")
    return domain


def _mail_address(address: str) -> str:
    # control characters are refused with white space: a decoded %0D%0A or %00 would end up in
    # the To header of the report email
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in address):
        raise _BadURI("contains white space or a control character")
    local, at, domain = address.rpartition("@")
    if not at:
        raise _BadURI("no '@'")
    if not local:
        raise _BadURI("empty local part")
    if "@" in local and not (len(local) > 1 and local[0] == local[-1] == '"'):
        # only a quoted local part may contain '@' (RFC 5321); `a@b@example.org` is no address
        raise _BadURI("more than one '@'")
    return f"{local}@{_mail_domain(domain)}"


def _mailto(uri: str, body: str) -> tuple[list[str], list[str]]:
    """Destinations and warnings of one `mailto:` URI (`body` is the text after the colon)."""
    # RFC 6068 header fields (`?subject=…`, `?to=…`) are ignored, as spec 2.4 says
    addresses = _percent_decode(body.split("?", 1)[0])
    if not addresses:
        raise _BadURI("no address")
    destinations: list[str] = []
    warnings: list[str] = []
    for address in addresses.split(","):
        try:
            destinations.append("mailto:" + _mail_address(address))
        except _BadURI as err:
            warnings.append(f"skipped address {address!r} of URI {uri!r}: {err}")
    return destinations, warnings


def _https(uri: str, body: str) -> str:
    """The destination of one `https:` URI: verbatim but for the scheme; raises `_BadURI`."""
    if _BAD_PERCENT.search(body):
        raise _BadURI("malformed percent-encoding")
    if not body.startswith("//"):
        raise _BadURI("not an absolute URI with an authority ('https://host/...')")
    rest = body[2:]
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        # user-info would hand credentials to whoever reads the record; RFC 8460 has no use
        raise _BadURI("user-info is not allowed")
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise _BadURI("unterminated IP literal")
        try:
            ipaddress.IPv6Address(authority[1:close])
        except ValueError:
            raise _BadURI(f"invalid IPv6 literal {authority[:close + 1]!r}") from None
        host, port_part = authority[:close + 1], authority[close + 1:]
        if port_part and not port_part.startswith(":"):
            raise _BadURI(f"invalid authority {authority!r}")
        port = port_part[1:]
    else:
        host, _, port = authority.partition(":")
        if not host:
            raise _BadURI("empty host")
        if not _REG_NAME.fullmatch(host):
            raise _BadURI(f"invalid host {host!r}")
    if port and (not port.isascii() or not port.isdigit() or int(port) > 65535):
        raise _BadURI(f"invalid port {port!r}")
    if "#" in tail:
        raise _BadURI("a fragment is not allowed in an absolute URI")
    if not _PATH_QUERY.fullmatch(tail):
        raise _BadURI("characters not allowed in a URI")
    return "https:" + body


def _destinations(uri: str) -> tuple[list[str], list[str]]:
    """spec 2.4 for one URI: its destinations (0, 1 or several) and the warnings."""
    scheme, colon, body = uri.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        return [], [f"skipped URI {uri!r}: no scheme"]
    scheme = scheme.lower()
    if scheme not in ("mailto", "https"):
        return [], [f"skipped URI {uri!r}: unsupported scheme {scheme!r} "
                    "(only mailto and https)"]
    if "!" in uri:
        return [], [f"skipped URI {uri!r}: a raw '!' must be percent-encoded (RFC 8460 §3)"]
    try:
        if scheme == "mailto":
            return _mailto(uri, body)
        return [_https(uri, body)], []
    except _BadURI as err:
        return [], [f"skipped URI {uri!r}: {err}"]


# --- public API --------------------------------------------------------------------------------

def parse_record(text: str, *, max_destinations: int = DEFAULT_MAX_DESTINATIONS
                 ) -> TlsrptRecordResult:
    """Parse one TLSRPT record text (spec 2.2-2.4).

    Returns OK with the destinations, INVALID (grammar violation or no rua field; `reason`
    says which) or NO_USABLE_URI (rua fields present, no URI survived). Warnings name every
    skipped URI or address, every duplicate and the destinations beyond `max_destinations`.
    """
    if max_destinations < 1:
        raise ValueError("max_destinations must be at least 1")
    try:
        uris = _grammar(text)
    except _SyntaxError as err:
        return TlsrptRecordResult(TlsrptRecordOutcome.INVALID, reason=str(err))
    if not uris:
        reason = "no rua field"
        if re.search(r"(?:^|;)[ \t]*(?!rua=)[rR][uU][aA]=", text):
            reason += " (field names are case-sensitive: only 'rua=' is a rua field)"
        return TlsrptRecordResult(TlsrptRecordOutcome.INVALID, reason=reason)
    warnings: list[str] = []
    kept: list[str] = []
    seen: set[str] = set()
    for uri in uris:
        found, skipped = _destinations(uri)
        warnings.extend(skipped)
        for destination in found:
            # first occurrence wins; compared after normalisation, so `MAILTO:a@EXAMPLE.org`
            # repeats `mailto:a@example.org`
            if destination in seen:
                warnings.append(f"duplicate destination {destination!r} ignored")
                continue
            seen.add(destination)
            kept.append(destination)
    if len(kept) > max_destinations:
        dropped = kept[max_destinations:]
        kept = kept[:max_destinations]
        warnings.append(f"{len(dropped)} destination(s) beyond max-destinations "
                        f"({max_destinations}) ignored: {', '.join(dropped)}")
    if not kept:
        return TlsrptRecordResult(TlsrptRecordOutcome.NO_USABLE_URI, warnings=tuple(warnings),
                            reason="no usable rua URI")
    return TlsrptRecordResult(TlsrptRecordOutcome.OK, tuple(kept), tuple(warnings))


def select_record(txt_rrs: Sequence[Sequence[bytes]], *,
                  max_destinations: int = DEFAULT_MAX_DESTINATIONS) -> TlsrptRecordResult:
    """Pick the TLSRPT record out of a TXT RRset (spec 2.1 steps 2-5) and parse it.

    Each item is one RR's character-strings, concatenated with nothing in between.
    """
    candidates: list[str] = []
    notes: list[str] = []
    for strings in txt_rrs:
        data = b"".join(strings)
        if not _PRINTABLE.fullmatch(data):
            # not a candidate; worth a word only when it was meant to be a TLSRPT record
            if data.startswith(VERSION.encode()):
                notes.append(f"ignored a TXT record with bytes outside printable ASCII: "
                             f"{data!r}")
            continue
        text = data.decode("ascii")
        if _CANDIDATE.match(text):
            candidates.append(text)
    if not candidates:
        return TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND, warnings=tuple(notes))
    if len(candidates) > 1:
        # RFC 8460 §3 MUST: several records mean the domain does not implement TLSRPT
        return TlsrptRecordResult(TlsrptRecordOutcome.MULTIPLE, warnings=tuple(notes),
                            reason=f"{len(candidates)} TLSRPTv1 records")
    result = parse_record(candidates[0], max_destinations=max_destinations)
    if notes:
        return TlsrptRecordResult(result.outcome, result.destinations,
                            tuple(notes) + result.warnings, result.reason)
    return result


def _clamp_ttl(ttl: float) -> float:
    return float(min(max(ttl, MIN_TTL), MAX_TTL))


def _lookup_name(domain: str) -> dns.name.Name:
    """`_smtp._tls.<domain>.` for a report domain given as A-label or U-label."""
    text = domain.strip()
    if text.endswith("."):
        text = text[:-1]
    try:
        ascii_domain = _mail_domain(text)
    except _BadURI as err:
        raise ValueError(f"invalid report domain {domain!r}: {err}") from None
    return dns.name.from_text(f"_smtp._tls.{ascii_domain}.")


class RecordResolver:
    """TLSRPT lookups with the cache of spec 2.1 step 7.

    `clock` must be monotonic (seconds); it only decides cache expiry, so tests drive it.
    Thread-safe: the cache is guarded by a lock; a DNS query runs outside it (two threads
    missing the cache together both query, which is harmless).
    """

    def __init__(self, resolver: dns.resolver.Resolver | None = None,
                 clock: Callable[[], float] = time.monotonic, *,
                 max_destinations: int = DEFAULT_MAX_DESTINATIONS,
                 tempfail_ttl: float = MAX_TEMPFAIL_TTL,
                 max_entries: int = 10_000) -> None:
        if max_destinations < 1:
            raise ValueError("max_destinations must be at least 1")
        self._resolver = resolver if resolver is not None else dns.resolver.Resolver()
        self._clock = clock
        self._max_destinations = max_destinations
        # "at most 60 s": a shorter value is allowed, a longer one is clamped
        self._tempfail_ttl = float(min(max(tempfail_ttl, 0.0), MAX_TEMPFAIL_TTL))
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, TlsrptRecordResult]] = {}
        self._lock = threading.Lock()

    def lookup(self, domain: str) -> TlsrptRecordResult:
        """The TLSRPT record of `domain` (spec 2.1), from the cache while it is fresh."""
        qname = _lookup_name(domain)
        key = qname.to_text()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached[0]:
                return cached[1]
        result, ttl = self._query(qname)
        with self._lock:
            now = self._clock()
            self._cache.pop(key, None)  # re-insert so dict order is insertion (= age) order
            self._cache[key] = (now + ttl, result)
            self._prune(now)
        return result

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _prune(self, now: float) -> None:
        """Bound memory: drop expired entries, then the oldest, once over `max_entries`."""
        if len(self._cache) <= self._max_entries:
            return
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]
        while len(self._cache) > self._max_entries:
            del self._cache[next(iter(self._cache))]

    def _query(self, qname: dns.name.Name) -> tuple[TlsrptRecordResult, float]:
        try:
            # raise_on_no_answer=False: a NODATA answer still carries its negative TTL
            answer = self._resolver.resolve(qname, dns.rdatatype.TXT,
                                            raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as err:
            try:
                response = err.response(qname)  # type: ignore[no-untyped-call]
            except KeyError:
                response = None
            return TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND), _clamp_ttl(_negative_ttl(response, qname))
        except (dns.exception.DNSException, OSError) as err:
            # SERVFAIL / REFUSED (NoNameservers), timeouts, YXDOMAIN, network errors: nothing
            # is known about the record, so no event is recorded for this attempt (spec 3.1)
            reason = f"DNS error: {type(err).__name__}: {err}"
            return TlsrptRecordResult(TlsrptRecordOutcome.TEMPFAIL, reason=reason), self._tempfail_ttl
        if answer.rrset is None:
            # NODATA: the name exists but has no TXT records
            return TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND), _clamp_ttl(_negative_ttl(answer.response,
                                                                            qname))
        ttl = _clamp_ttl(answer.chaining_result.minimum_ttl)
        strings = [cast(TXT, rdata).strings for rdata in answer.rrset]
        return select_record(strings, max_destinations=self._max_destinations), ttl


def _negative_ttl(response: dns.message.Message | None, qname: dns.name.Name) -> float:
    """The RFC 2308 negative TTL of an NXDOMAIN/NODATA response: the smallest of the SOA's TTL,
    the SOA minimum and any CNAME TTLs on the way.

    The SOA must be that of a zone enclosing `qname`. Without one nothing says how long the
    answer holds; dnspython would assume 300 s, we take the floor of spec 2.1 step 7 so that a
    newly published record is seen sooner.
    """
    if response is None:
        return float(MIN_TTL)
    ttls = [rrset.ttl for rrset in response.answer if rrset.rdtype == dns.rdatatype.CNAME]
    soa = [rrset for rrset in response.authority
           if rrset.rdtype == dns.rdatatype.SOA and len(rrset) and qname.is_subdomain(rrset.name)]
    if not soa:
        return float(MIN_TTL)
    ttls += [soa[0].ttl, cast(SOA, soa[0][0]).minimum]
    return float(min(ttls))
