"""engine.domains.normalise_domain: UTS 46 without transitional processing, as dnspython's
default codec does it, plus lower case and one trailing dot dropped; and the test DNS of
engine.expr.services, which looks names up in that form."""

from __future__ import annotations

import dns.exception
import dns.name
import pytest
from hypothesis import given, settings, strategies as st

from engine.domains import DomainError, normalise_domain
from engine.expr.services import InMemoryServices


@pytest.mark.parametrize(("text", "expected"), [
    ("faß.de", "xn--fa-hia.de"),            # IDNA 2003 (Python's codec) would give fass.de
    ("FAß.DE", "xn--fa-hia.de"),
    ("Faß.De.", "xn--fa-hia.de"),
    ("XN--FA-HIA.de", "xn--fa-hia.de"),
    ("xn--fa-hia.de.", "xn--fa-hia.de"),
    ("ＦＡß．ｄｅ", "xn--fa-hia.de"),          # full-width letters and full stop
    ("faß。de", "xn--fa-hia.de"),            # ideographic full stop
    ("Bücher.Example", "xn--bcher-kva.example"),
    ("_smtp._tls.Faß.de.", "_smtp._tls.xn--fa-hia.de"),
    ("Example.COM", "example.com"),
    ("example.com.", "example.com"),
])
def test_normalised_forms(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "'': an empty domain name"),
    (".", "'.': an empty domain name"),
    ("a..de", "'a..de': label 2 is empty"),
    ("de..", "'de..': label 2 is empty"),
    (".de", "'.de': label 1 is empty"),
    ("-é.de", "'-é.de': label 1 ('-é') is not a valid IDNA label: Label must not start or end "
              "with a hyphen"),
    ("a\u200db.de", "label 1 ('a\\u200db') is not a valid IDNA label: Joiner U+200D not allowed"),
    ("a" * 64 + ".de", "label 1 is 64 characters as an A-label; a label has at most 63"),
    (".".join(["a" * 63] * 4), "255 characters as an A-label; a domain name has at most 253"),
    ("a\\.b", "'a\\\\.b': a domain name has no backslash escapes"),
])
def test_invalid_names_say_which_label(text: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalise_domain(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_huge_input_is_refused_before_any_work() -> None:
    with pytest.raises(DomainError, match="at most 253 characters"):
        normalise_domain("ß" * 100_000)


def _dnspython(text: str) -> str:
    name = dns.name.from_unicode(text)  # the default codec: IDNA 2008 practical, UTS 46
    return b".".join(name.labels[:-1]).decode("ascii").lower()


_ALPHABET = "aAzZ09-_.ßéÉüÜ\u3002\uff0e\uff21\u200dİıσς\u00ad"


@settings(max_examples=1500, deadline=None)
@given(st.text(_ALPHABET, min_size=1, max_size=30))
def test_agrees_with_dnspython(text: str) -> None:
    try:
        expected = _dnspython(text)
    except (dns.exception.DNSException, UnicodeError):
        with pytest.raises(DomainError):
            normalise_domain(text)
        return
    if expected == "":  # dnspython reads "." as the root; here that is no domain
        with pytest.raises(DomainError):
            normalise_domain(text)
        return
    assert normalise_domain(text) == expected


def test_the_test_dns_finds_a_name_however_it_is_written() -> None:
    services = InMemoryServices(dns={("Faß.de.", "txt"): "v=TLSRPTv1; rua=mailto:r@faß.de"})
    for name in ("faß.de", "FAß.DE.", "xn--fa-hia.de", "XN--FA-HIA.DE."):
        assert services.lookup(name, "txt") == "v=TLSRPTv1; rua=mailto:r@faß.de"
    with pytest.raises(LookupError):
        services.lookup("fass.de", "txt")  # the IDNA 2003 form is another name
    odd = InMemoryServices(dns={("not a..name", "txt"): "x"})  # no domain name: only folded
    assert odd.lookup("NOT A..NAME", "txt") == "x"
