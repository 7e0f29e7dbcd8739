"""The reporting commands refuse a configuration with lint errors and warn about unknown
report.* keys at start (one shared check, engine.cli.common.read_reporting_config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

# `sign` names a signature that has no section: lint error E501, which `load_config` lets
# through (a cross-reference) and which would otherwise hold every report for hours.
BROKEN = """\
[report.tls.aggregate]
sign = "['rsa-missing.example']"
"""
MISSPELT = """\
[report.tls.aggregate]
from-adress = "'tls@example.org'"
sign = "[]"
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("argv", [
    ["record", "{config}", "{events}", "--db", "{db}"],
    ["report", "{config}", "--db", "{db}", "--dry-run", "--out", "{out}"],
    ["serve", "{config}", "--db", "{db}"],
    ["collect", "{config}", "--db", "{db}", "--socket", "{socket}"],
    ["analyze", "--config", "{config}", "{events}"],
])
def test_a_config_with_lint_errors_stops_every_reporting_command(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path, BROKEN)
    events = tmp_path / "events.jsonl"
    events.write_text("")
    names = {"config": config, "events": str(events), "db": str(tmp_path / "t.db"),
             "out": str(tmp_path / "out"), "socket": str(tmp_path / "s.sock")}
    status = main([part.format(**names) for part in argv])
    err = capsys.readouterr().err
    assert status == 1
    assert "error[E501]" in err and "rsa-missing.example" in err
    assert not (tmp_path / "t.db").exists()  # nothing was started


def test_unknown_report_keys_are_logged_at_start(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path, MISSPELT)
    events = tmp_path / "events.jsonl"
    events.write_text("")
    status = main(["record", config, str(events), "--db", str(tmp_path / "t.db")])
    err = capsys.readouterr().err
    assert status == 0
    assert "unknown-setting" in err
    assert "report.tls.aggregate.from-adress" in err


def test_ignored_signature_keys_are_logged_at_start(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    keys = Path(__file__).resolve().parents[1] / "examples" / "keys"
    config = _write(tmp_path, '[report.tls.aggregate]\nsign = "[\'rsa-x\']"\n\n'
                    '[signature."rsa-x"]\n'
                    f'private-key = "%{{file:{keys}/rsa.example.org.pem}}%"\n'
                    'domain = "example.org"\nselector = "s"\nexpire = "30d"\n')
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["record", config, str(events), "--db", str(tmp_path / "t.db")]) == 0
    err = capsys.readouterr().err
    assert "ignored-signature-key" in err and "expire" in err


def test_status_and_lint_still_read_such_a_config(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path, BROKEN)
    assert main(["lint", config]) == 1
    assert main(["eval", config, "report.tls.aggregate.sign"]) == 0
    capsys.readouterr()
