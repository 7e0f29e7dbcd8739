"""The event store: accepted TLS outcomes, grouped by (report domain, window), until reported.

`EventStore` is the interface the rest of the reporting core uses; `SqliteEventStore` is the
embedded default (stdlib `sqlite3`, DESIGN.md "Storage"). A PostgreSQL store for several MTAs
can implement the same protocol later without touching its callers.

Rules this module owns (spec/reporting.md 3.1, 3.3, 3.7 and 6):

* The store keeps counters, not events (spec 6.6 allows it): per report key, per policy key
  and per failure key, with the sequence number of the first event that produced each, which
  is all a report needs (`engine.reporting.counts`). An event is a few integer additions,
  and a report key is a handful of rows however many events it counted, so intake, building
  and deleting a report do not grow with the number of events.
* Intake is idempotent: the ids of accepted events are kept (table `event_seen`) and an
  `event_id` already seen is ignored. Ids outlive their window's counters (a redelivery after
  the report went out is still a duplicate) and are forgotten with the frozen markers.
* Every accepted event gets a monotonic sequence number; reports order policies and failure
  details by it (first-seen order, spec 3.7).
* Once a (domain, window) is frozen (the reporter rendered it), later events for it are *late*:
  dropped and counted in `late_events_dropped`. The frozen marker outlives the window's events
  (`delete_window` keeps it) so that events arriving after delivery are still dropped, until
  `purge_frozen` removes markers past their retention.
* Every public method is one transaction, so a process killed at any moment (SIGKILL included)
  leaves either the whole batch / deletion or none of it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, runtime_checkable

from engine.errors import EngineError
from engine.reporting.counts import PolicyCounts, WindowCounts, WindowTally
from engine.reporting.model import Event, FailureDetail, Policy

__all__ = ["EventStore", "SqliteEventStore", "StoreError", "SCHEMA_VERSION", "delete_window_in",
           "freeze_in", "window_mark_in"]

#: (report domain, window start, window end), the report key of spec 3.4
WindowKey = tuple[str, int, int]


class StoreError(EngineError, RuntimeError):
    """The store file cannot be used (for example it was written by a newer schema)."""


@runtime_checkable
class EventStore(Protocol):
    """What the intake and the scheduler need from an event store."""

    def add(self, events: Iterable[tuple[Event, int, int]]) -> int:
        """Store (event, window_start, window_end) items in one transaction; return how many
        were accepted (duplicates of a stored `event_id` and late events are not)."""
        ...

    def due_windows(self, now: int) -> list[WindowKey]:
        """Windows with `end <= now` that hold events and are not frozen, by end then domain."""
        ...

    def counts(self, domain: str, start: int, end: int) -> WindowCounts:
        """The window's counters (no policies when it holds no events)."""
        ...

    def freeze(self, domain: str, start: int, end: int) -> None:
        """Mark the window frozen: events added for it from now on are dropped as late."""
        ...

    def delete_window(self, domain: str, start: int, end: int) -> int:
        """Delete the window's counters (its frozen marker stays); return how many events
        they counted."""
        ...

    def purge_frozen(self, before: int) -> int:
        """Remove frozen markers of emptied windows that ended before `before`, and the event
        ids that only they still needed."""
        ...

    def stats(self) -> dict[str, int]:
        """Counts: events, windows, frozen_windows, late_events_dropped."""
        ...

    def close(self) -> None:
        ...


# --- schema and migrations ----------------------------------------------------------------------

def _schema_v1(connection: sqlite3.Connection) -> None:
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


def _schema_v2(db: sqlite3.Connection) -> None:
    """The scheduler's delivery ledger (spec 6.6) lives in the same file, so that rendering a
    report, freezing its window and, at the end, deleting its events are single
    transactions (the queries are in `ledger.py`). A released step is never edited: a later
    change of these tables is a new step in _MIGRATIONS."""
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


def _schema_v3(connection: sqlite3.Connection) -> None:
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
    _write_tallies(connection, tallies)
    connection.executemany("INSERT INTO event_seen (event_id, window_end) VALUES (?, ?)", ids)
    connection.execute("INSERT INTO counter (name, value) VALUES ('event_seq', ?)",
                       (int(highest),))
    connection.execute("INSERT INTO counter (name, value) VALUES ('event_seen_oldest', ?)",
                       (min((end for _, end in ids), default=_NO_END),))
    connection.execute("DROP TABLE event")


#: The migration hook: entry i brings a file from schema version i to i + 1. A new schema
#: change is appended here (never edit a released entry); opening an older file runs the
#: missing steps, in the same transaction as the version update.
_MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    _schema_v1, _schema_v2, _schema_v3)
SCHEMA_VERSION: Final = len(_MIGRATIONS)

#: `event_seen_oldest` when no id is stored
_NO_END: Final = 2 ** 62

_FREEZE: Final = ("INSERT OR IGNORE INTO frozen_window (report_domain, window_start, window_end) "
                  "VALUES (?, ?, ?)")
_KEY: Final = "report_domain = ? AND window_start = ? AND window_end = ?"
_WINDOW_TABLES: Final = ("policy_count", "detail_count", "destination_seen")


def freeze_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> None:
    """`freeze` inside a transaction the caller holds (the scheduler's RENDER step)."""
    db.execute(_FREEZE, (domain, start, end))


def delete_window_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> int:
    """`delete_window` inside a transaction the caller holds (the scheduler's DONE step)."""
    key = (domain, start, end)
    row = db.execute(f"SELECT events FROM report_window WHERE {_KEY}", key).fetchone()
    if row is None:
        return 0
    for table in _WINDOW_TABLES:
        db.execute(f"DELETE FROM {table} WHERE {_KEY}", key)
    db.execute(f"DELETE FROM report_window WHERE {_KEY}", key)
    return int(row[0])


def window_mark_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> tuple[int, int]:
    """(events counted, sequence number of the latest) of a window, (0, 0) when it has none.
    Sequence numbers only grow, so an unchanged mark means no event was added meanwhile."""
    row = db.execute(f"SELECT events, last_seq FROM report_window WHERE {_KEY}",
                     (domain, start, end)).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


# Frozen windows that overlap [lowest start, highest end) of a batch: intake normally sees
# open windows only, so this returns almost nothing, in one query per batch rather than one
# lookup per (domain, window).
_FROZEN_IN_SPAN: Final = ("SELECT report_domain, window_start, window_end FROM frozen_window "
                          "WHERE window_end > ? AND window_start < ?")
# The batch's ids that are already stored: one query with the ids as one JSON array
# parameter (no limit on the number of SQL variables, one index lookup per id in C).
_KNOWN_IDS: Final = ("SELECT s.event_id FROM json_each(?) AS j "
                     "JOIN event_seen AS s ON s.event_id = j.value")
_UPSERT_WINDOW: Final = (
    "INSERT INTO report_window (report_domain, window_start, window_end, events, last_seq, "
    "carried_destinations) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (report_domain, window_start, window_end) DO UPDATE SET "
    "events = events + excluded.events, last_seq = excluded.last_seq, "
    "carried_destinations = max(carried_destinations, excluded.carried_destinations)")
_UPSERT_POLICY: Final = (
    "INSERT INTO policy_count (report_domain, window_start, window_end, policy, first_seq, "
    "successes, failures) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (report_domain, window_start, window_end, policy) DO UPDATE SET "
    "successes = successes + excluded.successes, failures = failures + excluded.failures")
_UPSERT_DETAIL: Final = (
    "INSERT INTO detail_count (report_domain, window_start, window_end, policy, detail, "
    "first_seq, first_index, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (report_domain, window_start, window_end, policy, detail) DO UPDATE SET "
    "count = count + excluded.count")
_INSERT_DESTINATION: Final = (
    "INSERT OR IGNORE INTO destination_seen (report_domain, window_start, window_end, uri, "
    "first_seq, first_index) VALUES (?, ?, ?, ?, ?, ?)")
# One encoder for every key: json.dumps would rebuild it per call.
_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _policy_text(policy: Policy) -> str:
    return _ENCODE([policy.type, policy.strings, policy.domain, policy.mx_hosts])


def _detail_text(detail: FailureDetail) -> str:
    return _ENCODE(detail.key())


def _write_tallies(db: sqlite3.Connection, tallies: Mapping[WindowKey, WindowTally]) -> None:
    """Add one batch's counters to the stored ones (inside the caller's transaction)."""
    windows: list[tuple[str, int, int, int, int, int]] = []
    policies: list[tuple[str, int, int, str, int, int, int]] = []
    details: list[tuple[str, int, int, str, str, int, int, int]] = []
    destinations: list[tuple[str, int, int, str, int, int]] = []
    texts: dict[Policy, str] = {}
    for (domain, start, end), tally in tallies.items():
        windows.append((domain, start, end, tally.events, tally.last_seq,
                        int(tally.carried_destinations)))
        for policy, entry in tally.policies.items():
            text = texts.get(policy)
            if text is None:
                text = texts[policy] = _policy_text(policy)
            policies.append((domain, start, end, text, entry.first_seq, entry.successes,
                             entry.failures))
            details.extend((domain, start, end, text, _detail_text(detail), first, index, count)
                           for detail, (count, first, index) in entry.details.items())
        destinations.extend((domain, start, end, uri, first, index)
                            for uri, (first, index) in tally.destinations.items())
    db.executemany(_UPSERT_WINDOW, windows)
    db.executemany(_UPSERT_POLICY, policies)
    if details:
        db.executemany(_UPSERT_DETAIL, details)
    if destinations:
        db.executemany(_INSERT_DESTINATION, destinations)


class SqliteEventStore:
    """`EventStore` on one SQLite file (WAL). One object = one connection: use one object per
    thread or process; several may share the file (SQLite's locks serialise the writers)."""

    #: errors that mean the database itself failed (callers stop instead of skipping one key)
    database_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: the sqlite3 module must not open transactions behind our back;
        # each method states its own BEGIN so that "one method = one transaction" is visible.
        self._connection: sqlite3.Connection | None = sqlite3.connect(
            self.path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        try:
            self._configure(busy_timeout_ms)
            self._migrate()
        except BaseException:
            self._connection.close()
            self._connection = None
            raise

    # -- connection setup -------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StoreError(f"event store {self.path} is closed")
        return self._connection

    def _configure(self, busy_timeout_ms: int) -> None:
        db = self._db
        # busy_timeout first: even switching to WAL may have to wait for another opener.
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # WAL: readers never block the writer and a commit is one append to the log.
        # journal_mode is persistent in the file; only switch when needed, since the switch
        # takes an exclusive lock that would make a second opener wait.
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot use WAL journal (got {mode!r})")
        # NORMAL in WAL mode: no fsync per commit, yet the file is never corrupted by a crash;
        # only a power loss can forget the last commits (a process kill cannot).
        db.execute("PRAGMA synchronous = NORMAL")
        # Off by default in SQLite; on so that future tables (outbound, unit) are checked.
        db.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        db = self._db
        # IMMEDIATE: two processes opening a fresh file at once must not both run step 1.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} is newer than this "
                                 f"engine's {SCHEMA_VERSION}; upgrade the engine")
            for step in _MIGRATIONS[version:]:
                step(db)
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # -- hooks for the scheduler's ledger (same file, same connection) -----------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection (autocommit mode: open transactions with `transaction()` or
        `snapshot()`). The delivery ledger (engine.reporting.store.sqlite.ledger) keeps its tables here."""
        return self._db

    def transaction(self) -> _Transaction:
        """`with store.transaction() as db:` -- one write transaction (BEGIN IMMEDIATE)."""
        return self._write()

    def snapshot(self) -> _Transaction:
        """`with store.snapshot() as db:` -- one consistent read transaction."""
        return self._read()

    def _write(self) -> _Transaction:
        # Writers take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
        # reads and then writes can fail with SQLITE_BUSY at the upgrade, which busy_timeout
        # cannot retry; an immediate one simply waits its turn.
        return _Transaction(self._db, "BEGIN IMMEDIATE")

    def _read(self) -> _Transaction:
        # A deferred transaction is one consistent WAL snapshot across several SELECTs.
        return _Transaction(self._db, "BEGIN")

    # -- the interface ----------------------------------------------------------------------

    def add(self, events: Iterable[tuple[Event, int, int]]) -> int:
        # Check everything before the transaction: a bad item rejects the whole batch
        # without holding the write lock. (Comprehensions: this runs for every event.)
        items = list(events)
        for event, start, end in items:
            if not start <= event.time < end:
                raise ValueError(f"event time {event.time} is outside its window "
                                 f"[{start}, {end}) (domain {event.report_domain})")
        if not items:
            return 0
        ids = [event.event_id for event, _, _ in items if event.event_id is not None]
        with self._write() as db:
            # Frozen state and known ids are read inside the write transaction: a window
            # frozen (or an id stored) by another process a moment ago is seen, and cannot
            # change between the check and the write.
            span = (min(item[1] for item in items), max(item[2] for item in items))
            frozen = {(str(domain), int(start), int(end))
                      for domain, start, end in db.execute(_FROZEN_IN_SPAN, span)}
            known = ({str(row[0]) for row in db.execute(_KNOWN_IDS, (_ENCODE(ids),))}
                     if ids else set())
            (seq,) = db.execute("SELECT value FROM counter WHERE name = 'event_seq'").fetchone()
            first_seq = seq
            tallies: dict[WindowKey, WindowTally] = {}
            new_ids: list[tuple[str, int]] = []
            late_ids: set[str] = set()
            late = 0
            for event, start, end in items:
                event_id = event.event_id
                if event_id is not None and event_id in known:
                    continue  # a duplicate: already counted, in its report or this batch
                key = (event.report_domain, start, end)
                if frozen and key in frozen:
                    # late; an id counts as late once per batch
                    if event_id is None:
                        late += 1
                    elif event_id not in late_ids:
                        late_ids.add(event_id)
                        late += 1
                    continue
                seq += 1
                tally = tallies.get(key)
                if tally is None:
                    tally = tallies[key] = WindowTally()
                tally.add(event, seq)
                if event_id is not None:
                    known.add(event_id)
                    new_ids.append((event_id, end))
            if late:
                db.execute("UPDATE counter SET value = value + ? "
                           "WHERE name = 'late_events_dropped'", (late,))
            if tallies:
                _write_tallies(db, tallies)
                db.executemany("INSERT INTO event_seen (event_id, window_end) VALUES (?, ?)",
                               new_ids)
                if new_ids:
                    db.execute("UPDATE counter SET value = min(value, ?) "
                               "WHERE name = 'event_seen_oldest'",
                               (min(end for _, end in new_ids),))
                db.execute("UPDATE counter SET value = ? WHERE name = 'event_seq'", (seq,))
        return int(seq - first_seq)

    def due_windows(self, now: int) -> list[WindowKey]:
        # window_start breaks ties between windows of one domain with the same end (a domain
        # whose frequency changed, spec 3.3), so the order is total and deterministic.
        rows = self._db.execute(
            "SELECT report_domain, window_start, window_end FROM report_window AS w "
            "WHERE window_end <= ? AND NOT EXISTS (SELECT 1 FROM frozen_window AS f "
            "  WHERE f.report_domain = w.report_domain AND f.window_start = w.window_start "
            "  AND f.window_end = w.window_end) "
            "ORDER BY window_end, report_domain, window_start", (now,)).fetchall()
        return [(str(domain), int(start), int(end)) for domain, start, end in rows]

    def counts(self, domain: str, start: int, end: int) -> WindowCounts:
        key = (domain, start, end)
        with self._read() as db:
            window = db.execute(f"SELECT carried_destinations FROM report_window WHERE {_KEY}",
                                key).fetchone()
            if window is None:
                return WindowCounts((), None)
            policy_rows = db.execute(
                f"SELECT policy, successes, failures FROM policy_count WHERE {_KEY} "
                "ORDER BY first_seq", key).fetchall()
            detail_rows = db.execute(
                f"SELECT policy, detail, count FROM detail_count WHERE {_KEY} "
                "ORDER BY first_seq, first_index", key).fetchall()
            uris = [str(uri) for (uri,) in db.execute(
                f"SELECT uri FROM destination_seen WHERE {_KEY} "
                "ORDER BY first_seq, first_index", key)]
        details: dict[str, list[tuple[FailureDetail, int]]] = {}
        for policy, detail, count in detail_rows:
            details.setdefault(policy, []).append((_detail(detail), int(count)))
        return WindowCounts(
            policies=tuple(PolicyCounts(_policy(text), int(successes), int(failures),
                                        tuple(details.get(text, ())))
                           for text, successes, failures in policy_rows),
            destinations=tuple(uris) if window[0] else None)

    def freeze(self, domain: str, start: int, end: int) -> None:
        with self._write() as db:
            freeze_in(db, domain, start, end)

    def delete_window(self, domain: str, start: int, end: int) -> int:
        with self._write() as db:
            return delete_window_in(db, domain, start, end)

    def purge_frozen(self, before: int) -> int:
        # Age is the window's end (the store keeps no clock); callers pass now - retention.
        # A marker whose window still holds events stays: removing it would make the window
        # due again and send a second report for it.
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM frozen_window WHERE window_end < ? AND NOT EXISTS ("
                "  SELECT 1 FROM report_window AS w"
                "  WHERE w.report_domain = frozen_window.report_domain"
                "  AND w.window_start = frozen_window.window_start"
                "  AND w.window_end = frozen_window.window_end)", (before,))
            purged = cursor.rowcount
            # Ids are kept as long as their window may still see events: up to the same
            # cut-off, and never for a window that still holds counters.
            (cut,) = db.execute("SELECT min(?, coalesce((SELECT min(window_end) "
                                "FROM report_window), ?))", (before, before)).fetchone()
            (oldest,) = db.execute("SELECT value FROM counter "
                                   "WHERE name = 'event_seen_oldest'").fetchone()
            if oldest < cut:  # a scan of the table, so only when something is to go
                db.execute("DELETE FROM event_seen WHERE window_end < ?", (cut,))
                db.execute("UPDATE counter SET value = coalesce((SELECT min(window_end) "
                           "FROM event_seen), ?) WHERE name = 'event_seen_oldest'",
                           (_NO_END,))
            return purged

    def stats(self) -> dict[str, int]:
        with self._read() as db:
            events, windows = db.execute(
                "SELECT coalesce(sum(events), 0), count(*) FROM report_window").fetchone()
            (frozen,) = db.execute("SELECT count(*) FROM frozen_window").fetchone()
            (late,) = db.execute(
                "SELECT value FROM counter WHERE name = 'late_events_dropped'").fetchone()
        return {"events": int(events), "windows": int(windows), "frozen_windows": int(frozen),
                "late_events_dropped": int(late)}

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class _Transaction:
    """`with` block = one transaction: COMMIT on success, ROLLBACK on any exception."""

    def __init__(self, connection: sqlite3.Connection, begin: str) -> None:
        self._connection = connection
        self._begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute(self._begin)
        return self._connection

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self._connection.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # Some errors (a full disk, an I/O error) make SQLite roll back on its own; a second
        # ROLLBACK would then fail and hide the original error.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")


def _policy(text: str) -> Policy:
    kind, strings, domain, hosts = json.loads(text)
    return Policy(str(kind), tuple(strings), str(domain), tuple(hosts))


def _detail(text: str) -> FailureDetail:
    result_type, *fields = json.loads(text)
    return FailureDetail(str(result_type), *fields)
