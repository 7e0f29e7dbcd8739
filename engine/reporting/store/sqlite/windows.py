"""Window changes that must run inside a transaction the caller holds: the event store's own
methods use them, and so does the ledger, whose RENDER and DONE steps change a window and the
ledger in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Final

from engine.reporting.counts import WindowTally
from engine.reporting.model import FailureDetail, Policy
from engine.reporting.store.interface import WindowKey

__all__ = ["ENCODE", "KEY_MATCH", "NO_END", "delete_window_in", "freeze_in", "window_mark_in",
           "write_tallies"]

#: `event_seen_oldest` when no id is stored
NO_END: Final = 2 ** 62

_FREEZE: Final = ("INSERT OR IGNORE INTO frozen_window (report_domain, window_start, window_end) "
                  "VALUES (?, ?, ?)")
KEY_MATCH: Final = "report_domain = ? AND window_start = ? AND window_end = ?"
_WINDOW_TABLES: Final = ("policy_count", "detail_count", "destination_seen")


def freeze_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> None:
    """`freeze` inside a transaction the caller holds (the scheduler's RENDER step)."""
    db.execute(_FREEZE, (domain, start, end))


def delete_window_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> int:
    """`delete_window` inside a transaction the caller holds (the scheduler's DONE step)."""
    key = (domain, start, end)
    row = db.execute(f"SELECT events FROM report_window WHERE {KEY_MATCH}", key).fetchone()
    if row is None:
        return 0
    for table in _WINDOW_TABLES:
        db.execute(f"DELETE FROM {table} WHERE {KEY_MATCH}", key)
    db.execute(f"DELETE FROM report_window WHERE {KEY_MATCH}", key)
    return int(row[0])


def window_mark_in(db: sqlite3.Connection, domain: str, start: int, end: int) -> tuple[int, int]:
    """(events counted, sequence number of the latest) of a window, (0, 0) when it has none.
    Sequence numbers only grow, so an unchanged mark means no event was added meanwhile."""
    row = db.execute(f"SELECT events, last_seq FROM report_window WHERE {KEY_MATCH}",
                     (domain, start, end)).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


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
ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _policy_text(policy: Policy) -> str:
    return ENCODE([policy.type, policy.strings, policy.domain, policy.mx_hosts])


def _detail_text(detail: FailureDetail) -> str:
    return ENCODE(detail.key())


def write_tallies(db: sqlite3.Connection, tallies: Mapping[WindowKey, WindowTally]) -> None:
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
