"""`tlsrpt explain` and the trace behind it: rules in order, variables read, captures,
the final value and its type; errors and out-of-scope variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from engine.cli import main
from engine.config.trace import ConditionOutcome, trace
from engine.expr.services import InMemoryServices
from tests.testing.conftest import CONFIG


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_explain_text_shows_each_rule_captures_and_value(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.max-size",
                         "--var", "rcpt_domain=tiny.example", "--var", "sender=a@b")
    assert status == 0
    assert out == """\
report.tls.aggregate.max-size for rcpt_domain = "tiny.example", sender = "a@b"
  rule 1 (tlsrpt.toml:15:7)
    if   matches('^(small|tiny)[.-]', rcpt_domain)
    then if_then($1 == 'tiny', 65536, 1048576)
    -> held with rcpt_domain = "tiny.example"
  else (tlsrpt.toml:16:7)
    26214400
    -> not used
  captures: $0 = "tiny.", $1 = "tiny"
value: 65536 (integer)
typed: 65536 (size)
from:  rule 1 (tlsrpt.toml:15:7)
note: this setting cannot read sender; the value given is ignored
"""


def test_explain_json_for_tools(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.max-size",
                         "--var", "rcpt_domain=other.example", "--json")
    found = json.loads(out)
    assert status == 0
    assert [rule["outcome"] for rule in found["rules"]] == ["not_held"]
    assert found["rules"][0]["variables"] == {
        "rcpt_domain": {"value": "other.example", "given": True}}
    assert (found["chosen_rule"], found["origin"], found["value"], found["type"]) == (
        0, "tlsrpt.toml:16:7", 26214400, "integer")
    assert found["typed"] == {"type": "size", "value": 26214400, "problem": None}
    assert found["captures"] == []


def test_explain_a_failing_condition(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without services the directory function fails: rule 1 failed, the rest never ran."""
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                         "--var", "rcpt_domain=a.org")
    assert status == 1
    assert "    -> failed with rcpt_domain = \"a.org\"\n" in out
    assert out.count("-> not evaluated") == 2
    assert "error: function 'is_local_domain' needs a directory provider" in out


def test_explain_rejects_unknown_variables(workdir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                         "--var", "rcpt_domian=a.org")
    assert status == 2
    assert err == "tlsrpt: --var rcpt_domian: unknown variable (did you mean rcpt_domain?)\n"


def test_trace_follows_the_block_with_fixtures() -> None:
    config = engine.load_config(CONFIG)
    services = InMemoryServices(keys={"hourly:b.org": "yes"}).services()
    found = trace(config, "report.tls.aggregate.send", {"rcpt_domain": "b.org"}, services)
    assert [rule.outcome for rule in found.rules] == [
        ConditionOutcome.NOT_HELD, ConditionOutcome.HELD, ConditionOutcome.NOT_EVALUATED]
    assert (found.chosen, found.value, found.produced_by) == (2, 2, "rule 2 (<config>:10:7)")
    # A domain no rule matches gets the else.
    services = InMemoryServices(dns={("c.org", "txt"): "x"}).services()
    found = trace(config, "report.tls.aggregate.send", {"rcpt_domain": "c.org"}, services)
    assert (found.chosen, found.value, found.error) == (0, 3, None)
    assert found.produced_by == "else (<config>:12:7)"


def test_trace_of_unset_and_default_settings() -> None:
    config = engine.load_config(CONFIG)
    unset = trace(config, "report.tls.aggregate.unique-id")
    assert (unset.value, unset.chosen, unset.produced_by) == (
        None, None, "not set in the configuration")
    default = trace(config, "report.submitter")
    assert (default.value, default.produced_by) == (
        "mx1.example.org", "the built-in default (not set in the configuration)")


CASES = """\
config = "tlsrpt.toml"

[[case]]
name = "local domains get no report"
vars = { rcpt_domain = "example.org" }
services = { local-domains = ["example.org"], dns = { "other.org" = { txt = "v=spf1 -all" } } }
expect."report.tls.aggregate.send" = "never"

[[case]]
name = "busy domains are hourly"
vars = { rcpt_domain = "busy.net" }
services = { keys = { "hourly:busy.net" = "yes" } }
expect."report.tls.aggregate.send" = "hourly"
"""


def test_explain_from_a_case_uses_its_fixtures_and_variables(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "t.tlsrpt-test.toml").write_text(CASES, encoding="utf-8")
    # without fixtures the first rule's service function fails
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                         "--var", "rcpt_domain=busy.net")
    assert status == 1 and "failed" in out
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                         "--case", "t.tlsrpt-test.toml:BUSY", "--json")
    assert status == 0
    found = json.loads(out)
    assert found["variables"] == {"rcpt_domain": "busy.net"}
    assert [rule["outcome"] for rule in found["rules"]] == ["not_held", "held", "not_evaluated"]
    assert found["value"] == 2 and found["typed"]["value"] == "hourly"
    # --var overrides the case's context; the case's fixtures stay
    status, out, _ = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                         "--case", "t.tlsrpt-test.toml:local", "--var", "rcpt_domain=other.org",
                         "--json")
    assert status == 0
    assert json.loads(out)["value"] == 3  # daily: other.org is not local, busy or weekly


def test_explain_case_selection_errors_name_the_cases(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "t.tlsrpt-test.toml").write_text(CASES, encoding="utf-8")
    for selector, message in (
            ("t.tlsrpt-test.toml", "2 cases of t.tlsrpt-test.toml match; name one with "
                                   "t.tlsrpt-test.toml:NAME"),
            ("t.tlsrpt-test.toml:weekly", "no case of t.tlsrpt-test.toml has 'weekly' in its "
                                          "name"),
            ("missing.toml:x", "cannot read missing.toml: no such file")):
        status, _, err = run(capsys, "explain", "tlsrpt.toml", "report.tls.aggregate.send",
                             "--case", selector)
        assert status == 2
        assert message in err and "Traceback" not in err
