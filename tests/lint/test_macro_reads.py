"""Lint folds `config_get('report.domain')` and `config_get('server.hostname')` with their
macros expanded, as the loaded configuration reads them: a correct file that takes its names
from the environment gets no false finding, and a wrong one is reported with the real value."""

from __future__ import annotations

from pathlib import Path

from engine.lint.check import lint_text

KEYS = Path(__file__).resolve().parents[2] / "examples" / "keys"
FROM_ENVIRONMENT = """\
[server]
hostname = "%{env:MTA_HOST}%"

[report]
domain = "%{env:MTA_DOM}%"

[report.tls.aggregate]
from-address = "'noreply-tls@' + config_get('report.domain')"
contact-info = "'tlsrpt@' + config_get('server.hostname')"
"""
SIGNED = f"""\
[report]
domain = "%{{env:MTA_DOM}}%"

[report.tls.aggregate]
sign = "['rsa-' + config_get('report.domain')]"

[signature."rsa-example.org"]
private-key = "%{{file:{KEYS}/rsa.example.org.pem}}%"
domain = "example.org"
selector = "s"
"""
CONDITION = """\
[report]
domain = "%{env:MTA_DOM}%"

[report.tls.aggregate]
send = [
    { if = "config_get('report.domain') == 'example.org'", then = "hourly" },
    { else = "daily" },
]
"""
ENVIRONMENT = {"MTA_HOST": "mx1.example.org", "MTA_DOM": "example.org"}


def _codes(text: str, environ: dict[str, str]) -> list[str]:
    # W015 depends on the key file's mode in the checkout, not on what is tested here.
    return [d.code for d in lint_text(text, environ=environ) if d.code != "W015"]


def test_a_from_address_built_from_an_expanded_domain_is_an_address() -> None:
    assert _codes(FROM_ENVIRONMENT, ENVIRONMENT) == []


def test_an_empty_expanded_domain_is_reported_with_its_real_value() -> None:
    found = [d for d in lint_text(FROM_ENVIRONMENT, environ={**ENVIRONMENT, "MTA_DOM": ""})
             if d.code == "W402"]
    assert [d.message for d in found] == ["`noreply-tls@` is not an email address"]


def test_sign_names_built_from_an_expanded_domain_find_their_section() -> None:
    assert _codes(SIGNED, {"MTA_DOM": "example.org"}) == []
    (missing,) = [d for d in lint_text(SIGNED, environ={"MTA_DOM": "example.net"})
                  if d.code == "E501"]
    assert "rsa-example.net" in missing.message


def test_a_condition_on_an_expanded_domain_folds_to_its_real_truth() -> None:
    (found,) = [d for d in lint_text(CONDITION, environ={"MTA_DOM": "example.org"})
                if d.code == "W303"]
    assert found.message == "this condition is always true"
