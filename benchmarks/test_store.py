"""Event store intake speed: batched `add` against a naive one-transaction-per-event baseline.

* batched: 100,000 events (500 report domains, 10% failures, hourly windows over one day) in
  batches of 1,000, each batch one `add` call = one transaction, into a fresh file per round;
* naive: 5,000 of the same events, one `add` call per event = one INSERT + one COMMIT each,
  into a fresh file per round; its rate is scaled to 100,000 events for the comparison.

Both go through `SqliteEventStore` with the same schema and pragmas (WAL, synchronous=NORMAL),
so the ratio shows only what batching buys. The naive run is smaller because it is slow; events
per second does not depend on the count at these sizes (the file stays in the page cache).
Figures land in each benchmark's `extra_info`, in a printed line per benchmark and in a final
side-by-side line. Nothing asserts on time.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.store.sqlite.events import SqliteEventStore

EVENTS = 100_000
BATCH = 1_000
DOMAINS = 500
NAIVE_EVENTS = 5_000
T0 = 1_714_953_600  # 2024-05-06T00:00:00Z
HOUR = 3600
GROUP = "store-ingest"
_FILES = itertools.count()

Item = tuple[Event, int, int]


def make_items(count: int) -> list[Item]:
    """Realistic events built directly with the model's dataclasses: an MTA-STS policy per
    domain, one failure in ten with one detail, an event id each, times spread over one day."""
    policies = [Policy("sts", ("version: STSv1", "mode: enforce", f"mx: mx.d{n}.example",
                               "max_age: 604800"), f"d{n}.example", (f"mx.d{n}.example",))
                for n in range(DOMAINS)]
    items: list[Item] = []
    for i in range(count):
        n = i % DOMAINS
        failed = i % 10 == 0
        details = (FailureDetail("certificate-expired", sending_mta_ip="192.0.2.25",
                                 receiving_mx_hostname=f"mx.d{n}.example",
                                 receiving_ip=f"198.51.100.{i % 250}"),) if failed else ()
        t = T0 + i * 86_400 // count
        event = Event(time=t, report_domain=f"d{n}.example", policy=policies[n],
                      success=not failed, failure_details=details,
                      destinations=(f"mailto:tlsrpt@d{n}.example",),
                      event_id=f"{i:08d}-mta1-session")
        start = t - t % HOUR
        items.append((event, start, start + HOUR))
    return items


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="store-bench-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def rates() -> dict[str, float]:
    """events/s per variant, shared by the two benchmarks of this module."""
    return {}


@pytest.fixture
def fresh_store(folder: Path) -> Iterator[Callable[[], tuple[tuple[SqliteEventStore],
                                                                 dict[str, Any]]]]:
    """pedantic setup: a new file per round, opened (schema created) outside the timing."""
    opened: list[SqliteEventStore] = []

    def setup() -> tuple[tuple[SqliteEventStore], dict[str, Any]]:
        for store in opened:  # the previous round's file is done with
            store.close()
        store = SqliteEventStore(folder / f"events-{next(_FILES)}.db")
        opened.append(store)
        return (store,), {}

    yield setup
    for store in opened:
        store.close()


def report(benchmark: Any, capsys: pytest.CaptureFixture[str], rates: dict[str, float],
           name: str, count: int) -> None:
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None:  # --benchmark-disable: nothing was timed
        return
    rate = count / stats.median
    rates[name] = rate
    benchmark.extra_info.update({"events": count, "events_per_second": round(rate),
                                 "seconds_per_100k_events": round(EVENTS / rate, 3)})
    lines = [f"\n{name}: {count:,} events, median {stats.median:.3f} s -> {rate:,.0f} events/s"]
    if name == "batched" and "naive" in rates:  # the naive test runs first (file order)
        naive = rates["naive"]
        lines.append(f"event store intake: batched {rate:,.0f} events/s vs naive "
                     f"{naive:,.0f} events/s -> batching is {rate / naive:.1f}x faster "
                     f"(for {EVENTS:,} events: naive {EVENTS / naive:.1f} s scaled, "
                     f"batched {EVENTS / rate:.2f} s)")
        benchmark.extra_info["speedup_over_naive"] = round(rate / naive, 2)
    # printed outside pytest's capture so that -q runs show the figures too
    with capsys.disabled():
        print("\n".join(lines))


def test_ingest_naive_one_commit_per_event(benchmark: Any, fresh_store: Any,
                                           capsys: pytest.CaptureFixture[str],
                                           rates: dict[str, float]) -> None:
    items = make_items(NAIVE_EVENTS)
    benchmark.group = GROUP
    benchmark.extra_info["batch_size"] = 1

    def ingest(store: SqliteEventStore) -> int:
        return sum(store.add([item]) for item in items)

    accepted = benchmark.pedantic(ingest, setup=fresh_store, rounds=3, iterations=1)
    assert accepted == NAIVE_EVENTS
    report(benchmark, capsys, rates, "naive", NAIVE_EVENTS)


def test_ingest_batched(benchmark: Any, fresh_store: Any, capsys: pytest.CaptureFixture[str],
                        rates: dict[str, float]) -> None:
    items = make_items(EVENTS)
    batches = [items[i:i + BATCH] for i in range(0, EVENTS, BATCH)]
    benchmark.group = GROUP
    benchmark.extra_info["batch_size"] = BATCH

    def ingest(store: SqliteEventStore) -> int:
        return sum(store.add(batch) for batch in batches)

    accepted = benchmark.pedantic(ingest, setup=fresh_store, rounds=3, iterations=1)
    assert accepted == EVENTS
    report(benchmark, capsys, rates, "batched", EVENTS)
