"""The event store: accepted TLS outcomes, grouped by (report domain, window), until reported.

`EventStore` is the interface the rest of the reporting core uses; `SqliteEventStore` is the
embedded default (stdlib `sqlite3`, DESIGN.md "Storage"). A PostgreSQL store for several MTAs
can implement the same protocol later without touching its callers.

Rules this module owns (spec/reporting.md 3.1, 3.3, 3.7 and 6):

* Intake is idempotent: an `event_id` already stored is ignored (UNIQUE + INSERT OR IGNORE).
* Every accepted event gets a monotonic sequence number; reports order policies and failure
  details by it, so `events()` returns events in that order.
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
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, runtime_checkable

from engine.errors import EngineError
from engine.reporting.model import Event

__all__ = ["EventStore", "SqliteEventStore", "StoreError", "SCHEMA_VERSION", "delete_window_in",
           "freeze_in"]

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

    def events(self, domain: str, start: int, end: int) -> list[Event]:
        """The window's events in sequence (acceptance) order."""
        ...

    def freeze(self, domain: str, start: int, end: int) -> None:
        """Mark the window frozen: events added for it from now on are dropped as late."""
        ...

    def delete_window(self, domain: str, start: int, end: int) -> int:
        """Delete the window's events (its frozen marker stays); return how many."""
        ...

    def purge_frozen(self, before: int) -> int:
        """Remove frozen markers of emptied windows that ended before `before`."""
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


def _schema_v2(connection: sqlite3.Connection) -> None:
    # The scheduler's delivery ledger (spec 6.6) lives in the same file, so that rendering a
    # report, freezing its window and, at the end, deleting its events are single
    # transactions. Its tables are defined next to the code that uses them (imported here,
    # not at the top: ledger imports this module).
    from engine.reporting.ledger import create_schema_v2

    create_schema_v2(connection)


#: The migration hook: entry i brings a file from schema version i to i + 1. A new schema
#: change is appended here (never edit a released entry); opening an older file runs the
#: missing steps, in the same transaction as the version update.
_MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (_schema_v1, _schema_v2)
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_FREEZE: Final = ("INSERT OR IGNORE INTO frozen_window (report_domain, window_start, window_end) "
                  "VALUES (?, ?, ?)")
_DELETE_WINDOW: Final = ("DELETE FROM event WHERE report_domain = ? AND window_start = ? "
                         "AND window_end = ?")


def freeze_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> None:
    """`freeze` inside a transaction the caller holds (the scheduler's RENDER step)."""
    db.execute(_FREEZE, (domain, start, end))


def delete_window_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> int:
    """`delete_window` inside a transaction the caller holds (the scheduler's DONE step)."""
    return db.execute(_DELETE_WINDOW, (domain, start, end)).rowcount


_INSERT: Final = ("INSERT OR IGNORE INTO event "
                  "(event_id, report_domain, window_start, window_end, time, data) "
                  "VALUES (?, ?, ?, ?, ?, ?)")
# Frozen windows that overlap [lowest start, highest end) of a batch: intake normally sees
# open windows only, so this returns almost nothing, in one query per batch rather than one
# lookup per (domain, window).
_FROZEN_IN_SPAN: Final = ("SELECT report_domain, window_start, window_end FROM frozen_window "
                          "WHERE window_end > ? AND window_start < ?")
# One encoder for every event: json.dumps would rebuild it per call.
_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SqliteEventStore:
    """`EventStore` on one SQLite file (WAL). One object = one connection: use one object per
    thread or process; several may share the file (SQLite's locks serialise the writers)."""

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
        `snapshot()`). The delivery ledger (engine.reporting.ledger) keeps its tables here."""
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
        # Serialise and check everything before the transaction: a bad item rejects the whole
        # batch without holding the write lock, and the lock is held only for the inserts.
        rows: list[tuple[str | None, str, int, int, int, str]] = []
        for event, start, end in events:
            if not start <= event.time < end:
                raise ValueError(f"event time {event.time} is outside its window "
                                 f"[{start}, {end}) (domain {event.report_domain})")
            rows.append((event.event_id, event.report_domain, start, end, event.time,
                         _ENCODE(event.to_dict())))
        if not rows:
            return 0
        with self._write() as db:
            # Frozen state is read inside the write transaction: a window frozen by another
            # process a moment ago is seen, and cannot be frozen between check and insert.
            span = (min(row[2] for row in rows), max(row[3] for row in rows))
            frozen = {(str(domain), int(start), int(end))
                      for domain, start, end in db.execute(_FROZEN_IN_SPAN, span)}
            if frozen:
                kept, late = self._split_late(db, rows, frozen)
                if late:
                    db.execute("UPDATE counter SET value = value + ? "
                               "WHERE name = 'late_events_dropped'", (late,))
                rows = kept
            # executemany's rowcount sums the rows actually inserted: ignored duplicates
            # do not count, so it is exactly the number accepted.
            accepted = db.executemany(_INSERT, rows).rowcount if rows else 0
        return max(accepted, 0)

    @staticmethod
    def _split_late(
        db: sqlite3.Connection,
        rows: list[tuple[str | None, str, int, int, int, str]],
        frozen: set[WindowKey],
    ) -> tuple[list[tuple[str | None, str, int, int, int, str]], int]:
        """Rows to insert, and how many are late. A redelivered event whose id is already
        stored (or accepted earlier in this batch) is a duplicate, not a late event: it is
        counted in its report. An id counts as late once per batch."""
        kept: list[tuple[str | None, str, int, int, int, str]] = []
        seen: set[str] = set()
        late = 0
        for row in rows:
            event_id = row[0]
            if (row[1], row[2], row[3]) not in frozen:
                kept.append(row)
                if event_id is not None:
                    seen.add(event_id)
            elif event_id is None:
                late += 1
            elif event_id not in seen:
                seen.add(event_id)
                if db.execute("SELECT 1 FROM event WHERE event_id = ?",
                              (event_id,)).fetchone() is None:
                    late += 1
        return kept, late

    def due_windows(self, now: int) -> list[WindowKey]:
        # window_start breaks ties between windows of one domain with the same end (a domain
        # whose frequency changed, spec 3.3), so the order is total and deterministic.
        rows = self._db.execute(
            "SELECT report_domain, window_start, window_end FROM event AS e "
            "WHERE window_end <= ? AND NOT EXISTS (SELECT 1 FROM frozen_window AS f "
            "  WHERE f.report_domain = e.report_domain AND f.window_start = e.window_start "
            "  AND f.window_end = e.window_end) "
            "GROUP BY window_end, report_domain, window_start "
            "ORDER BY window_end, report_domain, window_start", (now,)).fetchall()
        return [(str(domain), int(start), int(end)) for domain, start, end in rows]

    def events(self, domain: str, start: int, end: int) -> list[Event]:
        rows = self._db.execute(
            "SELECT data FROM event WHERE report_domain = ? AND window_start = ? "
            "AND window_end = ? ORDER BY seq", (domain, start, end)).fetchall()
        return [Event.from_dict(json.loads(data)) for (data,) in rows]

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
                "  SELECT 1 FROM event AS e WHERE e.report_domain = frozen_window.report_domain"
                "  AND e.window_start = frozen_window.window_start"
                "  AND e.window_end = frozen_window.window_end)", (before,))
            return cursor.rowcount

    def stats(self) -> dict[str, int]:
        with self._read() as db:
            events, windows = db.execute(
                "SELECT count(*), (SELECT count(*) FROM (SELECT 1 FROM event "
                "GROUP BY report_domain, window_start, window_end)) FROM event").fetchone()
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
