"""The event store: accepted TLS outcomes, grouped by (report domain, window), until reported.

`SqliteEventStore` implements `engine.reporting.store.interface.EventStore` on one SQLite file
(stdlib `sqlite3`), the embedded default; its delivery ledger (`SqliteLedger`) lives in the same
file and on the same connection.

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

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

from engine.reporting.counts import PolicyCounts, WindowCounts, WindowTally
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.store.interface import StoreError, WindowKey
from engine.reporting.store.sqlite.ledger import SqliteLedger
from engine.reporting.store.sqlite.schema import EVENT_MIGRATIONS as _MIGRATIONS
from engine.reporting.store.sqlite.schema import EVENT_SCHEMA_VERSION as SCHEMA_VERSION
from engine.reporting.store.sqlite.schema import EVENT_VERSION_TABLE
from engine.reporting.store.sqlite.transaction import Transaction
from engine.reporting.store.sqlite.windows import (ENCODE, KEY_MATCH, NO_END, delete_window_in,
                                                   freeze_in, window_mark_in, write_tallies)

__all__ = ["SCHEMA_VERSION", "SqliteEventStore"]

# Frozen windows that overlap [lowest start, highest end) of a batch: intake normally sees
# open windows only, so this returns almost nothing, in one query per batch rather than one
# lookup per (domain, window).
_FROZEN_IN_SPAN: Final = ("SELECT report_domain, window_start, window_end FROM frozen_window "
                          "WHERE window_end > ? AND window_start < ?")
# The batch's ids that are already stored: one query with the ids as one JSON array
# parameter (no limit on the number of SQL variables, one index lookup per id in C).
_KNOWN_IDS: Final = ("SELECT s.event_id FROM json_each(?) AS j "
                     "JOIN event_seen AS s ON s.event_id = j.value")
class SqliteEventStore:
    """`EventStore` on one SQLite file (WAL). One object = one connection: use one object per
    thread or process; several may share the file (SQLite's locks serialise the writers)."""

    #: errors that mean the database itself failed (callers stop instead of skipping one key)
    database_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._ledger = SqliteLedger(self)
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
            db.execute(EVENT_VERSION_TABLE)
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

    # -- the ledger and the pass lock -------------------------------------------------------

    @property
    def ledger(self) -> SqliteLedger:
        """The delivery ledger in this file, on this connection."""
        return self._ledger

    @contextlib.contextmanager
    def run_lock(self) -> Iterator[bool]:
        """Hold `<db>-scheduler.lock` exclusively (flock); yields False when another pass has
        it. A file lock beside the database is enough: every process sharing a SQLite file
        runs on the same machine."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield True
            return
        descriptor = os.open(f"{self.path}-scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # closing the last descriptor releases the lock

    # -- hooks for the ledger (same file, same connection) ----------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection (autocommit mode: open transactions with `transaction()` or
        `snapshot()`). The delivery ledger (`SqliteLedger`) keeps its tables here."""
        return self._db

    def transaction(self) -> Transaction:
        """`with store.transaction() as db:` -- one write transaction (BEGIN IMMEDIATE)."""
        return self._write()

    def snapshot(self) -> Transaction:
        """`with store.snapshot() as db:` -- one consistent read transaction."""
        return self._read()

    def _write(self) -> Transaction:
        # Writers take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
        # reads and then writes can fail with SQLITE_BUSY at the upgrade, which busy_timeout
        # cannot retry; an immediate one simply waits its turn.
        return Transaction(self._db, "BEGIN IMMEDIATE")

    def _read(self) -> Transaction:
        # A deferred transaction is one consistent WAL snapshot across several SELECTs.
        return Transaction(self._db, "BEGIN")

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
            known = ({str(row[0]) for row in db.execute(_KNOWN_IDS, (ENCODE(ids),))}
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
                write_tallies(db, tallies)
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
            window = db.execute(f"SELECT carried_destinations FROM report_window WHERE {KEY_MATCH}",
                                key).fetchone()
            if window is None:
                return WindowCounts((), None)
            policy_rows = db.execute(
                f"SELECT policy, successes, failures FROM policy_count WHERE {KEY_MATCH} "
                "ORDER BY first_seq", key).fetchall()
            detail_rows = db.execute(
                f"SELECT policy, detail, count FROM detail_count WHERE {KEY_MATCH} "
                "ORDER BY first_seq, first_index", key).fetchall()
            uris = [str(uri) for (uri,) in db.execute(
                f"SELECT uri FROM destination_seen WHERE {KEY_MATCH} "
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
                           (NO_END,))
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


def _policy(text: str) -> Policy:
    kind, strings, domain, hosts = json.loads(text)
    return Policy(str(kind), tuple(strings), str(domain), tuple(hosts))


def _detail(text: str) -> FailureDetail:
    result_type, *fields = json.loads(text)
    return FailureDetail(str(result_type), *fields)
