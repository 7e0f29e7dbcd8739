"""The store of analysed incoming reports (spec 7.8) on SQLite: `SqliteAnalysisStore`
implements `engine.reporting.store.interface.AnalysisStore`; its tables are in `schema.py`.

One row per accepted report, keyed by (organization-name, report-id): a report already there
is not stored again and counts as a duplicate (the same report often arrives twice). Beside
each report the raw input is kept, byte for byte, so that `reprocess` can read every input
again after a parser fix; inputs the parser rejected are kept too (that is what a parser fix
is for), but unauthenticated reports (AUTH_FAILED) are not stored at all (spec 7.6).

The tables carry an `analysis_` prefix and their own schema version (table `analysis_meta`),
so the store may share a file with the event store or live alone; every public method is one
transaction.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

from engine.reporting.analysis.analyze import Analysis
from engine.reporting.analysis.limits import AUTH_FAILED, Finding
from engine.reporting.analysis.schema import ParsedReport
from engine.reporting.store.interface import AnalysisStoreError
from engine.reporting.store.reports import (DUPLICATE, KEPT_REJECTED, NOT_STORED, STORED,
                                            KeptInput, StoredReport, report_from_json,
                                            report_to_json)
from engine.reporting.store.sqlite.schema import ANALYSIS_MIGRATIONS as _MIGRATIONS
from engine.reporting.store.sqlite.schema import ANALYSIS_SCHEMA_VERSION as SCHEMA_VERSION
from engine.reporting.store.sqlite.schema import ANALYSIS_VERSION_TABLE

__all__ = ["SCHEMA_VERSION", "SqliteAnalysisStore"]

DAY: Final = 86400


class SqliteAnalysisStore:
    """`AnalysisStore` on SQLite: `with SqliteAnalysisStore(path) as store:` opens (creating or
    migrating) the store."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise AnalysisStoreError(f"{path}: not a usable analysis store ({error})") from None

    def __enter__(self) -> SqliteAnalysisStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(ANALYSIS_VERSION_TABLE)
            row = db.execute("SELECT value FROM analysis_meta WHERE key = 'schema_version'"
                             ).fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise AnalysisStoreError(f"analysis schema version {version} is newer than "
                                         f"this program's {SCHEMA_VERSION}")
            for step in _MIGRATIONS[version:]:
                step(db)
            db.execute("INSERT OR REPLACE INTO analysis_meta VALUES ('schema_version', ?)",
                       (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- writing ---------------------------------------------------------------------------

    def add(self, analysis: Analysis, raw: bytes, *, name: str | None, received: int,
            expires: int | None) -> str:
        """Keep one analysed input; returns STORED, DUPLICATE, KEPT_REJECTED or NOT_STORED."""
        if analysis.code == AUTH_FAILED:
            return NOT_STORED
        digest = hashlib.sha256(raw).hexdigest()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM analysis_input WHERE sha256 = ?", (digest,)
                          ).fetchone() is not None or self._report_exists(analysis, digest):
                self._count_duplicate()
                db.execute("COMMIT")
                return DUPLICATE
            source = "email" if analysis.container[:1] == ("email",) else "file"
            input_id = db.execute(
                "INSERT INTO analysis_input (sha256, received, expires, source, name, status, "
                "code, reason, path, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (digest, received, expires, source, name, analysis.status, analysis.code,
                 analysis.reason, analysis.path, raw)).lastrowid
            assert input_id is not None
            if analysis.report is not None:
                self._insert_report(input_id, analysis, digest)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return STORED if analysis.report is not None else KEPT_REJECTED

    def _report_exists(self, analysis: Analysis, digest: str) -> bool:
        if analysis.report is None:
            return False
        return self._db.execute(
            "SELECT 1 FROM analysis_report WHERE organization = ? AND report_id = ?",
            _report_key(analysis.report, digest)).fetchone() is not None

    def _count_duplicate(self) -> None:
        self._db.execute("UPDATE analysis_counter SET value = value + 1 WHERE name = "
                         "'duplicates'")

    def _insert_report(self, input_id: int, analysis: Analysis, digest: str) -> None:
        report = analysis.report
        assert report is not None
        facts = analysis.facts
        outcome = analysis.dkim_outcome
        organization, report_id = _report_key(report, digest)
        row_id = self._db.execute(
            "INSERT INTO analysis_report (input_id, organization, report_id, contact, "
            "start_time, end_time, successes, failures, with_warnings, envelope_from, envelope_to, "
            "header_from, header_to, subject, message_id, dkim, dkim_domains, submitter, "
            "report, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (input_id, organization, report_id, report.contact, report.start, report.end,
             report.successes, report.failures,
             int(any(policy.failures > 0 for policy in report.policies)),
             facts.return_path if facts else None, None,
             facts.sender if facts else None, facts.to if facts else None,
             facts.subject if facts else None, facts.message_id if facts else None,
             outcome.result if outcome else "n/a",
             json.dumps([domain for domain, _ in outcome.signatures] if outcome else []),
             facts.submitter if facts else None,
             json.dumps(report_to_json(report), ensure_ascii=False),
             json.dumps([[w.path, w.message] for w in analysis.warnings], ensure_ascii=False))
        ).lastrowid
        self._db.executemany(
            "INSERT INTO analysis_policy (report, position, type, domain, successes, failures, "
            "failure_types, mx_hosts, receiving_ips) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(row_id, position, policy.type, policy.domain, policy.successes, policy.failures,
              json.dumps(policy.failures_by_result_type, ensure_ascii=False),
              json.dumps(list(policy.mx_hosts), ensure_ascii=False),
              json.dumps(policy.receiving_ips))
             for position, policy in enumerate(report.policies)])

    def replace(self, input_id: int, analysis: Analysis) -> str:
        """After a new analysis of a kept input: update its outcome and its report. A report
        that now duplicates another input's is dropped with its input (DUPLICATE); an input
        that is now rejected keeps its old report (a regression must not destroy data)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            digest, = db.execute("SELECT sha256 FROM analysis_input WHERE id = ?",
                                 (input_id,)).fetchone()
            had_report = db.execute("SELECT 1 FROM analysis_report WHERE input_id = ?",
                                    (input_id,)).fetchone() is not None
            if analysis.report is None:
                if not had_report:
                    db.execute("UPDATE analysis_input SET status = ?, code = ?, reason = ?, "
                               "path = ? WHERE id = ?", (analysis.status, analysis.code,
                                                         analysis.reason, analysis.path,
                                                         input_id))
                db.execute("COMMIT")
                return KEPT_REJECTED
            organization, report_id = _report_key(analysis.report, digest)
            other = db.execute("SELECT input_id FROM analysis_report WHERE organization = ? "
                               "AND report_id = ? AND input_id != ?",
                               (organization, report_id, input_id)).fetchone()
            if other is not None:
                db.execute("DELETE FROM analysis_input WHERE id = ?", (input_id,))
                self._count_duplicate()
                db.execute("COMMIT")
                return DUPLICATE
            db.execute("DELETE FROM analysis_report WHERE input_id = ?", (input_id,))
            db.execute("UPDATE analysis_input SET status = ?, code = NULL, reason = NULL, "
                       "path = NULL WHERE id = ?", (analysis.status, input_id))
            self._insert_report(input_id, analysis, digest)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return STORED

    def purge(self, now: int) -> int:
        """Delete inputs (and their reports) whose expiry has passed; returns how many."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            count = db.execute("DELETE FROM analysis_input WHERE expires IS NOT NULL AND "
                               "expires <= ?", (now,)).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    # --- reading ---------------------------------------------------------------------------

    def reports(self, since: int | None = None, until: int | None = None
                ) -> Iterator[StoredReport]:
        """Stored reports whose date range overlaps [since, until), by start then id."""
        rows = self._db.execute(
            "SELECT r.id, r.input_id, i.name, i.received, i.source, r.dkim, r.warnings, "
            "r.report FROM analysis_report r JOIN analysis_input i ON i.id = r.input_id "
            "WHERE r.end_time >= ? AND r.start_time < ? ORDER BY r.start_time, r.id",
            (since if since is not None else -2 ** 62, until if until is not None else 2 ** 62))
        for ident, input_id, name, received, source, dkim, warnings, report in rows:
            yield StoredReport(ident, input_id, name, received, source, dkim,
                               tuple(Finding(path, text) for path, text in json.loads(warnings)),
                               report_from_json(json.loads(report)))

    def inputs(self) -> Iterator[KeptInput]:
        """Every kept raw input, oldest first."""
        rows = self._db.execute(
            "SELECT i.id, i.name, i.received, i.status, i.code, i.raw, r.dkim FROM "
            "analysis_input i LEFT JOIN analysis_report r ON r.input_id = i.id ORDER BY i.id"
        ).fetchall()
        for ident, name, received, status, code, raw, dkim in rows:
            yield KeptInput(ident, name, received, status, code, bytes(raw), dkim)

    def stats(self) -> dict[str, int]:
        db = self._db
        return {
            "reports": db.execute("SELECT count(*) FROM analysis_report").fetchone()[0],
            "inputs": db.execute("SELECT count(*) FROM analysis_input").fetchone()[0],
            "rejected_inputs": db.execute("SELECT count(*) FROM analysis_input WHERE status "
                                          "= 'rejected'").fetchone()[0],
            "duplicates": db.execute("SELECT value FROM analysis_counter WHERE name = "
                                     "'duplicates'").fetchone()[0],
        }


def _report_key(report: ParsedReport, digest: str) -> tuple[str, str]:
    """(organisation, report-id) of spec 7.8. A report without a report-id cannot be
    recognised again, so its raw input's digest stands in (never merging two reports)."""
    return report.organization or "", report.report_id or f"sha256:{digest}"
