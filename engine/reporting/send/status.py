"""`tlsrpt status`: the ledger as lines a person reads -- per report one line, then for
DELIVERING and DONE reports one line per delivery unit -- with the windows that still wait for
their send time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from engine.config.config import Config
from engine.reporting.send.build import report_id
from engine.reporting.send.scheduler import jitter
from engine.reporting.store.interface import EventStore
from engine.reporting.store.ledger import (DELIVERING, HELD, OPEN, PENDING, LedgerSnapshot,
                                           destination_text)

__all__ = ["LedgerRow", "ledger_rows", "rows_of"]


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One line of `tlsrpt status`: a report (destination None) or one of its units."""

    report_id: str
    domain: str
    window_start: int
    window_end: int
    state: str                     # OPEN, HELD, DELIVERING, DONE
    send_at: int | None
    destination: str | None        # "mailto:a, b" / the https URI; None for the report itself
    status: str | None             # the unit's status
    attempts: int
    last_error: str | None
    next_try: int | None
    done_at: int | None = None
    outcome: str | None = None     # DONE: delivered, partly delivered, not delivered, not sent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ledger_rows(store: EventStore, config: Config | None = None) -> list[LedgerRow]:
    """The ledger for `tlsrpt status`: every report the scheduler knows, and (with `config`,
    which gives `delay`) every window that still waits for its send time."""
    waiting: list[tuple[str, int, int, str, int | None]] = []
    for domain, start, end in store.due_windows(2 ** 62):
        key_id = report_id(domain, start, end)
        due = None
        if config is not None:
            due = end + jitter(key_id, config.delivery(domain).delay)
        waiting.append((domain, start, end, key_id, due))
    return rows_of(store.ledger.snapshot(), waiting)


def rows_of(snapshot: LedgerSnapshot,
            open_windows: Iterable[tuple[str, int, int, str, int | None]] = ()
            ) -> list[LedgerRow]:
    """Everything the ledger knows, for `tlsrpt status`: per report one row (destination
    None), followed for DELIVERING and DONE reports by one row per delivery unit.

    `open_windows` adds windows that hold events but have no ledger row yet, as
    (domain, start, end, report_id, send_at) -- the ledger alone cannot compute `send_at`
    (it depends on the configured `delay`)."""
    rows: list[LedgerRow] = []
    keys, units, logs = snapshot.keys, snapshot.units, snapshot.sent_log
    known = {(key.domain, key.start, key.end) for key in keys}
    fresh = [(domain, start, end, report_id, send_at)
             for domain, start, end, report_id, send_at in open_windows
             if (domain, start, end) not in known]
    entries: list[tuple[tuple[int, str, int], list[LedgerRow]]] = []
    for domain, start, end, report_id, send_at in fresh:
        entries.append(((end, domain, start), [LedgerRow(
            report_id, domain, start, end, OPEN, send_at, None, None, 0, None, send_at)]))
    for key in keys:
        group: list[LedgerRow] = []
        if key.state in (OPEN, HELD):
            group.append(LedgerRow(key.report_id, key.domain, key.start, key.end, key.state,
                                   key.send_at, None, None, key.tries, key.last_error,
                                   key.next_try))
        elif key.state == DELIVERING:
            mine = units.get(key.report_id, [])
            pending = [u.next_attempt for u in mine if u.status == PENDING and u.next_attempt]
            group.append(LedgerRow(key.report_id, key.domain, key.start, key.end, key.state,
                                   key.send_at, None, None, sum(u.attempts for u in mine),
                                   None, min(pending) if pending else None))
            group.extend(LedgerRow(
                key.report_id, key.domain, key.start, key.end, key.state, key.send_at,
                destination_text(u.kind, u.target), u.status, u.attempts, u.last_error,
                u.next_attempt if u.status == PENDING else None) for u in mine)
        else:
            result, done_at = logs.get(key.report_id, ({}, key.updated_at))
            outcome = result.get("outcome")
            group.append(LedgerRow(key.report_id, key.domain, key.start, key.end, key.state,
                                   key.send_at, None, None,
                                   sum(int(u.get("attempts", 0)) for u in result.get("units", [])),
                                   result.get("reason"), None, done_at, outcome))
            group.extend(LedgerRow(
                key.report_id, key.domain, key.start, key.end, key.state, key.send_at,
                destination_text(str(u["kind"]), str(u["target"])), str(u["status"]),
                int(u.get("attempts", 0)), u.get("last_error"), None, done_at, outcome)
                for u in result.get("units", []))
        entries.append(((key.end, key.domain, key.start), group))
    entries.sort(key=lambda entry: entry[0])
    for _, group in entries:
        rows.extend(group)
    return rows
