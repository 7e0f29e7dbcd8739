"""The store of analysed reports (spec/reporting.md 7.8) on real SQLite files, and the overview
of `--group-by` (engine.reporting.analysis.summary)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from engine.reporting.analysis.analyze import AUTH_FAILED, Authentication, Limits, analyze_bytes
from engine.reporting.store.interface import AnalysisStoreError
from engine.reporting.store.reports import DUPLICATE, KEPT_REJECTED, NOT_STORED, STORED
from engine.reporting.store.sqlite.analysis import SCHEMA_VERSION
from engine.reporting.store.sqlite.analysis import SqliteAnalysisStore as AnalysisStore
from engine.reporting.analysis.schema import ParsedReport
from engine.reporting.analysis.summary import summarise

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RPT01 = (FIXTURES / "mailauth-rpt01.json").read_bytes()
RPT02 = (FIXTURES / "mailauth-rpt02.json").read_bytes()
RPT03 = (FIXTURES / "mailauth-rpt03.json").read_bytes()
QUIRKS = (FIXTURES / "handmade-quirks-lenient.json").read_bytes()
NOW = 1_800_000_000


def store_all(path: Path, *inputs: bytes, limits: Limits = Limits()) -> list[str]:
    with AnalysisStore(path) as store:
        return [store.add(analyze_bytes(data, limits=limits), data, name=f"in{number}",
                          received=NOW, expires=NOW + 30 * 86400)
                for number, data in enumerate(inputs)]


def test_stores_once_per_organisation_and_report_id(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    # the gzip of rpt01 is the same report in other bytes: a duplicate, as is a second copy
    assert store_all(db, RPT01, RPT02, gzip.compress(RPT01), RPT01) == [
        STORED, STORED, DUPLICATE, DUPLICATE]
    with AnalysisStore(db) as store:
        assert store.stats() == {"reports": 2, "inputs": 2, "rejected_inputs": 0,
                                 "duplicates": 2}
        stored = list(store.reports())
    assert [s.report.report_id for s in stored] == [
        "5065427c-23d3-47ca-b6e0-946ea0e8c4be", "2020-01-01T00:00:00Z_example.com"]
    # the normalised report comes back equal to a fresh analysis (details in input order)
    assert stored[0].report == analyze_bytes(RPT01).report
    assert stored[0].dkim == "n/a" and stored[0].source == "file"


def test_what_is_stored_per_report_and_policy(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    store_all(db, RPT01, QUIRKS)
    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT organization, report_id, start_time, end_time, successes, failures, "
        "with_warnings, warnings FROM analysis_report ORDER BY id").fetchall()
    assert rows[0][:7] == ("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", 1459468800,
                           1459468800 + 86399, 5326, 303, 1)
    assert json.loads(rows[0][7]) == []
    quirks_warnings = [path for path, _ in json.loads(rows[1][7])]
    assert "contact-info" in quirks_warnings and "x-vendor-extension" in quirks_warnings
    policies = connection.execute(
        "SELECT position, type, domain, successes, failures, failure_types, mx_hosts, "
        "receiving_ips FROM analysis_policy WHERE report = 2 ORDER BY position").fetchall()
    assert [(p[1], p[3], p[4]) for p in policies] == [("sts", 3, 0), ("no-policy-found", 1, 0),
                                                       ("tlsa", 0, 1)]
    assert json.loads(policies[0][6]) == ["mx1.receiver.example"]
    assert json.loads(policies[2][5]) == {"some-future-result-type": 1}
    assert json.loads(policies[2][7]) == ["2001:db8::25"]
    (raw,) = connection.execute("SELECT raw FROM analysis_input WHERE name = 'in0'").fetchone()
    assert raw == RPT01  # byte for byte, for reprocessing
    connection.close()


def test_rejected_inputs_are_kept_unauthenticated_ones_are_not(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    email = (FIXTURES / "mailauth-rpt01.eml").read_bytes()  # unsigned
    with AnalysisStore(db) as store:
        unsigned = analyze_bytes(email)
        assert unsigned.code == AUTH_FAILED
        assert store.add(unsigned, email, name="mail", received=NOW, expires=None) == NOT_STORED
        broken = (FIXTURES / "handmade-truncated.json.gz").read_bytes()
        assert store.add(analyze_bytes(broken), broken, name="cut", received=NOW,
                         expires=None) == KEPT_REJECTED
        lenient = analyze_bytes(email, auth=Authentication(require_dkim=False))
        assert store.add(lenient, email, name="mail", received=NOW, expires=None) == STORED
        assert store.stats() == {"reports": 1, "inputs": 2, "rejected_inputs": 1,
                                 "duplicates": 0}
        (report,) = store.reports()
        assert (report.source, report.dkim) == ("email", "none")


def test_reprocessing_after_a_parser_fix(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    # a "parser bug": a limit too small for rpt01's three failure details
    buggy = Limits(max_details=2)
    assert store_all(db, RPT01, RPT02, limits=buggy) == [KEPT_REJECTED, STORED]
    with AnalysisStore(db) as store:
        outcomes = [store.replace(kept.id, analyze_bytes(kept.raw)) for kept in store.inputs()]
        assert outcomes == [STORED, STORED]
        assert store.stats()["rejected_inputs"] == 0
        assert sorted(s.report.report_id for s in store.reports()) == [
            "2020-01-01T00:00:00Z_example.com", "5065427c-23d3-47ca-b6e0-946ea0e8c4be"]
        # a regression (now rejected) keeps the report it had
        first = next(store.inputs())
        assert store.replace(first.id, analyze_bytes(first.raw, limits=buggy)) == KEPT_REJECTED
        assert store.stats()["reports"] == 2


def test_period_selection_and_expiry(tmp_path: Path) -> None:
    db = tmp_path / "reports.db"
    store_all(db, RPT01, RPT02)  # 2016-04-01 and 2020-01-01
    with AnalysisStore(db) as store:
        def ids(since: int | None, until: int | None) -> list[str]:
            return [s.report.organization or "" for s in store.reports(since, until)]
        assert ids(None, None) == ["Company-X", "Google Inc."]
        assert ids(1459468800 + 86399, None) == ["Company-X", "Google Inc."]  # end is inclusive
        assert ids(1459468800 + 86400, None) == ["Google Inc."]
        assert ids(None, 1577836800) == ["Company-X"]
        assert store.purge(NOW + 30 * 86400 - 1) == 0
        assert store.purge(NOW + 30 * 86400) == 2
        assert store.stats()["reports"] == 0


def test_schema_version_and_sharing_a_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    from engine.reporting.store.sqlite.events import SqliteEventStore

    with SqliteEventStore(str(db)):
        pass
    store_all(db, RPT01)  # beside the event store's tables
    with AnalysisStore(db) as store:
        assert store.stats()["reports"] == 1
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT value FROM analysis_meta").fetchone() == (SCHEMA_VERSION,)
    connection.execute("UPDATE analysis_meta SET value = ?", (SCHEMA_VERSION + 1,))
    connection.commit()
    connection.close()
    with pytest.raises(AnalysisStoreError, match="newer"):
        AnalysisStore(db)
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(AnalysisStoreError, match="not a usable analysis store"):
        AnalysisStore(tmp_path / "junk.db")


# --- the overview ---------------------------------------------------------------------------

def reports() -> list[ParsedReport]:
    parsed = [analyze_bytes(data).report for data in (RPT01, RPT02, RPT03, QUIRKS)]
    return [report for report in parsed if report is not None]


def test_group_by_organisation_and_day() -> None:
    by_org = {group.key: group for group in summarise(reports(), "organisation")}
    assert list(by_org) == ["Company-X", "Google Inc.", "Quirky Sender"]  # most failed first
    google = by_org["Google Inc."]  # rpt02 and rpt03
    assert (google.reports, google.successes, google.failures) == (2, 25, 1)
    assert google.domains == ("example.com", "(no domain)")
    company_x = by_org["Company-X"]
    assert (company_x.reports, company_x.successes, company_x.failures) == (1, 5326, 303)
    assert company_x.failure_types == (("starttls-not-supported", 200),
                                       ("certificate-expired", 100), ("validation-failure", 3))
    assert "203.0.113.56" in company_x.receiving_ips
    days = summarise(reports(), "day")
    assert [group.key for group in days] == sorted(group.key for group in days)
    assert sum(group.reports for group in days) == 4
    assert sum(group.failures for group in days) == 303 + 1 + 0 + 1


def test_group_by_domain_and_result_type() -> None:
    by_domain = {group.key: group for group in summarise(reports(), "domain")}
    assert by_domain["company-y.example"].failures == 303
    assert by_domain["(no domain)"].reports >= 1  # the quirks report's policy without domain
    by_type = summarise(reports(), "result-type")
    assert [(group.key, group.failures, group.successes) for group in by_type] == [
        ("starttls-not-supported", 200, None), ("certificate-expired", 100, None),
        ("validation-failure", 3, None), ("certificate-host-mismatch", 1, None),
        ("some-future-result-type", 1, None)]
    assert by_type[0].organisations == ("Company-X",)
    assert by_type[0].domains == ("company-y.example",)
    # only the hosts and IPs of that type's failure details, not the policy's MX patterns
    assert (by_type[0].mx_hosts, by_type[0].receiving_ips) == (
        ("mx2.mail.company-y.example",), ("203.0.113.56",))
    assert by_domain["company-y.example"].mx_hosts[0] == "*.mail.company-y.example"
    with pytest.raises(ValueError, match="unknown grouping"):
        summarise([], "month")
