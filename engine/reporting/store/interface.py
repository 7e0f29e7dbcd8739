"""The store interface: what the intake, the scheduler, `tlsrpt status` and the analysis need
from a store, whatever database holds it.

Three protocols, one per kind of data:

* `EventStore` -- accepted TLS outcomes as counters per (report domain, window) until reported
  (spec 3.1, 3.3, 3.7, 6): idempotent intake, late events dropped once a window is frozen,
  every method one transaction. It carries the delivery `Ledger` of the same database (`ledger`
  attribute), because rendering a report, freezing its window and finally deleting its events
  must be single transactions across both.
* `Ledger` -- the scheduler's delivery ledger (spec 6.1, 6.4, 6.6); its values are the records
  of `engine.reporting.store.ledger`.
* `AnalysisStore` -- reports that others sent us, with their raw inputs (spec 7.8); its
  values are the records of `engine.reporting.store.reports`.

A backend implements all three (see `engine.reporting.store.sqlite`) and is chosen by
`engine.reporting.store.open`; nothing outside `engine.reporting.store` names a backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from engine.errors import EngineError
from engine.reporting.analysis.analyze import Analysis
from engine.reporting.counts import WindowCounts
from engine.reporting.model import Event
from engine.reporting.store.ledger import DueUnit, KeyRow, LedgerSnapshot, UnitRow
from engine.reporting.store.reports import KeptInput, StoredReport

__all__ = ["AnalysisStore", "AnalysisStoreError", "EventStore", "Ledger", "StoreError",
           "WindowKey"]

#: (report domain, window start, window end), the report key of spec 3.4
WindowKey = tuple[str, int, int]


class StoreError(EngineError, RuntimeError):
    """The store cannot be used (for example it was written by a newer schema)."""


class AnalysisStoreError(StoreError):
    """The analysis store cannot be used (for example a newer schema, or not a database)."""


@runtime_checkable
class Ledger(Protocol):
    """The delivery ledger. Every writing method is one transaction."""

    def key_row(self, domain: str, start: int, end: int) -> KeyRow | None:
        """The window's report key, or None when the scheduler has not looked at it yet."""
        ...

    def key_rows(self, states: Iterable[str]) -> list[KeyRow]:
        """Report keys in these states, by window end, domain, window start."""
        ...

    def event_mark(self, domain: str, start: int, end: int) -> tuple[int, int]:
        """(count, highest sequence number) of the window's events. Read before the events are
        built into a report and compared again inside `render`: since sequence numbers only
        grow, an equal mark means no event arrived in between (an event that did would
        otherwise be deleted at DONE without ever being reported)."""
        ...

    def units_of(self, report_id: str) -> list[UnitRow]:
        """The report's delivery units, in unit order."""
        ...

    def due_units(self, now: int) -> list[DueUnit]:
        """Pending units with `next_attempt <= now`: oldest window first, then by report and
        in unit order (the order of their first destination, spec 5.2)."""
        ...

    def finishable(self) -> list[KeyRow]:
        """DELIVERING keys whose every unit is final (delivered, failed, expired)."""
        ...

    def outbound_bytes(self, report_id: str) -> tuple[bytes, bytes | None] | None:
        """(payload, signed message) of a rendered report, or None."""
        ...

    def next_due(self) -> int | None:
        """The earliest pending unit attempt or deferred key retry (None: nothing waiting)."""
        ...

    def note_key(self, *, domain: str, start: int, end: int, report_id: str, state: str,
                 send_at: int, next_try: int | None, error: str | None, now: int) -> None:
        """Record that a due key could not be rendered yet: OPEN (try again at `next_try`) or
        HELD (signing failed). Its events stay, unfrozen."""
        ...

    def render(self, *, domain: str, start: int, end: int, report_id: str, send_at: int,
               mark: tuple[int, int], filename: str, json_bytes: bytes, payload: bytes,
               message: bytes | None, mail_from: str | None,
               units: Sequence[tuple[str, str]], now: int) -> bool:
        """The RENDER transaction (spec 6.1): outbound record, units `pending` with
        `next_attempt = now`, key DELIVERING, window frozen. Returns False (and changes
        nothing) when the window's events changed since `mark` was taken or it is already
        frozen; the caller renders it again."""
        ...

    def record_attempt(self, unit: UnitRow, *, status: str, at: int,
                       next_attempt: int | None, error: str | None) -> bool:
        """Store the result of one attempt of `unit` (made at `at`). Returns False when the
        unit is no longer pending (then nothing is changed)."""
        ...

    def finish(self, *, domain: str, start: int, end: int, report_id: str, send_at: int,
               result: Mapping[str, Any], now: int) -> int:
        """The DONE transaction (spec 6.1, 6.2): delete the window's events and its outbound
        record (units included), mark the key DONE (and its window frozen, for a key that was
        never rendered), write the sent-log entry. Returns how many events were deleted."""
        ...

    def purge_done(self, keys: Iterable[WindowKey]) -> int:
        """Forget DONE keys (key and sent-log entry) whose retention has passed."""
        ...

    def snapshot(self) -> LedgerSnapshot:
        """Everything the ledger holds, in one consistent read."""
        ...


@runtime_checkable
class EventStore(Protocol):
    """What the intake and the scheduler need from an event store."""

    #: where the store is, for messages and logs (a file path, a database URL without secrets)
    location: str
    #: errors that mean the database itself failed (callers stop instead of skipping one key)
    database_errors: tuple[type[BaseException], ...]

    @property
    def ledger(self) -> Ledger:
        """The delivery ledger in the same database."""
        ...

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

    def run_lock(self) -> AbstractContextManager[bool]:
        """`with store.run_lock() as mine:` -- the scheduler's pass lock, held across
        processes (and machines, for a shared database); `mine` is False when another pass
        holds it."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> EventStore:
        ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        ...


@runtime_checkable
class AnalysisStore(Protocol):
    """Analysed incoming reports and their raw inputs. Every method is one transaction."""

    def add(self, analysis: Analysis, raw: bytes, *, name: str | None, received: int,
            expires: int | None) -> str:
        """Keep one analysed input; returns STORED, DUPLICATE, KEPT_REJECTED or NOT_STORED
        (`engine.reporting.store.reports`)."""
        ...

    def replace(self, input_id: int, analysis: Analysis) -> str:
        """Store a new analysis of a kept input (`reprocess`); returns what `add` would."""
        ...

    def purge(self, now: int) -> int:
        """Delete inputs (and their reports) whose expiry has passed; returns how many."""
        ...

    def reports(self, since: int | None = None, until: int | None = None
                ) -> Iterator[StoredReport]:
        """Stored reports whose date range overlaps [since, until), by start then id."""
        ...

    def inputs(self) -> Iterator[KeptInput]:
        """Every kept raw input, oldest first."""
        ...

    def stats(self) -> dict[str, int]:
        """Counts: reports, inputs, rejected_inputs, duplicates."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> AnalysisStore:
        ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        ...
