"""engine.reporting.tlsrpt_record: the TLSRPT DNS record (spec/reporting.md section 2).

The parser and candidate selection are table-driven; lookups run against a real DNS server
(dnslib, UDP on 127.0.0.1) so that dnspython's exception mapping, multi-string TXT and the
TTLs of real responses are exercised, not mocked.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.resolver
import pytest
from dnslib import QTYPE, RCODE, RR, SOA, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer
from hypothesis import given
from hypothesis import strategies as st

from engine.reporting.tlsrpt_record import (
    TlsrptRecordOutcome,
    RecordResolver,
    TlsrptRecordResult,
    parse_record,
    select_record,
)

OK = TlsrptRecordOutcome.OK
INVALID = TlsrptRecordOutcome.INVALID
NO_USABLE = TlsrptRecordOutcome.NO_USABLE_URI
V = "v=TLSRPTv1; rua="


def skip(uri: str, why: str) -> str:
    return f"skipped URI {uri!r}: {why}"


def skip_address(address: str, uri: str, why: str) -> str:
    return f"skipped address {address!r} of URI {uri!r}: {why}"


def unsupported(uri: str, scheme: str) -> str:
    return skip(uri, f"unsupported scheme {scheme!r} (only mailto and https)")


def dup(destination: str) -> str:
    return f"duplicate destination {destination!r} ignored"


BANG = "a raw '!' must be percent-encoded (RFC 8460 §3)"
WS = "contains white space or a control character"

# (record text, outcome, destinations, warnings)
PARSE_CASES: list[tuple[str, TlsrptRecordOutcome, tuple[str, ...], tuple[str, ...]]] = [
    # --- spec 2.5, verbatim
    ("v=TLSRPTv1; rua=mailto:tls@example.org", OK, ("mailto:tls@example.org",), ()),
    ("v=TLSRPTv1;rua=https://r.example.org/tlsrpt?k=a=b", OK,
     ("https://r.example.org/tlsrpt?k=a=b",), ()),
    ("v=TLSRPTv1; rua=ftp://x.example.org/r, mailto:tls@example.org", OK,
     ("mailto:tls@example.org",), (unsupported("ftp://x.example.org/r", "ftp"),)),
    # --- grammar: delimiters and white space (spec 2.2)
    ("v=TLSRPTv1;rua=mailto:a@example.org", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1 ; rua=mailto:a@example.org", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1\t;\trua=mailto:a@example.org", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org;", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org ; \t", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org \t", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org , \tmailto:b@example.org", OK,
     ("mailto:a@example.org", "mailto:b@example.org"), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org,https://r.example.org/x", OK,
     ("mailto:a@example.org", "https://r.example.org/x"), ()),
    # several rua fields: lists concatenated in order
    ("v=TLSRPTv1; rua=https://r.example.org/; rua=mailto:a@example.org,mailto:b@example.org",
     OK, ("https://r.example.org/", "mailto:a@example.org", "mailto:b@example.org"), ()),
    # extension fields are ignored (RFC 8460 §3 MUST), wherever they are
    ("v=TLSRPTv1; ext.a-b_c=val!u,e; rua=mailto:a@example.org; z9=1", OK,
     ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; " + "x" * 32 + "=1; rua=mailto:a@example.org", OK,
     ("mailto:a@example.org",), ()),
    # `RUA=` is an unknown extension, not a rua field
    ("v=TLSRPTv1; RUA=mailto:x@example.org; rua=mailto:a@example.org", OK,
     ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; Rua=mailto:x@example.org; rua=mailto:a@example.org", OK,
     ("mailto:a@example.org",), ()),
    # --- schemes (spec 2.4)
    ("v=TLSRPTv1; rua=MAILTO:a@example.org", OK, ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=HTTPS://R.Example.org/X?Q=1", OK, ("https://R.Example.org/X?Q=1",), ()),
    ("v=TLSRPTv1; rua=Https://r.example.org", OK, ("https://r.example.org",), ()),
    ("v=TLSRPTv1; rua=http://r.example.org/, mailto:a@example.org", OK,
     ("mailto:a@example.org",), (unsupported("http://r.example.org/", "http"),)),
    ("v=TLSRPTv1; rua=tls@example.org, mailto:a@example.org", OK, ("mailto:a@example.org",),
     (skip("tls@example.org", "no scheme"),)),
    ("v=TLSRPTv1; rua=1mailto:x@example.org, :x, mailto:a@example.org", OK,
     ("mailto:a@example.org",),
     (skip("1mailto:x@example.org", "no scheme"), skip(":x", "no scheme"))),
    # per-URI skipping: the rest of the list is still used (unlike mail-auth)
    ("v=TLSRPTv1; rua=ftp://x/,bad,https://u@h.example/,mailto:ok@example.org,http://y/", OK,
     ("mailto:ok@example.org",),
     (unsupported("ftp://x/", "ftp"), skip("bad", "no scheme"),
      skip("https://u@h.example/", "user-info is not allowed"), unsupported("http://y/", "http"))),
    # --- raw '!'
    ("v=TLSRPTv1; rua=mailto:a!b@example.org, mailto:a%21b@example.org", OK,
     ("mailto:a!b@example.org",), (skip("mailto:a!b@example.org", BANG),)),
    ("v=TLSRPTv1; rua=https://r.example.org/!x, https://r.example.org/%21x", OK,
     ("https://r.example.org/%21x",), (skip("https://r.example.org/!x", BANG),)),
    # --- mailto
    ("v=TLSRPTv1; rua=mailto:a@example.org?subject=TLS%20report&cc=x@example.org", OK,
     ("mailto:a@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:tls%2Breports@example.org", OK,
     ("mailto:tls+reports@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org%2Cb@example.org", OK,
     ("mailto:a@example.org", "mailto:b@example.org"), ()),
    ("v=TLSRPTv1; rua=mailto:a@example.org%2Cpostmaster%2Cb@example.org", OK,
     ("mailto:a@example.org", "mailto:b@example.org"),
     (skip_address("postmaster", "mailto:a@example.org%2Cpostmaster%2Cb@example.org",
                   "no '@'"),)),
    ("v=TLSRPTv1; rua=mailto:TLS@EXAMPLE.Org", OK, ("mailto:TLS@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:tls@B%C3%BCcher.example", OK,
     ("mailto:tls@xn--bcher-kva.example",), ()),
    ("v=TLSRPTv1; rua=mailto:tls@xn--bcher-kva.example", OK,
     ("mailto:tls@xn--bcher-kva.example",), ()),
    ("v=TLSRPTv1; rua=mailto:j%C3%BCrgen@example.org", OK, ("mailto:jürgen@example.org",), ()),
    ("v=TLSRPTv1; rua=mailto:%22a@b%22@example.org", OK, ('mailto:"a@b"@example.org',), ()),
    ("v=TLSRPTv1; rua=mailto:localhost@localhost", OK, ("mailto:localhost@localhost",), ()),
    # invalid addresses
    ("v=TLSRPTv1; rua=mailto:@example.org", NO_USABLE, (),
     (skip_address("@example.org", "mailto:@example.org", "empty local part"),)),
    ("v=TLSRPTv1; rua=mailto:a@", NO_USABLE, (),
     (skip_address("a@", "mailto:a@", "empty domain"),)),
    ("v=TLSRPTv1; rua=mailto:", NO_USABLE, (), (skip("mailto:", "no address"),)),
    ("v=TLSRPTv1; rua=mailto:?to=a@example.org", NO_USABLE, (),
     (skip("mailto:?to=a@example.org", "no address"),)),
    ("v=TLSRPTv1; rua=mailto:a%40b@example.org", NO_USABLE, (),
     (skip_address("a@b@example.org", "mailto:a%40b@example.org", "more than one '@'"),)),
    ("v=TLSRPTv1; rua=mailto:a%20b@example.org", NO_USABLE, (),
     (skip_address("a b@example.org", "mailto:a%20b@example.org", WS),)),
    ("v=TLSRPTv1; rua=mailto:a@example.org%0D%0ABcc:x@example.net", NO_USABLE, (),
     (skip_address("a@example.org\r\nBcc:x@example.net",
                   "mailto:a@example.org%0D%0ABcc:x@example.net", WS),)),
    ("v=TLSRPTv1; rua=mailto:a%00@example.org", NO_USABLE, (),
     (skip_address("a\x00@example.org", "mailto:a%00@example.org", WS),)),
    ("v=TLSRPTv1; rua=mailto:a@exa_mple.org", NO_USABLE, (),
     (skip_address("a@exa_mple.org", "mailto:a@exa_mple.org",
                   "domain 'exa_mple.org' has an invalid label 'exa_mple'"),)),
    ("v=TLSRPTv1; rua=mailto:a@-example.org", NO_USABLE, (),
     (skip_address("a@-example.org", "mailto:a@-example.org",
                   "domain '-example.org' has an invalid label '-example'"),)),
    ("v=TLSRPTv1; rua=mailto:a@example..org", NO_USABLE, (),
     (skip_address("a@example..org", "mailto:a@example..org",
                   "domain 'example..org' has an empty label"),)),
    ("v=TLSRPTv1; rua=mailto:a@example.org.", NO_USABLE, (),
     (skip_address("a@example.org.", "mailto:a@example.org.",
                   "domain 'example.org.' has an empty label"),)),
    ("v=TLSRPTv1; rua=mailto:a@[192.0.2.1]", NO_USABLE, (),
     (skip_address("a@[192.0.2.1]", "mailto:a@[192.0.2.1]",
                   "domain '[192.0.2.1]' has an invalid label '[192'"),)),
    ("v=TLSRPTv1; rua=mailto:a@xn--zz.example", NO_USABLE, (),
     (skip_address("a@xn--zz.example", "mailto:a@xn--zz.example",
                   "domain 'xn--zz.example' has an invalid label 'xn--zz'"),)),
    (f"v=TLSRPTv1; rua=mailto:a@{'l' * 64}.example", NO_USABLE, (),
     (skip_address(f"a@{'l' * 64}.example", f"mailto:a@{'l' * 64}.example",
                   f"domain '{'l' * 64}.example' has an invalid label '{'l' * 64}'"),)),
    ("v=TLSRPTv1; rua=mailto:a%zz@example.org", NO_USABLE, (),
     (skip("mailto:a%zz@example.org", "malformed percent-encoding"),)),
    ("v=TLSRPTv1; rua=mailto:a%FF@example.org", NO_USABLE, (),
     (skip("mailto:a%FF@example.org", "percent-encoding is not UTF-8"),)),
    # --- https
    ("v=TLSRPTv1; rua=https://r.example.org:8443/a%20b?x=1&y=%3D&z", OK,
     ("https://r.example.org:8443/a%20b?x=1&y=%3D&z",), ()),
    ("v=TLSRPTv1; rua=https://[2001:db8::1]:443/r", OK, ("https://[2001:db8::1]:443/r",), ()),
    ("v=TLSRPTv1; rua=https://192.0.2.1/r", OK, ("https://192.0.2.1/r",), ()),
    ("v=TLSRPTv1; rua=https:r.example.org/x", NO_USABLE, (),
     (skip("https:r.example.org/x",
           "not an absolute URI with an authority ('https://host/...')"),)),
    ("v=TLSRPTv1; rua=https:///x", NO_USABLE, (), (skip("https:///x", "empty host"),)),
    ("v=TLSRPTv1; rua=https://:443/x", NO_USABLE, (), (skip("https://:443/x", "empty host"),)),
    ("v=TLSRPTv1; rua=https://user:pw@r.example.org/", NO_USABLE, (),
     (skip("https://user:pw@r.example.org/", "user-info is not allowed"),)),
    ("v=TLSRPTv1; rua=https://r.example.org:99999/", NO_USABLE, (),
     (skip("https://r.example.org:99999/", "invalid port '99999'"),)),
    ("v=TLSRPTv1; rua=https://r.example.org:8a/", NO_USABLE, (),
     (skip("https://r.example.org:8a/", "invalid port '8a'"),)),
    ("v=TLSRPTv1; rua=https://[zz]/", NO_USABLE, (),
     (skip("https://[zz]/", "invalid IPv6 literal '[zz]'"),)),
    ("v=TLSRPTv1; rua=https://r.example.org/x#frag", NO_USABLE, (),
     (skip("https://r.example.org/x#frag", "a fragment is not allowed in an absolute URI"),)),
    ("v=TLSRPTv1; rua=https://r.example.org/a%zz", NO_USABLE, (),
     (skip("https://r.example.org/a%zz", "malformed percent-encoding"),)),
    ("v=TLSRPTv1; rua=https://r.example.org/<x>", NO_USABLE, (),
     (skip("https://r.example.org/<x>", "characters not allowed in a URI"),)),
    ("v=TLSRPTv1; rua=https://r{x}.example.org/", NO_USABLE, (),
     (skip("https://r{x}.example.org/", "invalid host 'r{x}.example.org'"),)),
    # --- duplicates: first occurrence wins, compared after normalisation
    ("v=TLSRPTv1; rua=mailto:a@example.org,MAILTO:a@EXAMPLE.org; rua=mailto:a%40example.org",
     OK, ("mailto:a@example.org",), (dup("mailto:a@example.org"), dup("mailto:a@example.org"))),
    ("v=TLSRPTv1; rua=https://r.example.org/, HTTPS://r.example.org/, https://R.example.org/",
     OK, ("https://r.example.org/", "https://R.example.org/"), (dup("https://r.example.org/"),)),
    # --- nothing usable
    ("v=TLSRPTv1; rua=http://r.example.org/", NO_USABLE, (),
     (unsupported("http://r.example.org/", "http"),)),
]


@pytest.mark.parametrize(("text", "outcome", "destinations", "warnings"), PARSE_CASES)
def test_parse_record(text: str, outcome: TlsrptRecordOutcome, destinations: tuple[str, ...],
                      warnings: tuple[str, ...]) -> None:
    result = parse_record(text)
    assert (result.outcome, result.destinations, result.warnings) == \
        (outcome, destinations, warnings)
    assert result.ok is (outcome is OK)
    assert (result.reason is None) is (outcome is OK)


# (record text, a fragment of the reason): every one of these is INVALID, warnings empty
INVALID_CASES: list[tuple[str, str]] = [
    # spec 2.5
    ("v=TLSRPTv1", "no rua field"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; rua = mailto:b@example.org",
     "expected '=' right after field name 'rua', found ' ' at offset 41 (no spaces around '=')"),
    # no rua
    ("v=TLSRPTv1;", "no rua field"),
    ("v=TLSRPTv1 \t", "no rua field"),
    ("v=TLSRPTv1; foo=bar", "no rua field"),
    ("v=TLSRPTv1; RUA=mailto:a@example.org",
     "no rua field (field names are case-sensitive: only 'rua=' is a rua field)"),
    # empty fields
    ("v=TLSRPTv1;; rua=mailto:a@example.org", "empty field at offset 11"),
    ("v=TLSRPTv1; rua=mailto:a@example.org;;", "empty field"),
    ("v=TLSRPTv1; ; rua=mailto:a@example.org", "empty field"),
    # the rua list
    ("v=TLSRPTv1; rua=", "expected a URI, found the end"),
    ("v=TLSRPTv1; rua= mailto:a@example.org", "expected a URI, found ' '"),
    ("v=TLSRPTv1; rua=mailto:a@example.org,,mailto:b@example.org", "expected a URI, found ','"),
    ("v=TLSRPTv1; rua=mailto:a@example.org,", "expected a URI, found the end"),
    ("v=TLSRPTv1; rua=,mailto:a@example.org", "expected a URI, found ','"),
    ("v=TLSRPTv1; rua=mailto:a@example.org mailto:b@example.org",
     "expected ';' or the end, found 'm'"),
    ("v=TLSRPTv1; rua =mailto:a@example.org", "no spaces around '='"),
    # extension fields
    ("v=TLSRPTv1; rua=mailto:a@example.org; k=a=b", "expected ';' or the end, found '='"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; k=", "field 'k' has an empty value"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; k =v", "no spaces around '='"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; k= v", "field 'k' has an empty value"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; _k=v", "expected a field name, found '_'"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; -k=v", "expected a field name, found '-'"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; =v", "expected a field name, found '='"),
    ("v=TLSRPTv1; rua=mailto:a@example.org; k", "expected '=' right after field name 'k'"),
    ("v=TLSRPTv1; " + "x" * 33 + "=1; rua=mailto:a@example.org",
     "(a field name has at most 32 characters)"),
    # the version (case-sensitive, exact, at the very start)
    ("V=TLSRPTv1; rua=mailto:a@example.org", "does not start with 'v=TLSRPTv1'"),
    ("v=tlsrptv1; rua=mailto:a@example.org", "does not start with 'v=TLSRPTv1'"),
    ("v = TLSRPTv1; rua=mailto:a@example.org", "does not start with 'v=TLSRPTv1'"),
    (" v=TLSRPTv1; rua=mailto:a@example.org", "does not start with 'v=TLSRPTv1'"),
    ("v=spf1 -all", "does not start with 'v=TLSRPTv1'"),
    ("", "does not start with 'v=TLSRPTv1'"),
    ("v=TLSRPTv10; rua=mailto:a@example.org", "expected ';' or the end, found '0' at offset 10"),
    ("v=TLSRPTv1 rua=mailto:a@example.org", "expected ';' or the end, found 'r'"),
    # characters outside printable ASCII (URIs must be percent-encoded)
    ("v=TLSRPTv1; rua=mailto:a@example.org\n", "character '\\n' at offset 36"),
    ("v=TLSRPTv1; rua=mailto:jürgen@example.org", "character 'ü' at offset 24"),
    ("v=TLSRPTv1;\rrua=mailto:a@example.org", "is not printable ASCII"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID_CASES)
def test_parse_record_invalid(text: str, reason: str) -> None:
    result = parse_record(text)
    assert (result.outcome, result.destinations, result.warnings) == (INVALID, (), ())
    assert result.reason is not None and reason in result.reason, result.reason


def test_max_destinations_default_is_ten() -> None:
    uris = [f"mailto:r{i}@example.org" for i in range(12)]
    result = parse_record(V + ",".join(uris))
    assert result.outcome is OK
    assert result.destinations == tuple(uris[:10])
    assert result.warnings == ("2 destination(s) beyond max-destinations (10) ignored: "
                               "mailto:r10@example.org, mailto:r11@example.org",)


def test_duplicates_do_not_use_up_the_cap() -> None:
    result = parse_record(V + "mailto:a@example.org,mailto:a@example.org,https://r.example.org/",
                          max_destinations=2)
    assert result.destinations == ("mailto:a@example.org", "https://r.example.org/")
    assert result.warnings == (dup("mailto:a@example.org"),)


def test_cap_counts_each_address_of_a_mailto_uri() -> None:
    result = parse_record(V + "mailto:a@example.org%2Cb@example.org", max_destinations=1)
    assert result.destinations == ("mailto:a@example.org",)
    assert result.warnings == ("1 destination(s) beyond max-destinations (1) ignored: "
                               "mailto:b@example.org",)


def test_max_destinations_must_be_positive() -> None:
    with pytest.raises(ValueError):
        parse_record(V + "mailto:a@example.org", max_destinations=0)


def test_result_is_frozen() -> None:
    result = parse_record(V + "mailto:a@example.org")
    with pytest.raises(AttributeError):
        result.outcome = TlsrptRecordOutcome.INVALID  # type: ignore[misc]


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=80))
def test_parse_never_raises_and_only_ok_has_destinations(tail: str) -> None:
    result = parse_record("v=TLSRPTv1;" + tail)
    assert result.outcome in (OK, INVALID, NO_USABLE)
    assert bool(result.destinations) is (result.outcome is OK)
    assert len(result.destinations) <= 10
    assert len(set(result.destinations)) == len(result.destinations)
    for destination in result.destinations:
        assert destination.startswith(("mailto:", "https://"))


# --- select_record (spec 2.1 steps 2-5) ------------------------------------------------------

A = b"v=TLSRPTv1; rua=mailto:a@example.org"
B = b"v=TLSRPTv1; rua=mailto:b@example.org"
SPF = b"v=spf1 include:_spf.example.org -all"

SELECT_CASES: list[tuple[list[list[bytes]], TlsrptRecordOutcome, tuple[str, ...]]] = [
    ([[A]], OK, ("mailto:a@example.org",)),
    # one RR split into several character-strings is one record, joined with nothing between
    ([[b"v=TLSRPTv1;", b" rua=mailto:a@example.org"]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLS", b"RPTv1; rua=mailto:a@exa", b"mple.org"]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLSRPTv1; rua=mailto:a@example.org,", b"https://r.example.org/x"]], OK,
     ("mailto:a@example.org", "https://r.example.org/x")),
    # SPF and other noise (wildcards) is not a candidate
    ([[SPF], [A], [b"google-site-verification=abc"]], OK, ("mailto:a@example.org",)),
    ([[SPF]], TlsrptRecordOutcome.NOT_FOUND, ()),
    ([], TlsrptRecordOutcome.NOT_FOUND, ()),
    ([[]], TlsrptRecordOutcome.NOT_FOUND, ()),
    # the prefix rule: exact case, no spaces inside, then WSP* and ';' or the end
    ([[b"v=TLSRPTv10; rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b"V=TLSRPTv1; rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b"v=tlsrptv1; rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLSRPTv2; rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b" v=TLSRPTv1; rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLSRPTv1 rua=mailto:x@example.org"], [A]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLSRPTv1 \t;rua=mailto:a@example.org"]], OK, ("mailto:a@example.org",)),
    ([[b"v=TLSRPTv1;\trua=mailto:a@example.org"]], OK, ("mailto:a@example.org",)),
    # several candidates: MULTIPLE, even if only one would parse, even if the texts are equal
    ([[A], [B]], TlsrptRecordOutcome.MULTIPLE, ()),
    ([[A], [b"v=TLSRPTv1"]], TlsrptRecordOutcome.MULTIPLE, ()),
    ([[A], [b"v=TLSRPTv1;", b" rua=mailto:a@example.org"]], TlsrptRecordOutcome.MULTIPLE, ()),
    ([[SPF], [A], [B]], TlsrptRecordOutcome.MULTIPLE, ()),
    # the single candidate is parsed
    ([[b"v=TLSRPTv1"]], TlsrptRecordOutcome.INVALID, ()),
    ([[b"v=TLSRPTv1;"]], TlsrptRecordOutcome.INVALID, ()),
    ([[b"v=TLSRPTv1; rua=http://r.example.org/"]], TlsrptRecordOutcome.NO_USABLE_URI, ()),
]


@pytest.mark.parametrize(("rrs", "outcome", "destinations"), SELECT_CASES)
def test_select_record(rrs: list[list[bytes]], outcome: TlsrptRecordOutcome,
                       destinations: tuple[str, ...]) -> None:
    result = select_record(rrs)
    assert (result.outcome, result.destinations) == (outcome, destinations)


def test_select_record_multiple_has_a_reason() -> None:
    assert select_record([[A], [B]]) == TlsrptRecordResult(TlsrptRecordOutcome.MULTIPLE,
                                                     reason="2 TLSRPTv1 records")


@pytest.mark.parametrize("bad", [b"\x00", b"\n", b"\r", b"\x7f", b"\xc3\xbc", b"\xff"])
def test_select_record_non_printable_rr_is_not_a_candidate(bad: bytes) -> None:
    noisy = A + bad
    note = f"ignored a TXT record with bytes outside printable ASCII: {noisy!r}"
    # alone: nothing found
    assert select_record([[noisy]]) == TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND, warnings=(note,))
    # next to a good record: no MULTIPLE, the good one is used
    assert select_record([[noisy], [B]]) == TlsrptRecordResult(
        TlsrptRecordOutcome.OK, ("mailto:b@example.org",), (note,))
    # split over strings: still the RR as a whole
    assert select_record([[b"v=TLSRPTv1;", b"rua=mailto:a@example.org" + bad]]).outcome \
        is TlsrptRecordOutcome.NOT_FOUND


def test_select_record_non_printable_noise_is_silent() -> None:
    assert select_record([[b"\x00\x01binary"], [A]]) == TlsrptRecordResult(
        TlsrptRecordOutcome.OK, ("mailto:a@example.org",))


def test_select_record_passes_max_destinations() -> None:
    result = select_record([[V.encode() + b"mailto:a@example.org,mailto:b@example.org"]],
                           max_destinations=1)
    assert result.destinations == ("mailto:a@example.org",)


# --- a real DNS server on 127.0.0.1 ----------------------------------------------------------

SOA_NAME = "example.org."


@dataclass
class Zone(BaseResolver):  # type: ignore[misc]
    """Answers from what the test configured; counts every query it receives."""

    txt: dict[str, list[tuple[list[bytes], int]]] = field(default_factory=dict)
    nodata: set[str] = field(default_factory=set)
    servfail: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    #: (SOA TTL, SOA minimum) put into the authority section of negative answers, or None
    negative_soa: tuple[int, int] | None = (3600, 3600)
    queries: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = str(request.q.qname).lower()
        with self.lock:
            self.queries.append((qname, QTYPE[request.q.qtype]))
        reply = request.reply()
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
        elif qname in self.refused:
            reply.header.rcode = RCODE.REFUSED
        elif qname in self.txt and request.q.qtype == QTYPE.TXT:
            for strings, ttl in self.txt[qname]:
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(strings), ttl=ttl))
        else:
            if qname not in self.nodata and qname not in self.txt:
                reply.header.rcode = RCODE.NXDOMAIN
            if self.negative_soa is not None:
                ttl, minimum = self.negative_soa
                reply.add_auth(RR(SOA_NAME, QTYPE.SOA, ttl=ttl, rdata=SOA(
                    "ns." + SOA_NAME, "hostmaster." + SOA_NAME, (1, 3600, 600, 86400, minimum))))
        return reply

    def count(self, qname: str) -> int:
        with self.lock:
            return sum(1 for name, _ in self.queries if name == qname)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dns_server() -> Iterator[tuple[DNSServer, int]]:
    server = DNSServer(Zone(), address="127.0.0.1", port=0,
                       logger=DNSLogger(log="-recv,-send,-request,-reply,-truncated,-data",
                                        prefix=False))
    server.start_thread()
    try:
        yield server, server.server.server_address[1]
    finally:
        server.stop()
        server.server.server_close()
        server.thread.join(timeout=5)


@pytest.fixture()
def zone(dns_server: tuple[DNSServer, int]) -> Zone:
    # a fresh zone per test on the shared server
    fresh = Zone()
    dns_server[0].server.resolver = fresh
    return fresh


def make_resolver(port: int, lifetime: float = 2.0) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.timeout = lifetime
    resolver.lifetime = lifetime
    return resolver


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def records(dns_server: tuple[DNSServer, int], clock: FakeClock) -> RecordResolver:
    return RecordResolver(make_resolver(dns_server[1]), clock=clock)


QNAME = "_smtp._tls.example.org."


def test_lookup_ok(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([b"v=TLSRPTv1; rua=mailto:tls@example.org"], 300)]
    assert records.lookup("example.org") == TlsrptRecordResult(TlsrptRecordOutcome.OK,
                                                         ("mailto:tls@example.org",))
    assert zone.queries == [(QNAME, "TXT")]


def test_lookup_normalises_the_domain(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([A], 300)]
    zone.txt["_smtp._tls.xn--bcher-kva.example."] = [([B], 300)]
    assert records.lookup("Example.ORG.").destinations == ("mailto:a@example.org",)
    assert records.lookup("bücher.example").destinations == ("mailto:b@example.org",)
    assert zone.queries == [(QNAME, "TXT"), ("_smtp._tls.xn--bcher-kva.example.", "TXT")]
    # same cache entry whatever the spelling
    assert records.lookup("example.org").ok
    assert zone.count(QNAME) == 1


@pytest.mark.parametrize("domain", ["", ".", "a..b", "exa mple.org", "-x.example"])
def test_lookup_rejects_bad_domains(records: RecordResolver, zone: Zone, domain: str) -> None:
    with pytest.raises(ValueError):
        records.lookup(domain)
    assert zone.queries == []


def test_lookup_multi_string_txt(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([b"v=TLSRPTv1;", b" rua=mailto:a@example.org,",
                         b"https://r.example.org/tlsrpt?k=a=b"], 300)]
    assert records.lookup("example.org") == TlsrptRecordResult(
        TlsrptRecordOutcome.OK, ("mailto:a@example.org", "https://r.example.org/tlsrpt?k=a=b"))


def test_lookup_ignores_spf_noise(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([SPF], 300), ([A], 300)]
    assert records.lookup("example.org").destinations == ("mailto:a@example.org",)


def test_lookup_two_records_is_multiple(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([A], 300), ([B], 300)]
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.MULTIPLE


def test_lookup_non_printable_record(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([A + b"\x00"], 300), ([B], 300)]
    result = records.lookup("example.org")
    assert result.destinations == ("mailto:b@example.org",)
    assert len(result.warnings) == 1


def test_lookup_invalid_record(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([b"v=TLSRPTv1; rua = mailto:a@example.org"], 300)]
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.INVALID


def test_lookup_nxdomain(zone: Zone, records: RecordResolver) -> None:
    assert records.lookup("example.org") == TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND)


def test_lookup_nodata(zone: Zone, records: RecordResolver) -> None:
    zone.nodata.add(QNAME)
    assert records.lookup("example.org") == TlsrptRecordResult(TlsrptRecordOutcome.NOT_FOUND)


@pytest.mark.parametrize("failure", ["servfail", "refused"])
def test_lookup_server_failure_is_tempfail(zone: Zone, records: RecordResolver,
                                           failure: str) -> None:
    getattr(zone, failure).add(QNAME)
    result = records.lookup("example.org")
    assert result.outcome is TlsrptRecordOutcome.TEMPFAIL
    assert result.destinations == ()
    assert result.reason is not None and "NoNameservers" in result.reason


def test_lookup_timeout_is_tempfail(clock: FakeClock) -> None:
    # a bound UDP socket that never answers: a real timeout, still only on 127.0.0.1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        records = RecordResolver(make_resolver(silent.getsockname()[1], lifetime=0.3),
                                 clock=clock)
        result = records.lookup("example.org")
    assert result.outcome is TlsrptRecordOutcome.TEMPFAIL
    assert result.reason is not None and "Timeout" in result.reason


def test_cache_holds_for_the_ttl(zone: Zone, records: RecordResolver,
                                 clock: FakeClock) -> None:
    zone.txt[QNAME] = [([A], 300)]
    first = records.lookup("example.org")
    zone.txt[QNAME] = [([B], 300)]  # a change is not seen while the answer is fresh
    clock.now += 299
    assert records.lookup("example.org") == first
    assert zone.count(QNAME) == 1
    clock.now += 1
    assert records.lookup("example.org").destinations == ("mailto:b@example.org",)
    assert zone.count(QNAME) == 2


def test_cache_uses_the_smallest_ttl_of_the_rrset(zone: Zone, records: RecordResolver,
                                                  clock: FakeClock) -> None:
    zone.txt[QNAME] = [([A], 900), ([SPF], 120)]
    records.lookup("example.org")
    clock.now += 119
    records.lookup("example.org")
    assert zone.count(QNAME) == 1
    clock.now += 1
    records.lookup("example.org")
    assert zone.count(QNAME) == 2


@pytest.mark.parametrize(("ttl", "held"), [(0, 60), (5, 60), (60, 60), (200_000, 86400)])
def test_cache_ttl_is_clamped(zone: Zone, records: RecordResolver, clock: FakeClock,
                              ttl: int, held: int) -> None:
    zone.txt[QNAME] = [([A], ttl)]
    records.lookup("example.org")
    clock.now += held - 1
    records.lookup("example.org")
    assert zone.count(QNAME) == 1
    clock.now += 1
    records.lookup("example.org")
    assert zone.count(QNAME) == 2


def test_cache_is_per_domain(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([A], 300)]
    zone.txt["_smtp._tls.example.net."] = [([B], 300)]
    assert records.lookup("example.org").destinations == ("mailto:a@example.org",)
    assert records.lookup("example.net").destinations == ("mailto:b@example.org",)
    assert len(zone.queries) == 2


@pytest.mark.parametrize(("soa", "held"), [((3600, 900), 900), ((300, 3600), 300),
                                           ((10, 10), 60), (None, 60)])
@pytest.mark.parametrize("kind", ["nxdomain", "nodata"])
def test_negative_answers_are_cached_for_the_soa_ttl(
        zone: Zone, records: RecordResolver, clock: FakeClock,
        soa: tuple[int, int] | None, held: int, kind: str) -> None:
    zone.negative_soa = soa
    if kind == "nodata":
        zone.nodata.add(QNAME)
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.NOT_FOUND
    clock.now += held - 1
    records.lookup("example.org")
    assert zone.count(QNAME) == 1
    zone.txt[QNAME] = [([A], 300)]  # published meanwhile: seen once the negative entry expires
    clock.now += 1
    assert records.lookup("example.org").ok
    assert zone.count(QNAME) == 2


def test_invalid_and_multiple_are_cached_like_answers(zone: Zone, records: RecordResolver,
                                                      clock: FakeClock) -> None:
    zone.txt[QNAME] = [([A], 300), ([B], 300)]
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.MULTIPLE
    clock.now += 299
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.MULTIPLE
    assert zone.count(QNAME) == 1


def test_tempfail_is_cached_for_at_most_60_seconds(zone: Zone, records: RecordResolver,
                                                   clock: FakeClock) -> None:
    zone.servfail.add(QNAME)
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.TEMPFAIL
    queries = zone.count(QNAME)
    assert queries >= 1
    clock.now += 59
    assert records.lookup("example.org").outcome is TlsrptRecordOutcome.TEMPFAIL
    assert zone.count(QNAME) == queries  # still cached
    zone.servfail.clear()
    zone.txt[QNAME] = [([A], 300)]
    clock.now += 1
    assert records.lookup("example.org").ok  # 60 s later the server is asked again
    assert zone.count(QNAME) == queries + 1


@pytest.mark.parametrize(("configured", "held"), [(10, 10), (600, 60), (-5, 0)])
def test_tempfail_ttl_is_configurable_but_never_above_60(
        dns_server: tuple[DNSServer, int], zone: Zone, clock: FakeClock,
        configured: float, held: float) -> None:
    records = RecordResolver(make_resolver(dns_server[1]), clock=clock,
                             tempfail_ttl=configured)
    zone.servfail.add(QNAME)
    records.lookup("example.org")
    queries = zone.count(QNAME)
    if held:
        clock.now += held - 0.5
        records.lookup("example.org")
        assert zone.count(QNAME) == queries
        clock.now += 0.5
    records.lookup("example.org")
    assert zone.count(QNAME) > queries


def test_clear_forgets_the_cache(zone: Zone, records: RecordResolver) -> None:
    zone.txt[QNAME] = [([A], 300)]
    records.lookup("example.org")
    records.clear()
    records.lookup("example.org")
    assert zone.count(QNAME) == 2


def test_cache_size_is_bounded(dns_server: tuple[DNSServer, int], zone: Zone,
                               clock: FakeClock) -> None:
    records = RecordResolver(make_resolver(dns_server[1]), clock=clock, max_entries=2)
    for name in ("a.example", "b.example", "c.example"):
        zone.txt[f"_smtp._tls.{name}."] = [([A], 300)]
        records.lookup(name)
    records.lookup("a.example")  # the oldest entry was dropped: asked again
    records.lookup("c.example")  # the newest is still cached
    assert zone.count("_smtp._tls.a.example.") == 2
    assert zone.count("_smtp._tls.c.example.") == 1
