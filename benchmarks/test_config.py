"""Configuration engine speed: per-domain resolution against a hand-written equivalent, and
loading a large configuration. Ratios, not absolute times, are what to read (see README)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import Frequency

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tlsrpt.toml"
DOMAINS = [f"host{i}.example{i % 7}.{('org', 'test', 'net')[i % 3]}" for i in range(9_990)] + [
    "bigmail.example", "partner.example", "tiny.example", "small-shop.example", "x.invalid",
    "a.test", "example.net", "example.org", "mx.example.com", "shop.example"]
_SMALL = re.compile(r"^(small|tiny)[.-]")


def hand_written(rcpt_domain: str) -> tuple[Any, ...]:
    """examples/tlsrpt.toml's TLS settings, written by hand in plain Python."""
    from_name = ("Example.org TLS reports for our partner" if rcpt_domain == "partner.example"
                 else "TLS Aggregate Report")
    if rcpt_domain in ("bigmail.example", "partner.example"):
        send = Frequency.HOURLY
    elif rcpt_domain.endswith((".test", ".invalid")):
        send = Frequency.NEVER
    else:
        send = Frequency.DAILY
    match = _SMALL.search(rcpt_domain)
    max_size = (65536 if match.group(1) == "tiny" else 1048576) if match else 26214400
    return (from_name, "noreply-tls@example.org", "Example Organisation", "tlsrpt@example.org",
            send, max_size, ("rsa-example.org", "ed25519-example.org"), "mx1.example.org")


def ours(config: engine.Config, rcpt_domain: str) -> tuple[Any, ...]:
    """What a reporter asks for each domain: the typed TLS settings and the submitter."""
    return config.tls_aggregate(rcpt_domain), config.submitter(rcpt_domain)


def test_the_two_agree() -> None:
    config = engine.load_config(EXAMPLE)
    for domain in DOMAINS:
        settings, submitter = ours(config, domain)
        assert (*settings[:7], submitter) == hand_written(domain), domain
        assert settings.fallbacks == ()


@pytest.mark.benchmark(group="resolve 10,000 domains")
def test_resolve_ours(benchmark: Any) -> None:
    config = engine.load_config(EXAMPLE)
    benchmark(lambda: [ours(config, domain) for domain in DOMAINS])


@pytest.mark.benchmark(group="resolve 10,000 domains")
def test_resolve_hand_written(benchmark: Any) -> None:
    benchmark(lambda: [hand_written(domain) for domain in DOMAINS])


def large_config(rules: int = 1_000) -> str:
    """5 settings x 1,000 rules = 5,000 if/then pairs (10,000 expressions)."""
    parts = ['server.hostname = "mx.example.org"', 'report.domain = "example.org"',
             "[report.tls.aggregate]"]
    for key, then in (("from-name", "'Reports ' + rcpt_domain"), ("send", "hourly"),
                      ("max-size", "1048576 * {i}"), ("org-name", "'Org {i}'"),
                      ("contact-info", "'tls{i}@' + config_get('report.domain')")):
        rows = [f'  {{ if = "rcpt_domain == \'d{i}.example\' || ends_with(rcpt_domain, '
                f'\'.d{i}.example\')", then = "{then.format(i=i)}" }},' for i in range(rules)]
        parts.append(f"{key} = [\n" + "\n".join(rows) + '\n  { else = "' +
                     ("daily" if key == "send" else "'x'" if key != "max-size" else "1") +
                     '" },\n]')
    return "\n".join(parts) + "\n"


@pytest.mark.benchmark(group="load 5,000 rules", min_rounds=3)
def test_load_large_configuration(benchmark: Any) -> None:
    text = large_config()
    from engine.expr import syntax
    def load() -> engine.Config:
        syntax.parse_tree.cache_clear()  # measure parsing too, not the parse cache
        return engine.load_config(text)
    config = benchmark.pedantic(load, rounds=3, iterations=1)
    assert config.tls_aggregate("d999.example").max_size == 1048576 * 999
