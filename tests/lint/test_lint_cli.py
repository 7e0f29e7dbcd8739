"""`tlsrpt lint` through `engine.cli.main`: exit statuses, code selection, --explain, the text
output (literally), colour, and the machine formats.

Files are written to `tmp_path` and given by a relative path (the test changes into that
folder), so that file names in the output are stable.
"""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.diagnostics.catalogue import RULES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tlsrpt.toml"
SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "diagnostics" / "data" / "sarif-schema-2.1.0.json"

CLEAN = '[report.tls.aggregate]\nsend = "daily"\n'
WARNINGS_ONLY = '[report.tls.aggregate]\nmax-sise = 1048576\nfrom-address = "\'noreply\'"\n'
ERRORS = '[report.tls.aggregate]\nsend = "monthly"\n'
#: one error and one warning, both with a suggestion; the text output is checked literally
BAD = '[report.tls.aggregate]\nfrom-name = "TLS Report"\nmax-sise = 1048576\n'
#: E105, E201 (errors) and W404, W402, W405 (warnings)
MIXED = """\
[report.tls.aggregate]
max-sise = 1048576
from-name = "TLS Report"
send = [
    { if = "rcpt_domian == 'bigmail.example'", then = "hourly" },
    { else = "daily" },
]
org-name = "config_get('report.organisation')"
from-address = "'noreply-tls'"
"""
MIXED_CODES = ["W404", "E105", "E201", "W405", "W402"]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder, made the working directory, with one file per case above."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, text in [("clean.toml", CLEAN), ("warnings.toml", WARNINGS_ONLY),
                       ("errors.toml", ERRORS), ("bad.toml", BAD), ("mixed.toml", MIXED)]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "latin1.toml").write_bytes(
        "[report.tls.aggregate]\norg-name = \"'Société'\"\n".encode("latin-1"))
    return tmp_path


def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["lint", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def codes(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status, out, _ = lint(capsys, "--format", "json", *args)
    return status, [item["code"] for item in json.loads(out)]


# --- exit statuses ------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "status"), [
    (["clean.toml"], 0),
    (["clean.toml", "--strict"], 0),
    (["warnings.toml"], 0),
    (["warnings.toml", "--strict"], 1),
    (["warnings.toml", "--strict", "--exit-zero"], 0),
    (["errors.toml"], 1),
    (["errors.toml", "--exit-zero"], 0),
    (["errors.toml", "--strict", "--exit-zero"], 0),
    (["clean.toml", "warnings.toml"], 0),
    (["clean.toml", "errors.toml"], 1),
    (["missing.toml"], 2),
    (["missing.toml", "--exit-zero"], 2),
    (["latin1.toml"], 2),
    (["latin1.toml", "--exit-zero"], 2),
    (["latin1.toml", "--ignore", "E002"], 2),
    (["errors.toml", "missing.toml"], 2),
])
def test_exit_status(files: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                     status: int) -> None:
    assert lint(capsys, *args)[0] == status


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_exit_status_does_not_depend_on_the_format(files: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   fmt: str) -> None:
    assert lint(capsys, "--format", fmt, "clean.toml")[0] == 0
    assert lint(capsys, "--format", fmt, "warnings.toml")[0] == 0
    assert lint(capsys, "--format", fmt, "--strict", "warnings.toml")[0] == 1
    assert lint(capsys, "--format", fmt, "errors.toml")[0] == 1
    assert lint(capsys, "--format", fmt, "latin1.toml")[0] == 2


def test_example_configuration_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(capsys, "--strict", str(EXAMPLE)) == (0, "", "1 file checked: no problems found\n")


def test_missing_file_is_reported_on_stderr(files: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "missing.toml")
    assert status == 2
    assert out == ""
    assert err.startswith("tlsrpt: cannot read missing.toml: no such file\n")


def test_a_missing_file_does_not_hide_the_findings_of_the_others(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "missing.toml", "errors.toml")
    assert status == 2
    assert "tlsrpt: cannot read missing.toml: no such file" in err
    assert "error[E201]" in out and "--> errors.toml:2:9" in out


def test_unreadable_bytes_are_reported_as_e002(files: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "latin1.toml")
    assert status == 2
    assert out.startswith("error[E002]: configuration file is not valid UTF-8 (byte 0xe9)\n"
                          " --> latin1.toml:2:18\n")
    assert err == "1 file checked: 1 error, 0 warnings\n"


def test_a_folder_is_not_a_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "folder.toml").mkdir()
    status, _, err = lint(capsys, "folder.toml")
    assert status == 2
    assert "cannot read folder.toml" in err


@pytest.mark.parametrize("args", [[], ["--strict"], ["--format", "json"]])
def test_no_config_is_a_usage_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    status, out, err = lint(capsys, *args)
    assert status == 2
    assert out == ""
    # no CONFIG, no $TLSRPT_CONFIG and no default file (tests/conftest.py): it says where it looked
    assert err.startswith("tlsrpt: no configuration file: none named (CONFIG or --config), "
                          "$TLSRPT_CONFIG is not set, and ")
    assert err.endswith("absent/tlsrpt.toml does not exist\n")


def test_unknown_option_and_format_are_usage_errors(files: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(capsys, "--frobnicate", "clean.toml")[0] == 2
    assert lint(capsys, "--format", "xml", "clean.toml")[0] == 2


def test_missing_file_summary_does_not_claim_success(files: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = lint(capsys, "missing.toml")
    assert status == 2
    assert "no problems found" not in err


# --- --select and --ignore --------------------------------------------------------------------

def test_everything_without_select_or_ignore(files: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert codes(capsys, "mixed.toml") == (1, MIXED_CODES)


@pytest.mark.parametrize(("args", "expected"), [
    (["--select", "W"], ["W404", "W405", "W402"]),
    (["--select", "E"], ["E105", "E201"]),
    (["--select", "E2"], ["E201"]),
    (["--select", "W40"], ["W404", "W405", "W402"]),
    (["--select", "W404"], ["W404"]),
    (["--select", "e1,w404"], ["W404", "E105"]),          # case and commas
    (["--select", " E1 , W404 "], ["W404", "E105"]),      # spaces around codes
    (["--select", "E1", "--select", "W405"], ["E105", "W405"]),  # repeated
    (["--select", "E3"], []),
    (["--ignore", "W"], ["E105", "E201"]),
    (["--ignore", "E"], ["W404", "W405", "W402"]),
    (["--ignore", "W404,E2"], ["E105", "W405", "W402"]),
    (["--ignore", "w4", "--ignore", "e105"], ["E201"]),
    (["--select", "W4", "--ignore", "W404"], ["W405", "W402"]),  # --ignore wins
    (["--select", "E201", "--ignore", "E"], []),
    (["--ignore", "X"], MIXED_CODES),                     # an unknown prefix drops nothing
])
def test_select_and_ignore(files: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                           expected: list[str]) -> None:
    assert codes(capsys, *args, "mixed.toml")[1] == expected


@pytest.mark.parametrize(("args", "status"), [
    (["--ignore", "E"], 0),                  # only warnings are left
    (["--ignore", "E", "--strict"], 1),
    (["--select", "W", "--strict"], 1),
    (["--ignore", "E,W", "--strict"], 0),    # nothing is left
    (["--select", "E201"], 1),
    (["--select", "W402", "--strict"], 1),
])
def test_exit_status_counts_only_selected_codes(files: Path, capsys: pytest.CaptureFixture[str],
                                                args: list[str], status: int) -> None:
    assert lint(capsys, *args, "mixed.toml")[0] == status


def test_text_summary_counts_only_selected_codes(files: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--select", "W", "mixed.toml")
    assert status == 0
    assert re.findall(r"^(\w+)\[(\w+)\]", out, re.MULTILINE) == [
        ("warning", "W404"), ("warning", "W405"), ("warning", "W402")]
    assert err == "1 file checked: 0 errors, 3 warnings\n"
    status, out, err = lint(capsys, "--ignore", "E,W", "mixed.toml")
    assert (status, out, err) == (0, "", "1 file checked: no problems found\n")


# --- --explain ------------------------------------------------------------------------------------

def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--explain", "E201")
    assert status == 0
    assert err == ""
    assert out == (
        "E201 (unknown-name, error): a name that is no variable, constant or function\n"
        "\n"
        "Why: Stalwart rejects the expression; the setting keeps its default.\n"
        "Fix: Use one of the names the setting allows (see docs/configuration.md), or quote "
        "text.\n"
        "See docs/lint.md#e201-unknown-name\n")


@pytest.mark.parametrize("code", list(RULES))
def test_explain_every_code_any_case(capsys: pytest.CaptureFixture[str], code: str) -> None:
    rule = RULES[code]
    status, out, _ = lint(capsys, "--explain", code.lower())
    assert status == 0
    assert out.startswith(f"{code} ({rule.name}, {rule.severity.value}): {rule.summary}\n")
    assert f"Why: {rule.why}\nFix: {rule.fix}\n" in out
    assert out.endswith(f"See docs/lint.md#{code.lower()}-{rule.name}\n")


@pytest.mark.parametrize("code", ["E999", "W3", "nonsense"])
def test_explain_unknown_code(capsys: pytest.CaptureFixture[str], code: str) -> None:
    status, out, err = lint(capsys, "--explain", code)
    assert status == 2
    assert out == ""
    assert err == f"tlsrpt: no diagnostic code {code}\n"


def test_explain_ignores_the_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = lint(capsys, "--explain", "W404", "errors.toml")
    assert status == 0
    assert out.startswith("W404 (unknown-setting, warning)")


# --- the text output --------------------------------------------------------------------------

def test_text_output_literally(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "bad.toml")
    assert status == 1
    assert out == _plain_bad_output()
    assert err == "1 file checked: 1 error, 1 warning\n"


def test_text_output_gutter_widens_with_the_line_number(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "long.toml").write_text("[report.tls.aggregate]\n" + "\n" * 8 + "send = \"'daily'\"\n",
                                     encoding="utf-8")
    status, out, _ = lint(capsys, "long.toml")
    assert status == 1
    assert out == (
        "error[E401]: report.tls.aggregate.send: expected a frequency (hourly, daily, weekly, "
        "never), got text 'daily'\n"
        "  --> long.toml:10:8\n"
        "   |\n"
        "10 | send = \"'daily'\"\n"
        "   |        ^^^^^^^^^\n"
    )


def test_text_output_of_several_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "errors.toml", "clean.toml", "warnings.toml")
    assert status == 1
    assert re.findall(r"--> (\S+)", out) == ["errors.toml:2:9", "warnings.toml:2:1",
                                             "warnings.toml:3:16"]
    assert err == "3 files checked: 1 error, 2 warnings\n"


def test_clean_file_prints_nothing_on_stdout(files: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(capsys, "clean.toml") == (0, "", "1 file checked: no problems found\n")


# --- colour -------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lint_on_terminal(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    main(["lint", *args])
    return terminal.getvalue()


def test_no_colour_when_not_a_terminal(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = lint(capsys, "bad.toml")
    assert "\x1b[" not in out and "\x1b[" not in err


def test_colour_on_a_terminal(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _lint_on_terminal(monkeypatch, "bad.toml")
    assert out.startswith("\x1b[1;31merror[E105]\x1b[0m\x1b[1m: `TLS Report` is read as an "
                          "expression, not as text\x1b[0m\n")
    assert "\x1b[1;33mwarning[W404]\x1b[0m" in out
    assert "\x1b[1;31m" + " " * 12 + "^" * 12 + "\x1b[0m" in out
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == _plain_bad_output()


def _plain_bad_output() -> str:
    return (
        "error[E105]: `TLS Report` is read as an expression, not as text\n"
        " --> bad.toml:2:13\n"
        "  |\n"
        "2 | from-name = \"TLS Report\"\n"
        "  |             ^^^^^^^^^^^^\n"
        "  = suggestion: `\"'TLS Report'\"`\n"
        "  = help: text values are quoted twice: once for TOML, once for the expression\n"
        "warning[W404]: unknown setting `report.tls.aggregate.max-sise`\n"
        " --> bad.toml:3:1\n"
        "  |\n"
        "3 | max-sise = 1048576\n"
        "  | ^^^^^^^^\n"
        "  = suggestion: `max-size`\n"
    )


@pytest.mark.parametrize("value", ["1", "0", "no", "true"])
def test_no_color_disables_colour_on_a_terminal(files: Path, monkeypatch: pytest.MonkeyPatch,
                                                value: str) -> None:
    monkeypatch.setenv("NO_COLOR", value)
    assert _lint_on_terminal(monkeypatch, "bad.toml") == _plain_bad_output()


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_machine_formats_never_use_colour(files: Path, monkeypatch: pytest.MonkeyPatch,
                                          fmt: str) -> None:
    assert "\x1b[" not in _lint_on_terminal(monkeypatch, "--format", fmt, "bad.toml")


def test_empty_no_color_keeps_colour(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    assert "\x1b[" in _lint_on_terminal(monkeypatch, "bad.toml")


# --- the machine formats parse ----------------------------------------------------------------

def test_json_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--format", "json", "bad.toml")
    assert status == 1
    assert err == ""
    document = json.loads(out)
    assert [item["code"] for item in document] == ["E105", "W404"]
    assert set(document[0]) == {"code", "name", "severity", "message", "filename", "key",
                                "location", "end_location", "help", "fix", "url", "notes"}
    assert document[0]["filename"] == "bad.toml"
    assert document[0]["location"] == {"row": 2, "column": 13}
    assert document[0]["end_location"] == {"row": 2, "column": 25}
    assert document[0]["fix"]["edits"][0]["content"] == "\"'TLS Report'\""
    assert document[1]["url"] == "docs/lint.md#w404-unknown-setting"


def test_json_output_of_a_clean_file_is_an_empty_list(files: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--format", "json", "clean.toml")
    assert (status, json.loads(out), err) == (0, [], "")


def test_json_output_of_several_files_and_unreadable_bytes(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = lint(capsys, "--format", "json", "bad.toml", "latin1.toml")
    assert status == 2
    document = json.loads(out)
    assert [(item["filename"], item["code"]) for item in document] == [
        ("bad.toml", "E105"), ("bad.toml", "W404"), ("latin1.toml", "E002")]


def test_github_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--format", "github", "bad.toml")
    assert status == 1
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 2
    pattern = re.compile(r"::(error|warning) title=(\w+) [a-z-]+,file=bad\.toml,line=(\d+),"
                         r"col=(\d+),endLine=\d+,endColumn=\d+::.+")
    assert [pattern.fullmatch(line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("error", "E105", "2", "13"), ("warning", "W404", "3", "1")]


def test_sarif_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = lint(capsys, "--format", "sarif", "bad.toml")
    assert status == 1
    assert err == ""
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "tlsrpt-lint"
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["E105", "W404"]
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [
        ("E105", "error"), ("W404", "warning")]
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 2, "startColumn": 13, "endLine": 2, "endColumn": 25}
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_formats_parse_for_the_example(capsys: pytest.CaptureFixture[str],
                                               fmt: str) -> None:
    status, out, _ = lint(capsys, "--format", fmt, str(EXAMPLE))
    assert status == 0
    document = json.loads(out)
    results = document if fmt == "json" else document["runs"][0]["results"]
    assert results == []


def test_github_output_of_a_clean_file_is_empty(files: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert lint(capsys, "--format", "github", "clean.toml") == (0, "", "")
