"""The derived `config_get` keys: `report.domain` falls back to `lookup.default.domain`, then to
the registrable domain (public suffix list) of the host name, then to the host name itself
(spec/expressions.md section 9)."""

from __future__ import annotations

import pytest

import engine
from engine.expr.config_values import registrable_domain, report_domain


@pytest.mark.parametrize(("hostname", "expected"), [
    ("mx1.mail.example.org", "example.org"),
    ("mx.example.co.uk", "example.co.uk"),        # a two-label public suffix
    # Stalwart's lookup is case-sensitive and keeps the case: only lower-case labels match
    # the list's rules, an unmatched last label is a suffix by the default rule
    ("MX1.Example.org.", "Example.org"),
    ("MX1.Example.ORG", "Example.ORG"),
    ("MX.EXAMPLE.CO.UK", "CO.UK"),
    ("mx.EXAMPLE.co.uk", "EXAMPLE.co.uk"),
    ("example.org", "example.org"),
    ("mx.xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("localhost", "localhost"),                   # no registrable domain: the name itself
    ("co.uk", "co.uk"),
])
def test_registrable_domain_follows_the_public_suffix_list(hostname: str, expected: str) -> None:
    assert registrable_domain(hostname) == expected


def test_report_domain_takes_the_first_that_is_set() -> None:
    host = {"server.hostname": "mx1.mail.example.co.uk"}
    assert report_domain(host) == "example.co.uk"
    assert report_domain({**host, "lookup.default.domain": "Lookup.example"}) == "lookup.example"
    assert report_domain({**host, "lookup.default.domain": "lookup.example",
                          "report.domain": "Report.EXAMPLE"}) == "report.example"


def test_config_get_and_the_default_from_address_use_it() -> None:
    assert engine.evaluate("config_get('report.domain')",
                           config={"server.hostname": "mx1.mail.example.org"}) == "example.org"
    config = engine.load_config('server.hostname = "mx1.mail.example.co.uk"\n')
    assert config.tls_aggregate("example.net").from_address == "noreply-tls@example.co.uk"
