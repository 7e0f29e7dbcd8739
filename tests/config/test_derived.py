"""Macros in the keys the derived host name and report domain come from, and Stalwart's rules
for empty values and case (spec/expressions.md 9 and 12.2); the signature sections a
configuration must not load with (RFC 8301)."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine.lint.check import lint_text

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "examples" / "keys"


def test_an_env_macro_in_server_hostname_reaches_every_derived_value() -> None:
    config = engine.load_config('server.hostname = "%{env:MTA_HOST}%"\n',
                                environ={"MTA_HOST": "mx1.mail.example.org"})
    assert config.submitter("a.example") == "mx1.mail.example.org"
    tls = config.tls_aggregate("a.example")
    assert tls.from_address == "noreply-tls@example.org"
    assert tls.org_name == "example.org"
    assert tls.sign == ("rsa-example.org", "ed25519-example.org")
    assert config.resolve("report.tls.aggregate.from-address") == "noreply-tls@example.org"


def test_file_and_cfg_macros_in_report_domain_and_lookup_defaults(tmp_path: Path) -> None:
    (tmp_path / "domain.txt").write_text("Example.NET")
    config = engine.load_config(
        f'report.domain = "%{{file:{tmp_path}/domain.txt}}%"\n'
        'server.hostname = "%{cfg:lookup.default.hostname}%"\n'
        'lookup.default.hostname = "%{env:H}%"\n', environ={"H": "mx.example.net"})
    # env first: lookup.default.hostname holds mx.example.net when the cfg pass copies it
    assert config.submitter() == "mx.example.net"
    assert config.tls_aggregate("x").from_address == "noreply-tls@example.net"  # lower-cased


def test_lookup_defaults_are_expanded_and_lower_cased() -> None:
    config = engine.load_config('lookup.default.hostname = "%{env:H}%"\n'
                                'lookup.default.domain = "%{env:D}%"\n',
                                environ={"H": "MX.Example.ORG", "D": "Example.ORG"})
    assert config.submitter() == "mx.example.org"
    assert config.tls_aggregate("x").from_address == "noreply-tls@example.org"


def test_other_keys_are_read_as_written_by_config_get() -> None:
    config = engine.load_config('x = "%{env:H}%"\nreport.submitter = "config_get(\'x\')"\n',
                                environ={"H": "mx.example.org"})
    assert config.submitter() == "%{env:H}%"


def test_an_empty_value_is_a_value_not_unset() -> None:
    config = engine.load_config('server.hostname = ""\nlookup.default.hostname = "mx.example"\n')
    assert config.submitter() == ""
    config = engine.load_config('server.hostname = "mx.example.org"\nreport.domain = ""\n')
    assert config.tls_aggregate("x").from_address == "noreply-tls@"
    config = engine.load_config('server.hostname = "%{env:EMPTY}%"\n', environ={"EMPTY": ""})
    assert config.submitter() == ""


def test_the_public_suffix_fallback_keeps_the_case() -> None:
    config = engine.load_config('server.hostname = "MX.EXAMPLE.CO.UK"\n')
    assert config.tls_aggregate("x").from_address == "noreply-tls@CO.UK"
    config = engine.load_config('server.hostname = "mx1.Example.org"\n')
    assert config.tls_aggregate("x").org_name == "Example.org"


def _codes(text: str, environ: dict[str, str] | None = None) -> list[str]:
    return [d.code for d in lint_text(text, environ=environ or {})]


def test_lint_warns_where_the_derived_value_is_surely_not_meant() -> None:
    assert _codes('server.hostname = "%{env:H}%"\n', {"H": ""}) == ["W410"]
    assert _codes('report.domain = ""\nserver.hostname = "mx.example.org"\n') == ["W410"]
    assert _codes('lookup.default.domain = ""\nserver.hostname = "mx.example.org"\n') == [
        "W410"]
    assert _codes('server.hostname = "MX.Example.org"\n') == ["W411"]
    # no public-suffix fallback, no W411
    assert _codes('server.hostname = "MX.Example.org"\nreport.domain = "example.org"\n') == []
    assert _codes("[report]\nsubmitter = \"key_get('default', 'hostname')\"\n") == ["W412"]
    assert _codes("[report.tls.aggregate]\n"
                  "org-name = \"key_get('default', 'domain')\"\n") == ["W412"]
    # an env value is never printed by lint
    found = lint_text('server.hostname = "%{env:H}%"\n', environ={"H": "SECRET.Example.org"})
    assert [d.code for d in found] == ["W411"] and "SECRET" not in str(found[0])


def _signature(extra: str, key: str = "rsa.example.org.pem") -> str:
    return ('[signature."rsa-example.org"]\n'
            f'private-key = "%{{file:{KEYS / key}}}%"\n'
            'domain = "example.org"\nselector = "rsa-2026"\n' + extra)


def test_rsa_sha1_is_refused_at_load_with_the_caret_on_algorithm() -> None:
    with pytest.raises(engine.ConfigError) as caught:
        engine.load_config(_signature('algorithm = "rsa-sha1"\n'))
    [found] = caught.value.diagnostics
    assert found.code == "E505" and "RFC 8301" in found.message
    assert found.span is not None and (found.span.line, found.span.column) == (5, 1)
    assert found.span.length == len("algorithm")


def test_a_small_rsa_key_is_refused_at_load() -> None:
    with pytest.raises(engine.ConfigError) as caught:
        engine.load_config(_signature("", key="rsa-512.example.org.pem"))
    assert [(d.code, d.key) for d in caught.value.diagnostics] == [
        ("E506", "signature.rsa-example.org.private-key")]
    assert isinstance(engine.load_config(_signature('algorithm = "rsa-sha-256"\n')),
                      engine.Config)


def test_ignored_and_unknown_signature_keys_are_warnings() -> None:
    text = _signature('expire = "30d"\nreport = true\nthird-party = "x.example"\n'
                      'selectr = "s"\n')
    assert sorted(_codes(text)) == ["W507", "W507", "W507", "W508"]
    assert isinstance(engine.load_config(text), engine.Config)  # warnings do not stop loading
