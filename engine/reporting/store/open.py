"""Opening a store from where it is: the one place that chooses a backend.

A location is a file path today (SQLite, the embedded default). A new backend adds its scheme
here (for example `postgresql://...`) and a package beside `sqlite/` that implements the
protocols of `engine.reporting.store.interface`; the intake, the scheduler, `tlsrpt status` and
the analysis do not change.
"""

from __future__ import annotations

from pathlib import Path

from engine.reporting.store.interface import AnalysisStore, EventStore

__all__ = ["open_analysis_store", "open_event_store"]


def open_event_store(location: str | Path) -> EventStore:
    """The event store (with its delivery ledger) at `location`, created or migrated."""
    from engine.reporting.store.sqlite.events import SqliteEventStore

    return SqliteEventStore(location)


def open_analysis_store(location: str | Path) -> AnalysisStore:
    """The store of analysed incoming reports at `location`, created or migrated."""
    from engine.reporting.store.sqlite.analysis import SqliteAnalysisStore

    return SqliteAnalysisStore(location)
