"""`tlsrpt analyze`: inputs, output, exit statuses."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from engine.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_report_with_failures_is_summarised_with_advice(
        capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["analyze", str(FIXTURES / "mailauth-rpt01.json")])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0].endswith("from Company-X, 2016-04-01T00:00:00Z to 2016-04-01T23:59:59Z: "
                           "5326 sessions ok, 303 failed")
    assert out[1] == ("  company-y.example (sts): 5326 ok, 303 failed; "
                      "MX *.mail.company-y.example; IPs 203.0.113.56, 203.0.113.58")
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
    assert main(["analyze", "--json", "--no-require-dkim", str(tmp_path)]) == 0
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


def test_unsigned_email_is_rejected_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    email = str(FIXTURES / "mailauth-rpt02.eml")
    assert main(["analyze", email]) == 1
    out = capsys.readouterr().out
    assert "rejected (AUTH_FAILED): no DKIM-Signature" in out
    assert "--no-require-dkim reads it anyway" in out  # the way out is named
    assert main(["analyze", "--no-require-dkim", email]) == 0
    assert "warning: $: unauthenticated: no DKIM-Signature" in capsys.readouterr().out


def test_settings_from_the_configuration_and_limit_flags(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text('[report.analysis]\nrequire-dkim = false\n'
                      '[report.analysis.limits]\nfailure-details = "2"\n')
    rpt01 = str(FIXTURES / "mailauth-rpt01.json")
    assert main(["analyze", "--config", str(config), str(FIXTURES / "mailauth-rpt02.eml")]) == 0
    assert main(["analyze", "--config", str(config), rpt01]) == 1
    assert "more than 2 failure details" in capsys.readouterr().out
    # the command line wins over the configuration
    assert main(["analyze", "--config", str(config), "--limit", "failure-details=3", rpt01]) == 0
    assert main(["analyze", "--config", str(config), "--require-dkim",
                 str(FIXTURES / "mailauth-rpt02.eml")]) == 1
    capsys.readouterr()
    assert main(["analyze", "--limit", "input=1k", rpt01]) == 1
    assert "LIMIT_EXCEEDED" in capsys.readouterr().out
    for bad in ("nope=1", "input=-5", "input"):
        assert main(["analyze", "--limit", bad, rpt01]) == 2
    config.write_text('[report.analysis.limits]\nparts = "many"\n')
    assert main(["analyze", "--config", str(config), rpt01]) == 2
    assert "report.analysis.limits.*: limit parts: expected a positive whole number" in \
        capsys.readouterr().err


def test_store_then_summarise_a_period(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    db = str(tmp_path / "reports.db")
    inputs = [str(FIXTURES / name) for name in (
        "mailauth-rpt01.json", "mailauth-rpt01-attachment.json.gz", "mailauth-rpt02.json",
        "handmade-quirks-lenient.json", "handmade-truncated.json.gz")]
    assert main(["analyze", "--store", db, *inputs]) == 1  # the truncated gzip is rejected
    out = capsys.readouterr().out
    assert "[duplicate]" in out and "[kept]" in out
    assert out.splitlines()[-1] == "store: 1 duplicate, 1 kept, 3 stored"
    assert main(["analyze", "--store", db, "--from-store", "--since", "2020-01-01",
                 "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [entry["report"]["organization"] for entry in found] == [
        "Google Inc.", "Quirky Sender"]
    assert main(["analyze", "--store", db, "--from-store", "--group-by", "result-type",
                 "--json"]) == 0
    overview = json.loads(capsys.readouterr().out)
    assert overview["reports"] == 3
    assert [(g["key"], g["failures"]) for g in overview["groups"]] == [
        ("starttls-not-supported", 200), ("certificate-expired", 100),
        ("validation-failure", 3), ("certificate-host-mismatch", 1),
        ("some-future-result-type", 1)]
    assert main(["analyze", "--store", db, "--from-store", "--until", "2020-01-01",
                 "--group-by", "organisation", "--fail-on-failures"]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "1 report by organisation:"
    assert text[1] == "  Company-X: 1 report, 5326 ok, 303 failed"
    assert text[2].startswith("    starttls-not-supported: 200 - The sender could not start")


def test_group_by_over_files_lists_rejections(capsys: pytest.CaptureFixture[str]) -> None:
    inputs = [str(FIXTURES / name) for name in (
        "mailauth-rpt01.json", "mailauth-rpt02.json", "handmade-wrong-types.json")]
    assert main(["analyze", "--group-by", "domain", *inputs]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("handmade-wrong-types.json: rejected (SCHEMA_ERROR at "
                           "organization-name): must be a string, not number")
    assert out[1] == "2 reports by domain:"
    assert out[2] == "  company-y.example: 1 report, 5326 ok, 303 failed"


def test_reprocess_the_kept_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = str(tmp_path / "reports.db")
    rpt01 = str(FIXTURES / "mailauth-rpt01.json")
    assert main(["analyze", "--store", db, "--limit", "failure-details=2", rpt01]) == 1
    capsys.readouterr()
    assert main(["analyze", "--store", db, "--reprocess"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("input #1 (") and out[0].endswith(
        "mailauth-rpt01.json): SCHEMA_ERROR -> accepted [stored]")
    assert out[1] == "reprocessed 1 inputs: 1 reports stored, 0 inputs still rejected"
    assert main(["analyze", "--store", db, "--from-store", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["report"]["failures"] == 303


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rpt01 = str(FIXTURES / "mailauth-rpt01.json")
    db = str(tmp_path / "r.db")
    assert main(["analyze"]) == 2
    assert main(["analyze", "--store", db, "--from-store", rpt01]) == 2
    assert main(["analyze", "--since", "2020-01-01", rpt01]) == 2
    assert main(["analyze", "--store", db, "--from-store", "--since", "last week"]) == 2
    assert main(["analyze", "--store", db, "--reprocess", "--group-by", "day"]) == 2
    assert main(["analyze", "--store", db, "--keep", "-1", rpt01]) == 2
    (tmp_path / "junk.db").write_bytes(b"junk" * 1000)
    assert main(["analyze", "--store", str(tmp_path / "junk.db"), "--from-store"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "not a usable analysis store" in err


def test_every_rfc_result_type_has_its_own_advice() -> None:
    from engine.reporting.analysis.advice import RESULT_TYPE_ADVICE, advice
    from engine.reporting.model import RESULT_TYPES

    assert set(RESULT_TYPE_ADVICE) == set(RESULT_TYPES)
    texts = [advice(kind) for kind in RESULT_TYPES]
    assert len(set(texts)) == len(texts)  # no shared boilerplate
    assert "does not know" in advice("some-future-result-type")
