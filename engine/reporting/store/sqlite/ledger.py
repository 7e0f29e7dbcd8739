"""The delivery ledger on SQLite: `SqliteLedger` implements
`engine.reporting.store.interface.Ledger` (spec 6.1, 6.4, 6.6).

The ledger's tables (`sqlite/schema.py`, event schema step 2) live in the event store's file and
are used on the store's own connection, so that the two steps that must be atomic across events
and ledger are single transactions:

* RENDER: the outbound record (JSON, gzip payload, the *signed* message), its delivery units
  (status `pending`), the report key's state DELIVERING and the window's frozen marker;
* DONE: the window's events and its outbound record (units included) are deleted and a
  sent-log row keeps what happened.

Every other change (one attempt's result, a held or deferred key) is its own transaction too.
Data access only; the policy (when, what, backoff) is the scheduler's.

Tables: `report_key` (one row per key, its state), `outbound` (the rendered report of a
DELIVERING key: retries always send these bytes), `unit` (one row per delivery unit) and
`sent_log` (the outcome of every DONE key, as JSON).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from engine.reporting.store.ledger import (DELIVERING, DONE, HELD, OPEN, UNIT_STATES, DueUnit,
                                           KeyRow, LedgerSnapshot, UnitRow)
from engine.reporting.store.sqlite.transaction import Database
from engine.reporting.store.sqlite.windows import delete_window_in, freeze_in, window_mark_in

__all__ = ["SqliteLedger"]

_UNIT_COLUMNS: Final = ("report_id, idx, kind, target, status, attempts, first_attempt, "
                        "last_attempt, next_attempt, last_error")
_KEY_COLUMNS: Final = ("report_domain, window_start, window_end, report_id, state, send_at, "
                       "next_try, tries, last_error, updated_at")


def _unit(row: Sequence[Any]) -> UnitRow:
    return UnitRow(str(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),
                   int(row[5]), row[6], row[7], row[8], row[9])


def _key(row: Sequence[Any]) -> KeyRow:
    return KeyRow(str(row[0]), int(row[1]), int(row[2]), str(row[3]), str(row[4]),
                  int(row[5]), row[6], int(row[7]), row[8], int(row[9]))


class SqliteLedger:
    """The ledger of one SQLite event store, on its connection."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- reading ----------------------------------------------------------------------------


    def key_row(self, domain: str, start: int, end: int) -> KeyRow | None:
        row = self._db.connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM report_key WHERE report_domain = ? AND window_start = ? "
            "AND window_end = ?", (domain, start, end)).fetchone()
        return None if row is None else _key(row)


    def key_rows(self, states: Iterable[str]) -> list[KeyRow]:
        wanted = tuple(states)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM report_key WHERE state IN ({marks}) "
            "ORDER BY window_end, report_domain, window_start", wanted).fetchall()
        return [_key(row) for row in rows]


    def event_mark(self, domain: str, start: int, end: int) -> tuple[int, int]:
        """(count, highest sequence number) of the window's events. Read before the events are
        built into a report and compared again inside the RENDER transaction: since sequence
        numbers only grow, an equal mark means no event arrived in between (an event that did
        would otherwise be deleted at DONE without ever being reported)."""
        return window_mark_in(self._db.connection, domain, start, end)


    def units_of(self, report_id: str) -> list[UnitRow]:
        rows = self._db.connection.execute(
            f"SELECT {_UNIT_COLUMNS} FROM unit WHERE report_id = ? ORDER BY idx",
            (report_id,)).fetchall()
        return [_unit(row) for row in rows]


    def due_units(self, now: int) -> list[DueUnit]:
        """Pending units with `next_attempt <= now`: oldest window first, then by report and in
        unit order (the order of their first destination, spec 5.2)."""
        rows = self._db.connection.execute(
            "SELECT u.report_id, u.idx, u.kind, u.target, u.status, u.attempts, u.first_attempt, "
            "u.last_attempt, u.next_attempt, u.last_error, o.report_domain, o.window_start, "
            "o.window_end, o.payload, o.message, o.mail_from "
            "FROM unit AS u JOIN outbound AS o ON o.report_id = u.report_id "
            "WHERE u.status = 'pending' AND u.next_attempt <= ? "
            "ORDER BY o.window_end, o.report_domain, o.window_start, u.idx", (now,)).fetchall()
        return [DueUnit(_unit(row[:10]), str(row[10]), int(row[11]), int(row[12]), bytes(row[13]),
                        None if row[14] is None else bytes(row[14]), row[15]) for row in rows]


    def finishable(self) -> list[KeyRow]:
        """DELIVERING keys whose every unit is final (delivered, failed, expired)."""
        rows = self._db.connection.execute(
            f"SELECT {', '.join('k.' + c.strip() for c in _KEY_COLUMNS.split(','))} "
            "FROM report_key AS k WHERE k.state = 'DELIVERING' AND NOT EXISTS ("
            "  SELECT 1 FROM unit AS u WHERE u.report_id = k.report_id AND u.status = 'pending') "
            "ORDER BY k.window_end, k.report_domain, k.window_start").fetchall()
        return [_key(row) for row in rows]


    def outbound_bytes(self, report_id: str) -> tuple[bytes, bytes | None] | None:
        """(payload, signed message) of a rendered report, or None."""
        row = self._db.connection.execute(
            "SELECT payload, message FROM outbound WHERE report_id = ?", (report_id,)).fetchone()
        if row is None:
            return None
        return bytes(row[0]), None if row[1] is None else bytes(row[1])


    def next_due(self) -> int | None:
        """The earliest pending unit attempt or deferred key retry (None: nothing waiting)."""
        row = self._db.connection.execute(
            "SELECT min(t) FROM (SELECT min(next_attempt) AS t FROM unit WHERE status = 'pending' "
            "UNION ALL SELECT min(next_try) FROM report_key WHERE state IN ('OPEN', 'HELD'))"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])


    # -- writing ----------------------------------------------------------------------------


    def note_key(self, *, domain: str, start: int, end: int, report_id: str,
                 state: str, send_at: int, next_try: int | None, error: str | None,
                 now: int) -> None:
        """Record that a due key could not be rendered yet: OPEN (try again at `next_try`) or HELD
        (signing failed). Its events stay, unfrozen."""
        if state not in (OPEN, HELD):
            raise ValueError(f"note_key is for OPEN and HELD keys, not {state}")
        with self._db.transaction() as db:
            db.execute(
                f"INSERT INTO report_key ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT (report_domain, window_start, window_end) DO UPDATE SET "
                "report_id = excluded.report_id, state = excluded.state, "
                "send_at = excluded.send_at, next_try = excluded.next_try, "
                "tries = report_key.tries + 1, last_error = excluded.last_error, "
                "updated_at = excluded.updated_at",
                (domain, start, end, report_id, state, send_at, next_try, error, now))


    def render(self, *, domain: str, start: int, end: int, report_id: str,
               send_at: int, mark: tuple[int, int], filename: str, json_bytes: bytes,
               payload: bytes, message: bytes | None, mail_from: str | None,
               units: Sequence[tuple[str, str]], now: int) -> bool:
        """The RENDER transaction (spec 6.1): outbound record, units `pending` with
        `next_attempt = now`, key DELIVERING, window frozen. Returns False (and changes nothing)
        when the window's events changed since `mark` was taken or it is already frozen; the
        caller renders it again."""
        if not units:
            raise ValueError("a rendered report needs at least one delivery unit")
        with self._db.transaction() as db:
            if window_mark_in(db, domain, start, end) != mark or _frozen_in(db, domain, start, end):
                return False
            _upsert_key(db, domain, start, end, report_id, DELIVERING, send_at, now)
            db.execute("DELETE FROM outbound WHERE report_id = ?", (report_id,))  # none expected
            db.execute(
                "INSERT INTO outbound (report_id, report_domain, window_start, window_end, "
                "filename, json, payload, message, mail_from, max_seq, rendered_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report_id, domain, start, end, filename, json_bytes, payload, message,
                 mail_from, mark[1], now))
            db.executemany(
                "INSERT INTO unit (report_id, idx, kind, target, status, attempts, next_attempt) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?)",
                [(report_id, index, kind, target, now) for index, (kind, target) in
                 enumerate(units)])
            freeze_in(db, domain, start, end)
        return True


    def record_attempt(self, unit: UnitRow, *, status: str, at: int,
                       next_attempt: int | None, error: str | None) -> bool:
        """Store the result of one attempt of `unit` (made at `at`). Returns False when the unit is
        no longer pending (then nothing is changed)."""
        if status not in UNIT_STATES:
            raise ValueError(f"unknown unit status {status!r}")
        with self._db.transaction() as db:
            cursor = db.execute(
                "UPDATE unit SET status = ?, attempts = attempts + 1, "
                "first_attempt = coalesce(first_attempt, ?), last_attempt = ?, next_attempt = ?, "
                "last_error = ? WHERE report_id = ? AND idx = ? AND status = 'pending'",
                (status, at, at, next_attempt, error, unit.report_id, unit.idx))
            return cursor.rowcount == 1


    def finish(self, *, domain: str, start: int, end: int, report_id: str,
               send_at: int, result: Mapping[str, Any], now: int) -> int:
        """The DONE transaction (spec 6.1, 6.2): delete the window's events and its outbound record
        (units included), mark the key DONE (and its window frozen, for a key that was never
        rendered), write the sent-log row. Returns how many events were deleted."""
        with self._db.transaction() as db:
            deleted = delete_window_in(db, domain, start, end)
            db.execute("DELETE FROM unit WHERE report_id = ?", (report_id,))
            db.execute("DELETE FROM outbound WHERE report_id = ?", (report_id,))
            _upsert_key(db, domain, start, end, report_id, DONE, send_at, now)
            freeze_in(db, domain, start, end)
            db.execute(
                "INSERT INTO sent_log (report_id, report_domain, window_start, window_end, result, "
                "done_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO UPDATE SET "
                "result = excluded.result, done_at = excluded.done_at",
                (report_id, domain, start, end, json.dumps(result, sort_keys=True), now))
        return deleted


    def purge_done(self, keys: Iterable[tuple[str, int, int]]) -> int:
        """Forget DONE keys (their key row and sent-log row) whose retention has passed."""
        removed = 0
        with self._db.transaction() as db:
            for domain, start, end in keys:
                found = db.execute(
                    "SELECT report_id FROM report_key WHERE report_domain = ? AND window_start = ? "
                    "AND window_end = ? AND state = 'DONE'", (domain, start, end)).fetchone()
                if found is None:
                    continue
                db.execute("DELETE FROM sent_log WHERE report_id = ?", (found[0],))
                db.execute("DELETE FROM report_key WHERE report_domain = ? AND window_start = ? "
                           "AND window_end = ?", (domain, start, end))
                removed += 1
        return removed

    # -- status -----------------------------------------------------------------------------

    def snapshot(self) -> LedgerSnapshot:
        with self._db.snapshot() as db:
            keys = tuple(_key(row) for row in db.execute(
                f"SELECT {_KEY_COLUMNS} FROM report_key ORDER BY window_end, report_domain, "
                "window_start"))
            sent_log = {str(report_id): (json.loads(result), int(done_at))
                        for report_id, result, done_at
                        in db.execute("SELECT report_id, result, done_at FROM sent_log")}
            units: dict[str, list[UnitRow]] = {}
            for row in db.execute(f"SELECT {_UNIT_COLUMNS} FROM unit ORDER BY report_id, idx"):
                unit = _unit(row)
                units.setdefault(unit.report_id, []).append(unit)
        return LedgerSnapshot(keys, units, sent_log)


def _frozen_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> bool:
    return db.execute("SELECT 1 FROM frozen_window WHERE report_domain = ? AND window_start = ? "
                      "AND window_end = ?", (domain, start, end)).fetchone() is not None


def _upsert_key(db: sqlite3.Connection, domain: str, start: int, end: int, report_id: str,
                state: str, send_at: int, now: int) -> None:
    db.execute(
        f"INSERT INTO report_key ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, 1, NULL, ?) "
        "ON CONFLICT (report_domain, window_start, window_end) DO UPDATE SET "
        "report_id = excluded.report_id, state = excluded.state, send_at = excluded.send_at, "
        "next_try = NULL, tries = report_key.tries + 1, "
        "last_error = CASE WHEN excluded.state = 'DONE' THEN report_key.last_error END, "
        "updated_at = excluded.updated_at",
        (domain, start, end, report_id, state, send_at, now))


