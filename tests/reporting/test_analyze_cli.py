"""`tlsrpt analyze`: inputs, output, exit statuses."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from engine.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_report_with_failures_is_summarised_with_advice(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["analyze", str(FIXTURES / "mailauth-rpt01.json")])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0].endswith("from Company-X, 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z: "
                           "5326 sessions ok, 303 failed")
    assert out[1] == "  company-y.example (sts): 5326 ok, 303 failed; MX *.mail.company-y.example"
    assert out[2].startswith("    starttls-not-supported: 200 - The sender could not start TLS")


def test_fail_on_failures_and_rejections_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--fail-on-failures", str(FIXTURES / "mailauth-rpt01.json")]) == 1
    assert main(["analyze", "--fail-on-failures", str(FIXTURES / "mailauth-rpt03.json")]) == 0
    assert main(["analyze", str(FIXTURES / "handmade-wrong-types.json")]) == 1
    assert "rejected (SCHEMA_ERROR at organization-name)" in capsys.readouterr().out


def test_json_output_and_folders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.eml").write_bytes((FIXTURES / "mailauth-rpt02.eml").read_bytes())
    (tmp_path / "b.bin").write_bytes((FIXTURES / "mailauth-rpt01-attachment.json.gz")
                                     .read_bytes())
    assert main(["analyze", "--json", str(tmp_path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [entry["container"] for entry in found] == [["gzip", "json"], ["email", "json"]]
    assert [entry["report"]["failures"] for entry in found] == [303, 1]
    assert found[1]["report"]["policies"][0]["failure_types"] == {
        "certificate-host-mismatch": 1}


def test_standard_input(capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "handmade-mislabelled-plain.json.gz").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["analyze", "-"]) == 0
    assert capsys.readouterr().out.startswith("-: report mislabelled-plain-1")


def test_a_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
