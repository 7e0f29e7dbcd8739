"""The README's main job, end to end: record the example day, build every report (dry run),
then read what was written as a receiver would."""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import json
import subprocess
from pathlib import Path

import pytest

import engine
from engine.cli import main
from engine.reporting.sign import verify_message
from engine.reporting.send.validate import validate_report

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "tlsrpt.toml"
EVENTS = ROOT / "examples" / "events.jsonl"
NOW = "2024-05-08T00:00:00Z"


def public_key(pem: Path, algorithm: str) -> bytes:
    der = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    # DKIM publishes RSA keys as SubjectPublicKeyInfo, Ed25519 keys as the raw 32 bytes.
    return base64.b64encode(der[-32:] if algorithm == "ed25519" else der)


def dns_records() -> dict[bytes, bytes]:
    keys = ROOT / "examples" / "keys"
    return {
        b"rsa-2026._domainkey.example.org.": b"v=DKIM1; k=rsa; s=tlsrpt; p=" + public_key(
            keys / "rsa.example.org.pem", "rsa"),
        b"ed-2026._domainkey.example.org.": b"v=DKIM1; k=ed25519; s=tlsrpt; p=" + public_key(
            keys / "ed25519.example.org.pem", "ed25519"),
    }


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    work = tmp_path_factory.mktemp("dry")
    database, out = work / "tlsrpt.db", work / "out"
    assert main(["record", str(CONFIG), str(EVENTS), "--db", str(database)]) == 0
    lines: list[str] = []
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["report", str(CONFIG), "--db", str(database), "--dry-run", "--out",
                     str(out), "--now", NOW]) == 0
    # one line per report; the indented lines under it say where it goes
    lines = [line for line in buffer.getvalue().splitlines() if not line.startswith("  ")]
    return database, out, lines


def test_every_closed_window_gives_a_report(dry_run: tuple[Path, Path, list[str]]) -> None:
    _, out, lines = dry_run
    # bigmail.example and partner.example are hourly (24 windows each), example.net and
    # small-shop.example daily; lab.test is never reported (send = never for .test).
    reports = sorted(out.glob("*.eml"))
    assert len(lines) == len(reports) == 24 + 24 + 1 + 1
    assert not any("lab.test" in line for line in lines)
    assert all(": ready;" in line for line in lines)


def test_reports_count_every_recorded_event_once(dry_run: tuple[Path, Path, list[str]]) -> None:
    _, out, _ = dry_run
    sessions = 0
    for payload in out.glob("*.json.gz"):
        report = json.loads(gzip.decompress(payload.read_bytes()))
        assert validate_report(report) == []
        for policy in report["policies"]:
            sessions += policy["summary"]["total-successful-session-count"]
            sessions += policy["summary"]["total-failure-session-count"]
    recorded = [json.loads(line) for line in EVENTS.read_text().splitlines()]
    expected = [event for event in recorded if not event.get("is_report_message")
                and not event["report_domain"].endswith(".test")]
    assert sessions == len(expected)


def test_messages_are_signed_and_carry_their_report(
        dry_run: tuple[Path, Path, list[str]]) -> None:
    _, out, _ = dry_run
    records = dns_records()
    for path in sorted(out.glob("*.eml"))[:6]:
        raw = path.read_bytes()
        assert verify_message(raw, lambda name, timeout=5: records.get(name)) == [True, True]
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed.get_content_type() == "multipart/report"
        assert parsed["TLS-Report-Submitter"] == "mx1.example.org"
        attachment = list(parsed.iter_attachments())[0]
        assert attachment.get_content_type() == "application/tlsrpt+gzip"
        report = json.loads(gzip.decompress(attachment.get_content()))
        assert report["organization-name"] == "Example Organisation"
        assert report["contact-info"] == "tlsrpt@mx1.example.org"
        assert f"Report-ID: <{report['report-id']}@mx1.example.org>" in " ".join(
            parsed["Subject"].split())


def test_a_dry_run_changes_nothing(dry_run: tuple[Path, Path, list[str]], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    database, _, lines = dry_run
    assert main(["report", str(CONFIG), "--db", str(database), "--dry-run", "--out",
                 str(tmp_path), "--now", NOW]) == 0
    again = [line for line in capsys.readouterr().out.splitlines()
             if not line.startswith("  ")]
    assert len(again) == len(lines)


def test_a_missing_signature_holds_the_report(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    # A `sign` lint cannot fold (it reads rcpt_domain, '' when signing): a constant one naming
    # a missing section is a lint error (E501), and the reporting commands refuse to start.
    config.write_text(CONFIG.read_text().replace(
        "sign = \"['rsa-' + config_get('report.domain'), 'ed25519-' + "
        "config_get('report.domain')]\"",
        "sign = \"if_then(rcpt_domain == '', ['rsa-nowhere'], [])\"").replace(
        "%{file:keys/", f"%{{file:{CONFIG.parent}/keys/"))
    assert main(["record", str(config), str(EVENTS), "--db", str(tmp_path / "db")]) == 0
    status = main(["report", str(config), "--db", str(tmp_path / "db"), "--dry-run", "--out",
                   str(tmp_path / "out"), "--now", NOW])
    out = capsys.readouterr().out
    assert status == 1
    assert "HELD (DKIM signature `rsa-nowhere`" in out
    assert not list((tmp_path / "out").glob("*.eml"))


def test_bad_lines_are_rejected_with_their_number(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    lines = EVENTS.read_text().splitlines()[:3]
    lines.insert(1, '{"report_domain": "example.net", "outcome": "maybe"}')
    lines.insert(3, "not json")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    status = main(["record", str(CONFIG), str(source), "--db", str(tmp_path / "db")])
    err = capsys.readouterr().err
    assert status == 1
    assert f"{source}:2: rejected:" in err and f"{source}:4: rejected: not JSON" in err
    assert "3 events recorded, 0 ignored, 2 rejected" in err
    assert isinstance(engine.load_config(CONFIG), engine.Config)


def test_the_store_path_can_come_from_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    database = tmp_path / "data" / "events.db"
    config.write_text(f'[report.store]\npath = "{database}"\n' + CONFIG.read_text().replace(
        "%{file:keys/", f"%{{file:{CONFIG.parent}/keys/"))
    assert main(["record", str(config), str(EVENTS)]) == 0
    assert database.is_file()


def test_events_without_destinations_still_build_in_a_dry_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event = json.loads(EVENTS.read_text().splitlines()[0])
    del event["destinations"]
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(event) + "\n")
    assert main(["record", str(CONFIG), str(source), "--db", str(tmp_path / "db")]) == 0
    assert main(["report", str(CONFIG), "--db", str(tmp_path / "db"), "--dry-run", "--out",
                 str(tmp_path / "out"), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "ready; 1 policy, 1 successful and 0 failed sessions" in out
    assert "  to: the TLSRPT record of" in out and "(not in a dry run)" in out
    assert list((tmp_path / "out").glob("*.json.gz")) and not list(
        (tmp_path / "out").glob("*.eml"))
