"""`tlsrpt test`: passing and failing cases of every kind, the literal failure text, exit
statuses, -k and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main

CASES = """\
config = "tlsrpt.toml"

[defaults]
vars = { rcpt_domain = "example.net" }
services = { local-domains = ["example.org"], dns = { "example.net" = { txt = "daily" } } }

[[case]]
name = "local domains get no reports"
vars = { rcpt_domain = "example.org" }
expect."report.tls.aggregate.send" = "never"

[[case]]
name = "the store can switch a domain to hourly"
vars = { rcpt_domain = "busy.net" }
services = { keys = { "hourly:busy.net" = "yes" } }
expect."report.tls.aggregate.send" = "hourly"

[[case]]
name = "a TXT answer picks weekly"
vars = { rcpt_domain = "slow.net" }
services = { dns = { "slow.net" = { txt = "weekly please" } } }
expect."report.tls.aggregate.send" = 4

[[case]]
name = "without a DNS answer the send setting fails"
vars = { rcpt_domain = "nowhere.net" }
fails."report.tls.aggregate.send" = "no TXT record"

[[case]]
name = "tiny domains get 64 KiB"
vars = { rcpt_domain = "tiny.example" }
expect."report.tls.aggregate.max-size" = 65536
no-value = ["report.tls.aggregate.contact-info"]

[[case]]
name = "typed aggregate settings: send falls back to never without a DNS answer"
[case.tls-aggregate]
domain = "small-x.org"
max-size = 1048576
org-name = "Example Organisation"
sign = ["rsa-example.org", "ed25519-example.org"]
send = "never"
fallbacks = ["send"]
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_every_kind_of_expectation_passes(workdir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "ok.tlsrpt-test.toml").write_text(CASES, encoding="utf-8")
    status, out, err = run(capsys, "test", "tlsrpt.toml", "ok.tlsrpt-test.toml")
    assert (status, out, err) == (0, "6 passed, 0 failed\n", "")


def test_a_failure_reads_setting_context_expected_actual_and_rule(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.tlsrpt-test.toml").write_text("""\
[[case]]
name = "tiny domains get 1 MiB"
vars = { rcpt_domain = "tiny.example" }
expect."report.tls.aggregate.max-size" = 1048576
expect."report.tls.aggregate.org-name" = "Example Organisation"

[[case]]
name = "local domains are daily"
vars = { rcpt_domain = "example.org" }
services = { local-domains = ["example.org"] }
expect."report.tls.aggregate.send" = "daily"
""", encoding="utf-8")
    status, out, _ = run(capsys, "test", "tlsrpt.toml", "bad.tlsrpt-test.toml")
    assert status == 1
    assert out == """\
FAILED tiny domains get 1 MiB (bad.tlsrpt-test.toml:1)
  context:  rcpt_domain = "tiny.example"
  setting:  report.tls.aggregate.max-size (bad.tlsrpt-test.toml:4)
  expected: 1048576
  actual:   65536 (size)
  rule:     rule 1 (tlsrpt.toml:15:7)

FAILED local domains are daily (bad.tlsrpt-test.toml:7)
  context:  rcpt_domain = "example.org"
  fixtures: local-domains
  setting:  report.tls.aggregate.send (bad.tlsrpt-test.toml:11)
  expected: "daily"
  actual:   "never" (frequency, raw value 0)
  rule:     rule 1 (tlsrpt.toml:9:7)

0 passed, 2 failed
"""


@pytest.mark.parametrize(("expectation", "expected", "actual"), [
    ('fails."report.tls.aggregate.send" = "no TXT"', 'fails with a reason containing "no TXT"',
     '"daily" (frequency, raw value 3)'),
    ('no-value = ["report.tls.aggregate.org-name"]', "(no value)", '"Example Organisation"'),
    ('lint = ["W404"]', '["W404"]', "[]"),
    ('tls-aggregate = { send = "weekly" }', '"weekly"', '"daily"'),
    ('expect."report.tls.aggregate.send" = "3"', '"3"', '"daily" (frequency, raw value 3)'),
])
def test_each_kind_of_expectation_can_fail(workdir: Path, capsys: pytest.CaptureFixture[str],
                                           expectation: str, expected: str,
                                           actual: str) -> None:
    (workdir / "k.tlsrpt-test.toml").write_text(
        '[[case]]\nvars = { rcpt_domain = "a.net" }\n'
        'services = { dns = { "a.net" = { txt = "x" } } }\n' + expectation + "\n",
        encoding="utf-8")
    status, out, _ = run(capsys, "test", "tlsrpt.toml", "k.tlsrpt-test.toml")
    assert status == 1
    assert f"  expected: {expected}\n  actual:   {actual}\n" in out
    assert out.endswith("0 passed, 1 failed\n")


def test_unknown_setting_suggests_the_nearest(workdir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "u.tlsrpt-test.toml").write_text(
        '[[case]]\nexpect."report.tls.aggregate.sendd" = "daily"\n', encoding="utf-8")
    status, out, _ = run(capsys, "test", "tlsrpt.toml", "u.tlsrpt-test.toml")
    assert status == 1
    assert ("  error:    unknown setting report.tls.aggregate.sendd (did you mean "
            "report.tls.aggregate.send?)") in out


def test_k_selects_cases_and_json_reports_them(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "ok.tlsrpt-test.toml").write_text(CASES, encoding="utf-8")
    status, out, _ = run(capsys, "test", "tlsrpt.toml", "ok.tlsrpt-test.toml", "-k", "TINY",
                         "--json")
    found = json.loads(out)
    assert status == 0
    assert (found["passed"], found["failed"]) == (1, 0)
    [case] = found["cases"]
    assert (case["name"], case["line"]) == ("tiny domains get 64 KiB", 29)
    assert [check["subject"] for check in case["checks"]] == [
        "report.tls.aggregate.max-size", "report.tls.aggregate.contact-info"]
    assert run(capsys, "test", "tlsrpt.toml", "ok.tlsrpt-test.toml", "-k", "zzz")[0] == 2


def test_bad_input_exits_2_with_located_errors(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.tlsrpt-test.toml").write_text(
        '[[case]]\nvars = { rcpt = "a", rcptdomain = "b" }\nlint = []\n', encoding="utf-8")
    status, out, err = run(capsys, "test", "tlsrpt.toml", "bad.tlsrpt-test.toml")
    assert (status, out) == (2, "")
    assert "error[T103]: unknown variable `rcptdomain` (did you mean rcpt_domain?)" in err
    assert "--> bad.tlsrpt-test.toml:2:22" in err
    status, _, err = run(capsys, "test", "tlsrpt.toml", "missing.tlsrpt-test.toml")
    assert status == 2 and "cannot read missing.tlsrpt-test.toml" in err
    status, _, err = run(capsys, "test", "nope.toml", "bad.tlsrpt-test.toml")
    assert status == 2 and "cannot read nope.toml" in err
