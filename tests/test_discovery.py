"""Where commands find their configuration: CONFIG or --config, else $TLSRPT_CONFIG, else the
default path; the positional rule (docs/configuration.md) and the message when nothing is found.
tests/conftest.py unsets $TLSRPT_CONFIG and moves the default path to a missing file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.cli import build_parser, discovery, main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KEY = "report.tls.aggregate.max-size"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text("[report.tls.aggregate]\nmax-size = 12345\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_positional_config_works_as_before(config: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "eval", str(config), KEY) == (0, "12345 bytes\n", "")
    # options between CONFIG and KEY, now that CONFIG may be left out
    assert run(capsys, "eval", str(config), "--var", "rcpt_domain=example.org", KEY) == (0, "12345 bytes\n", "")


def test_config_option_environment_and_default_in_that_order(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[report.tls.aggregate]\nmax-size = 777\n", encoding="utf-8")
    default = tmp_path / "default.toml"
    default.write_text("[report.tls.aggregate]\nmax-size = 5\n", encoding="utf-8")
    monkeypatch.setattr(discovery, "DEFAULT_CONFIG", str(default))
    assert run(capsys, "eval", KEY) == (0, "5 bytes\n", "")
    monkeypatch.setenv("TLSRPT_CONFIG", str(other))
    assert run(capsys, "eval", KEY) == (0, "777 bytes\n", "")
    assert run(capsys, "eval", "--config", str(config), KEY) == (0, "12345 bytes\n", "")
    assert run(capsys, "eval", str(config), KEY) == (0, "12345 bytes\n", "")


def test_nothing_found_says_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "status")
    assert (status, out) == (2, "")
    assert err == ("tlsrpt: no configuration file: none named (CONFIG or --config), "
                   f"$TLSRPT_CONFIG is not set, and {discovery.DEFAULT_CONFIG} does not exist\n")


def test_a_missing_file_named_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TLSRPT_CONFIG", str(tmp_path / "gone.toml"))
    for argv in (["eval", KEY], ["lint"], ["analyze", str(tmp_path)]):
        status, _, err = run(capsys, *argv)
        assert status == 2, argv
        assert err == f"tlsrpt: cannot read {tmp_path / 'gone.toml'} (named by $TLSRPT_CONFIG): " \
                      "no such file\n"


def test_with_config_option_every_positional_is_the_commands_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples_config = str(EXAMPLES / "tlsrpt.toml")
    cases = str(EXAMPLES / "domains.tlsrpt-test.toml")
    status, out, _ = run(capsys, "test", "--config", examples_config, cases, cases, "--json")
    assert status == 0
    single = run(capsys, "test", examples_config, cases, "--json")
    assert single[0] == 0
    assert json.loads(out)["passed"] == 2 * json.loads(single[1])["passed"] > 0  # both files ran
    # record --config CONFIG FILE: FILE is the events file, not a second configuration
    database = tmp_path / "events.db"
    assert run(capsys, "record", "--config", examples_config, str(EXAMPLES / "events.jsonl"),
               "--db", str(database))[0] == 0
    assert database.stat().st_size > 0


def test_one_test_file_uses_the_found_configuration(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TLSRPT_CONFIG", str(EXAMPLES / "tlsrpt.toml"))
    status, out, _ = run(capsys, "test", str(EXAMPLES / "domains.tlsrpt-test.toml"))
    assert status == 0
    assert "passed" in out


def test_a_configuration_named_twice_is_a_usage_error(config: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "eval", "--config", str(config), str(config), KEY)
    assert status == 2
    assert err == f"tlsrpt: eval: unexpected argument {KEY} (the configuration is already " \
                  f"given by --config {config})\n"


def test_lint_uses_the_found_file_and_explain_needs_none(
        config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "lint", "--explain", "E002")[0] == 0
    monkeypatch.setenv("TLSRPT_CONFIG", str(config))
    status, _, err = run(capsys, "lint")
    assert status == 0
    assert err == "1 file checked: no problems found\n"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_that_reads_a_configuration_takes_config_option() -> None:
    for name, parser in _subcommands().items():
        positionals = [a.dest for a in parser._actions if not a.option_strings]
        if "config" in positionals or name == "analyze":
            assert "--config" in parser._option_string_actions, name
            assert "TLSRPT_CONFIG" in parser.format_help(), name
