"""Every table, index and migration of the SQLite backend, in one place.

Two schemas, each a list of migration steps with its own version: the event store with the
delivery ledger (`schema_version` table; one file, so that rendering a report, freezing its
window and deleting its events are single transactions), and the analysis store (tables with
an `analysis_` prefix, version in `analysis_meta`, so it may share the event store's file or
live alone). Entry i of a list brings a database from version i to i + 1, inside the opener's
transaction; a released step is never edited: a change is a new step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Final

from engine.reporting.counts import WindowTally
from engine.reporting.model import Event
from engine.reporting.store.interface import WindowKey
from engine.reporting.store.sqlite.windows import NO_END, write_tallies

__all__ = ["ANALYSIS_MIGRATIONS", "ANALYSIS_SCHEMA_VERSION", "ANALYSIS_VERSION_TABLE",
           "EVENT_MIGRATIONS", "EVENT_SCHEMA_VERSION", "EVENT_VERSION_TABLE"]

Migration = Callable[[sqlite3.Connection], None]


# --- the event store and the delivery ledger --------------------------------------------------

#: where the opener reads and writes the event schema's version (created before any step)
EVENT_VERSION_TABLE: Final = ("CREATE TABLE IF NOT EXISTS schema_version "
                              "(version INTEGER NOT NULL)")

def _events_v1(connection: sqlite3.Connection) -> None:
    # AUTOINCREMENT (not a bare INTEGER PRIMARY KEY): a plain rowid may be reused once the
    # highest rows are deleted (delete_window); AUTOINCREMENT keeps the sequence strictly
    # increasing over the file's whole life, which is what "monotonic" in spec 3.7 promises.
    # The event itself is its `to_dict()` JSON: the columns beside it are only what queries
    # filter or sort on, so the model can grow without a migration.
    connection.execute("""
        CREATE TABLE event (
            seq          INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id     TEXT UNIQUE,
            report_domain TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            window_end   INTEGER NOT NULL,
            time         INTEGER NOT NULL,
            data         TEXT NOT NULL,
            CHECK (window_start < window_end)
        )""")
    # events(): one window's rows already in sequence order, no sort step.
    connection.execute(
        "CREATE INDEX event_window ON event (report_domain, window_start, window_end, seq)")
    # due_windows(): a range scan on window_end instead of reading every event.
    connection.execute(
        "CREATE INDEX event_due ON event (window_end, report_domain, window_start)")
    # WITHOUT ROWID: the key is the whole row, so the table is its own index.
    connection.execute("""
        CREATE TABLE frozen_window (
            report_domain TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            window_end   INTEGER NOT NULL,
            PRIMARY KEY (report_domain, window_start, window_end)
        ) WITHOUT ROWID""")
    # add(): the markers overlapping a batch's time span, found with one range scan.
    connection.execute("CREATE INDEX frozen_window_end ON frozen_window (window_end)")
    # Counters live in the file (not in the object) so that every process sharing the file
    # adds to the same figure and it survives restarts.
    connection.execute("""
        CREATE TABLE counter (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID""")
    connection.execute("INSERT INTO counter (name, value) VALUES ('late_events_dropped', 0)")


def _events_v2(db: sqlite3.Connection) -> None:
    """The scheduler's delivery ledger (spec 6.6) lives in the same file, so that rendering a
    report, freezing its window and, at the end, deleting its events are single
    transactions (the queries are in `sqlite/ledger.py`). A released step is never edited: a later
    change of these tables is a new step in EVENT_MIGRATIONS."""
    db.execute("""
        CREATE TABLE report_key (
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            report_id     TEXT NOT NULL,
            state         TEXT NOT NULL
                          CHECK (state IN ('OPEN', 'HELD', 'DELIVERING', 'DONE')),
            send_at       INTEGER NOT NULL,
            next_try      INTEGER,
            tries         INTEGER NOT NULL DEFAULT 0,
            last_error    TEXT,
            updated_at    INTEGER NOT NULL,
            PRIMARY KEY (report_domain, window_start, window_end)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX report_key_state ON report_key (state, updated_at)")
    db.execute("""
        CREATE TABLE outbound (
            report_id     TEXT PRIMARY KEY,
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            filename      TEXT NOT NULL,
            json          BLOB NOT NULL,
            payload       BLOB NOT NULL,
            message       BLOB,
            mail_from     TEXT,
            max_seq       INTEGER NOT NULL,
            rendered_at   INTEGER NOT NULL,
            FOREIGN KEY (report_domain, window_start, window_end)
                REFERENCES report_key (report_domain, window_start, window_end)
        )""")
    db.execute("""
        CREATE TABLE unit (
            report_id     TEXT NOT NULL REFERENCES outbound (report_id) ON DELETE CASCADE,
            idx           INTEGER NOT NULL,
            kind          TEXT NOT NULL CHECK (kind IN ('mail', 'https')),
            target        TEXT NOT NULL,
            status        TEXT NOT NULL
                          CHECK (status IN ('pending', 'delivered', 'failed', 'expired')),
            attempts      INTEGER NOT NULL DEFAULT 0,
            first_attempt INTEGER,
            last_attempt  INTEGER,
            next_attempt  INTEGER,
            last_error    TEXT,
            PRIMARY KEY (report_id, idx)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX unit_due ON unit (status, next_attempt)")
    db.execute("""
        CREATE TABLE sent_log (
            report_id     TEXT PRIMARY KEY,
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            result        TEXT NOT NULL,
            done_at       INTEGER NOT NULL
        )""")
    db.execute("CREATE INDEX sent_log_done ON sent_log (done_at)")


def _events_v3(connection: sqlite3.Connection) -> None:
    """Counters instead of event rows (spec 6.6). A window's events were rows spread over
    the whole file (events of all domains interleave), so deleting one report's events
    rewrote most pages of the table; its counters are a few adjacent rows. Existing events
    are counted into the new tables in their sequence order, so their reports do not change."""
    connection.execute("""
        CREATE TABLE report_window (
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            events        INTEGER NOT NULL,     -- accepted events counted here
            last_seq      INTEGER NOT NULL,     -- sequence number of the latest of them
            carried_destinations INTEGER NOT NULL,  -- 1: an event carried destinations
            PRIMARY KEY (report_domain, window_start, window_end),
            CHECK (window_start < window_end)
        ) WITHOUT ROWID""")
    # due_windows(): a range scan on window_end.
    connection.execute(
        "CREATE INDEX report_window_due ON report_window (window_end, report_domain, "
        "window_start)")
    # The policy and failure keys are their JSON text (`_policy_text`, `_detail_text`): one
    # column each, compared exactly, and decoded only when a report is built.
    connection.execute("""
        CREATE TABLE policy_count (
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            policy        TEXT NOT NULL,
            first_seq     INTEGER NOT NULL,
            successes     INTEGER NOT NULL,
            failures      INTEGER NOT NULL,
            PRIMARY KEY (report_domain, window_start, window_end, policy)
        ) WITHOUT ROWID""")
    connection.execute("""
        CREATE TABLE detail_count (
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            policy        TEXT NOT NULL,
            detail        TEXT NOT NULL,
            first_seq     INTEGER NOT NULL,
            first_index   INTEGER NOT NULL,     -- its index in that event's detail list
            count         INTEGER NOT NULL,
            PRIMARY KEY (report_domain, window_start, window_end, policy, detail)
        ) WITHOUT ROWID""")
    connection.execute("""
        CREATE TABLE destination_seen (
            report_domain TEXT NOT NULL,
            window_start  INTEGER NOT NULL,
            window_end    INTEGER NOT NULL,
            uri           TEXT NOT NULL,
            first_seq     INTEGER NOT NULL,
            first_index   INTEGER NOT NULL,
            PRIMARY KEY (report_domain, window_start, window_end, uri)
        ) WITHOUT ROWID""")
    # Idempotent intake: one short row per accepted event that has an id. window_end is
    # when the id may be forgotten (purge_frozen). No index on it: that would be a second
    # B-tree insert per event, for a delete that runs about once per window; the counter
    # `event_seen_oldest` (the smallest window_end stored) says when a scan is worth it.
    connection.execute("""
        CREATE TABLE event_seen (
            event_id   TEXT PRIMARY KEY,
            window_end INTEGER NOT NULL
        ) WITHOUT ROWID""")
    (highest,) = connection.execute(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'event'), "
        "(SELECT max(seq) FROM event), 0)").fetchone()
    tallies: dict[WindowKey, WindowTally] = {}
    ids: list[tuple[str, int]] = []
    for domain, start, end, seq, event_id, data in connection.execute(
            "SELECT report_domain, window_start, window_end, seq, event_id, data FROM event "
            "ORDER BY seq"):
        key = (str(domain), int(start), int(end))
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = WindowTally()
        tally.add(Event.from_dict(json.loads(data)), int(seq))
        if event_id is not None:
            ids.append((str(event_id), int(end)))
    write_tallies(connection, tallies)
    connection.executemany("INSERT INTO event_seen (event_id, window_end) VALUES (?, ?)", ids)
    connection.execute("INSERT INTO counter (name, value) VALUES ('event_seq', ?)",
                       (int(highest),))
    connection.execute("INSERT INTO counter (name, value) VALUES ('event_seen_oldest', ?)",
                       (min((end for _, end in ids), default=NO_END),))
    connection.execute("DROP TABLE event")


#: The migration hook: entry i brings a file from schema version i to i + 1. A new schema
#: change is appended here (never edit a released entry); opening an older file runs the
#: missing steps, in the same transaction as the version update.
EVENT_MIGRATIONS: Final[tuple[Migration, ...]] = (
    _events_v1, _events_v2, _events_v3)
EVENT_SCHEMA_VERSION: Final = len(EVENT_MIGRATIONS)


# --- the analysis store -------------------------------------------------------------------------

#: where the opener reads and writes the analysis schema's version (key `schema_version`)
ANALYSIS_VERSION_TABLE: Final = ("CREATE TABLE IF NOT EXISTS analysis_meta "
                                 "(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")

def _analysis_v1(db: sqlite3.Connection) -> None:
    # The raw input and the outcome of its last analysis; sha256 makes storing the very same
    # bytes twice a no-op.
    db.execute("""
        CREATE TABLE analysis_input (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            sha256    TEXT NOT NULL UNIQUE,
            received  INTEGER NOT NULL,
            expires   INTEGER,
            source    TEXT NOT NULL,
            name      TEXT,
            status    TEXT NOT NULL,
            code      TEXT,
            reason    TEXT,
            path      TEXT,
            raw       BLOB NOT NULL
        )""")
    # The normalised report is JSON (policies and details in input order, never re-sorted);
    # the columns beside it are what the queries and the duplicate rule need.
    db.execute("""
        CREATE TABLE analysis_report (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            input_id      INTEGER NOT NULL UNIQUE
                          REFERENCES analysis_input (id) ON DELETE CASCADE,
            organization  TEXT NOT NULL,
            report_id     TEXT NOT NULL,
            contact       TEXT,
            start_time    INTEGER NOT NULL,
            end_time      INTEGER NOT NULL,
            successes     INTEGER NOT NULL,
            failures      INTEGER NOT NULL,
            with_warnings INTEGER NOT NULL,
            envelope_from TEXT,
            envelope_to   TEXT,
            header_from   TEXT,
            header_to     TEXT,
            subject       TEXT,
            message_id    TEXT,
            dkim          TEXT NOT NULL,
            dkim_domains  TEXT NOT NULL,
            submitter     TEXT,
            report        TEXT NOT NULL,
            warnings      TEXT NOT NULL,
            UNIQUE (organization, report_id)
        )""")
    db.execute("CREATE INDEX analysis_report_end ON analysis_report (end_time, start_time)")
    # Per policy the summary of spec 7.8, so that overviews need not decode every report.
    db.execute("""
        CREATE TABLE analysis_policy (
            report        INTEGER NOT NULL REFERENCES analysis_report (id) ON DELETE CASCADE,
            position      INTEGER NOT NULL,
            type          TEXT NOT NULL,
            domain        TEXT,
            successes     INTEGER NOT NULL,
            failures      INTEGER NOT NULL,
            failure_types TEXT NOT NULL,
            mx_hosts      TEXT NOT NULL,
            receiving_ips TEXT NOT NULL,
            PRIMARY KEY (report, position)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE analysis_counter (
            name  TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID""")
    db.execute("INSERT INTO analysis_counter VALUES ('duplicates', 0)")


#: entry i brings a file from analysis schema version i to i + 1; append, never edit
ANALYSIS_MIGRATIONS: Final[tuple[Migration, ...]] = (_analysis_v1,)
ANALYSIS_SCHEMA_VERSION: Final = len(ANALYSIS_MIGRATIONS)
