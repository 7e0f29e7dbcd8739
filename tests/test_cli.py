"""The `tlsrpt` command: output, JSON, exit statuses, diagnostics for bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.config.settings import SETTINGS

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "tlsrpt.toml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_eval_prints_one_value(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "eval", EXAMPLE, "report.tls.aggregate.max-size",
                         "--var", "rcpt_domain=tiny.example")
    assert (status, out) == (0, "65536 bytes\n")
    status, out, _ = run(capsys, "eval", EXAMPLE, "report.tls.aggregate.max-size",
                         "--var", "rcpt_domain=tiny.example", "--raw")
    assert (status, out) == (0, "65536\n")


def test_eval_prints_the_typed_value_and_raw_on_request(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[report.tls.aggregate]\nsend = "2"\ndelay = "10800"\n'
                      'from-name = "5"\n')
    assert run(capsys, "eval", str(config), "report.tls.aggregate.send")[:2] == (0, "hourly\n")
    assert run(capsys, "eval", str(config), "report.tls.aggregate.send", "--raw")[:2] == \
        (0, "2\n")
    status, out, _ = run(capsys, "eval", str(config), "report.tls.aggregate.delay")
    assert (status, out) == (0, "3h (10800 s)\n")
    status, out, err = run(capsys, "eval", str(config), "report.tls.aggregate.from-name")
    assert (status, out) == (0, "Mail Delivery Subsystem\n")
    assert "expected a text, got integer 5" in err
    found = json.loads(run(capsys, "eval", str(config), "report.tls.aggregate.send",
                           "--json")[1])
    assert (found["value"], found["raw"]) == ("hourly", 2)


def test_eval_numbers_rules_as_explain_and_test_do(capsys: pytest.CaptureFixture[str]) -> None:
    for domain, number in (("bigmail.example", 1), ("x.test", 2), ("other.example", 0)):
        status, out, _ = run(capsys, "eval", EXAMPLE, "report.tls.aggregate.send",
                             "--var", f"rcpt_domain={domain}", "--json")
        assert json.loads(out)["rule"] == number
        status, out, _ = run(capsys, "explain", EXAMPLE, "report.tls.aggregate.send",
                             "--var", f"rcpt_domain={domain}", "--json")
        assert json.loads(out)["chosen_rule"] == number


def test_unknown_keys_and_variables_exit_2_with_a_suggestion(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in ("eval", "explain"):
        status, out, err = run(capsys, command, EXAMPLE, "report.tls.aggregate.from-adress")
        assert (status, out) == (2, "")
        assert "unknown setting report.tls.aggregate.from-adress (did you mean " \
            "report.tls.aggregate.from-address?)" in err
        status, out, err = run(capsys, command, EXAMPLE, "report.tls.aggregate.send",
                               "--var", "rcpt_domian=x.test")
        assert (status, out) == (2, "")
        assert err == "tlsrpt: --var rcpt_domian: unknown variable (did you mean " \
            "rcpt_domain?)\n"
    # a key the file sets is resolved even though the registry does not know it
    config = tmp_path / "c.toml"
    config.write_text('route = "rcpt_domain"\n')
    assert run(capsys, "eval", str(config), "route", "--var", "rcpt_domain=a.org")[:2] == \
        (0, "a.org\n")


def test_eval_json_says_which_rule(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "eval", EXAMPLE, "report.tls.aggregate.send",
                         "--var", "rcpt_domain=x.test", "--json")
    assert status == 0
    found = json.loads(out)
    assert (found["value"], found["raw"], found["rule"]) == ("never", 0, 2)
    assert found["origin"].endswith("tlsrpt.toml:24:7")


def test_typed_variables(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('x = "retry_num * 2 + count(recipients)"\n')
    status, out, _ = run(capsys, "eval", str(config), "x", "--var", "retry_num:=3",
                         "--var", 'recipients:=["a", "b"]')
    assert (status, out) == (0, "8\n")


def test_resolve_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "resolve", EXAMPLE, "--domain", "bigmail.example")
    assert status == 0
    assert out.splitlines() == [
        "report.submitter                         mx1.example.org",
        "report.tls.aggregate.from-name           TLS Aggregate Report",
        "report.tls.aggregate.from-address        noreply-tls@example.org",
        "report.tls.aggregate.org-name            Example Organisation",
        "report.tls.aggregate.contact-info        tlsrpt@mx1.example.org",
        "report.tls.aggregate.send                hourly",
        "report.tls.aggregate.max-size            26214400 bytes",
        'report.tls.aggregate.sign                ["rsa-example.org", "ed25519-example.org"]',
        "report.tls.aggregate.delay               3h (10800 s)",
        "report.tls.aggregate.send-all-success    true",
        "report.tls.aggregate.retry-max-age       1d (86400 s)",
        "report.tls.aggregate.max-destinations    10",
        "report.tls.aggregate.suppress            []",
        "report.tls.aggregate.bcc                 []",
        "report.tls.aggregate.unique-id           (no value)",
        "report.tls.aggregate.compression-level   6",
        "report.tls.aggregate.https-timeout       2m (120 s)",
        "report.tls.aggregate.https-verify        true",
        "report.tls.aggregate.sent-log-retention  7d (604800 s)",
    ]
    # every registered report.tls.aggregate.* setting, and the submitter
    registered = [spec.key for spec in SETTINGS if spec.key.startswith("report.tls.aggregate.")]
    assert [line.split()[0] for line in out.splitlines()] == ["report.submitter", *registered]
    status, out, _ = run(capsys, "resolve", EXAMPLE, "--domain", "bigmail.example", "--json")
    found = json.loads(out)
    assert list(found["settings"]) == ["report.submitter", *registered]
    assert found["settings"]["report.tls.aggregate.send"] == "hourly"
    assert found["settings"]["report.tls.aggregate.delay"] == 10800
    assert found["units"]["report.tls.aggregate.delay"] == "seconds"
    assert found["units"]["report.tls.aggregate.max-size"] == "bytes"
    assert found["settings"]["report.tls.aggregate.https-verify"] is True


def test_resolve_json_reports_fallbacks(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[report.tls.aggregate]\nfrom-name = "5"\n')
    status, out, _ = run(capsys, "resolve", str(config), "--domain", "a.org", "--json")
    found = json.loads(out)
    assert status == 0
    assert found["settings"]["report.tls.aggregate.from-name"] == "Mail Delivery Subsystem"
    assert found["fallbacks"] == [{"key": "report.tls.aggregate.from-name",
                                   "reason": "expected a text, got integer 5",
                                   "used": "Mail Delivery Subsystem"}]


def test_errors_in_the_file_print_a_code_frame_and_exit_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[report.tls.aggregate]\nsend = \"monthly\"\n")
    status, out, err = run(capsys, "resolve", str(config), "--domain", "a.org")
    assert status == 1 and out == ""
    assert err.splitlines()[:5] == [
        "error[E201]: report.tls.aggregate.send: unknown name `monthly`",
        f" --> {config}:2:9",
        "  |",
        '2 | send = "monthly"',
        "  |         ^^^^^^^",
    ]


def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "resolve", str(tmp_path / "missing.toml"), "--domain", "a")
    assert status == 2 and "no such file" in err
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00key = 1\n")
    status, _, _ = run(capsys, "eval", str(binary), "key")
    assert status == 2


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "eval", EXAMPLE)[0] == 2
    assert run(capsys, "eval", EXAMPLE, "x", "--var", "novalue")[0] == 2
    assert run(capsys)[0] == 2


def test_module_entry_point_lists_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True,
                            text=True, check=True)
    assert "eval" in result.stdout and "resolve" in result.stdout
