"""The store interface: the SQLite backend implements every protocol member with the same
parameters, and what the CLI opens is the interface, not a backend."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from engine.reporting.store.interface import AnalysisStore, EventStore, Ledger
from engine.reporting.store.open import open_analysis_store, open_event_store
from engine.reporting.store.sqlite.analysis import SqliteAnalysisStore
from engine.reporting.store.sqlite.events import SqliteEventStore
from engine.reporting.store.sqlite.ledger import SqliteLedger


def members(protocol: type) -> dict[str, Any]:
    """The protocol's own methods and attributes (not object's or Protocol's machinery)."""
    names = {name for name in vars(protocol) if not name.startswith("_")}
    names |= {"__enter__", "__exit__"} & set(vars(protocol))
    names |= set(getattr(protocol, "__annotations__", {}))
    return {name: vars(protocol).get(name) for name in names}


def parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("protocol, implementation", [
    (EventStore, SqliteEventStore), (Ledger, SqliteLedger),
    (AnalysisStore, SqliteAnalysisStore)])
def test_the_sqlite_backend_implements_every_member(protocol: type,
                                                     implementation: type) -> None:
    wanted = members(protocol)
    assert wanted, protocol
    for name, declared in wanted.items():
        if declared is None:        # an attribute: set by __init__ (checked below on objects)
            continue
        found = inspect.getattr_static(implementation, name, None)
        assert found is not None, f"{implementation.__name__} lacks {name}"
        if isinstance(declared, property):
            assert isinstance(found, property), name
            continue
        if name.startswith("__"):   # called positionally: only the count matters
            assert len(parameters(found)) == len(parameters(declared)), name
            continue
        assert parameters(found) == parameters(declared), (
            f"{implementation.__name__}.{name} takes {parameters(found)}")


def test_opened_stores_satisfy_the_protocols(tmp_path: Path) -> None:
    with open_event_store(tmp_path / "events.db") as store:
        assert isinstance(store, EventStore)
        assert isinstance(store.ledger, Ledger)
        assert store.location == str(tmp_path / "events.db")
        assert store.database_errors
        assert store.ledger.snapshot().keys == ()
    with open_analysis_store(tmp_path / "analysis.db") as analysis:
        assert isinstance(analysis, AnalysisStore)
        assert analysis.stats()["reports"] == 0


def test_the_run_lock_is_held_across_openers(tmp_path: Path) -> None:
    with open_event_store(tmp_path / "events.db") as first, \
            open_event_store(tmp_path / "events.db") as second:
        with first.run_lock() as mine:
            assert mine
            with second.run_lock() as theirs:
                assert not theirs
        with second.run_lock() as theirs:
            assert theirs
