"""The SQLite event store on real files: intake, windows, freezing, deletion, crash safety and
concurrent writers (spec/reporting.md 3.1, 3.3, 3.7, 6)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.reporting.store.sqlite import events as store_module
from engine.reporting.counts import count_events
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.store.interface import EventStore, StoreError
from engine.reporting.store.sqlite.events import SCHEMA_VERSION, SqliteEventStore
from engine.reporting.store.sqlite.windows import window_mark_in

ROOT = Path(__file__).resolve().parents[3]
HOUR = 3600
T0 = 1_714_953_600  # 2024-05-06T00:00:00Z, an hour (and day) boundary

STS = Policy("sts", ("version: STSv1", "mode: enforce", "mx: *.example.org", "max_age: 86400"),
             "example.org", ("*.example.org",))


def event(event_id: str | None, time_: int = T0 + 10, domain: str = "example.org",
          success: bool = True) -> Event:
    details = () if success else (FailureDetail(
        "certificate-expired", sending_mta_ip="192.0.2.1", receiving_mx_hostname="mx.example.org",
        receiving_ip="198.51.100.7", additional_information="expired"),)
    return Event(time=time_, report_domain=domain, policy=STS, success=success,
                 failure_details=details, destinations=("mailto:tlsrpt@example.org",),
                 event_id=event_id)


def hourly(ev: Event) -> tuple[Event, int, int]:
    start = ev.time - ev.time % HOUR
    return ev, start, start + HOUR


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    with SqliteEventStore(tmp_path / "events.db") as opened:
        yield opened


# --- opening, schema ----------------------------------------------------------------------------

def test_creates_file_and_folder_with_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "events.db"
    with SqliteEventStore(path) as opened:
        assert isinstance(opened, EventStore)
        assert opened.stats() == {"events": 0, "windows": 0, "frozen_windows": 0,
                                  "late_events_dropped": 0}
    assert path.is_file()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        raw.close()


def test_connection_pragmas(store: SqliteEventStore) -> None:
    db = store._db
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer") as caught:
        SqliteEventStore(path)
    assert isinstance(caught.value, EngineError)


def test_migration_hook_runs_missing_steps_once(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as old:
        old.add([hourly(event("a"))])
    calls: list[int] = []

    def step_two(connection: sqlite3.Connection) -> None:
        calls.append(1)
        connection.execute("ALTER TABLE report_window ADD COLUMN note TEXT")

    monkeypatch.setattr(store_module, "_MIGRATIONS", (*store_module._MIGRATIONS, step_two))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):
        with SqliteEventStore(path) as upgraded:
            assert upgraded.stats()["events"] == 1
            assert upgraded._db.execute("SELECT version FROM schema_version").fetchall() == [
                (SCHEMA_VERSION + 1,)]
    assert calls == [1]


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as opened:
        pass
    opened.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        opened.stats()


# --- intake -------------------------------------------------------------------------------------

def test_round_trip_keeps_every_field(store: SqliteEventStore) -> None:
    failed = event("f", success=False)
    bare = Event(time=T0 + 5, report_domain="example.org",
                 policy=Policy("no-policy-found", (), "example.org", ()), success=True)
    assert store.add([hourly(failed), hourly(bare)]) == 2
    counted = store.counts("example.org", T0, T0 + HOUR)
    assert counted == count_events([failed, bare])
    # every field of the policy and of the failure key comes back
    assert [entry.policy for entry in counted.policies] == [STS, bare.policy]
    assert counted.policies[0].details == ((failed.failure_details[0], 1),)
    assert counted.destinations == ("mailto:tlsrpt@example.org",)


def test_stored_as_counters_and_ids(store: SqliteEventStore) -> None:
    store.add([hourly(event("x", success=False)), hourly(event("y")), hourly(event(None))])
    assert store._db.execute("SELECT policy, successes, failures FROM policy_count").fetchall() \
        == [(json.dumps(["sts", list(STS.strings), STS.domain, list(STS.mx_hosts)],
                        separators=(",", ":")), 2, 1)]
    assert store._db.execute("SELECT count FROM detail_count").fetchall() == [(1,)]
    # only events that carry an id leave a row behind them
    assert sorted(store._db.execute("SELECT event_id, window_end FROM event_seen")) == [
        ("x", T0 + HOUR), ("y", T0 + HOUR)]
    assert window_mark_in(store._db, "example.org", T0, T0 + HOUR)[0] == 3


def test_destinations_absent_differs_from_empty(store: SqliteEventStore) -> None:
    none = Event(time=T0 + 1, report_domain="example.org", policy=STS, success=True)
    empty = Event(time=T0 + 2, report_domain="b.example", policy=STS, success=True,
                  destinations=())
    store.add([hourly(none), hourly(empty)])
    assert store.counts("example.org", T0, T0 + HOUR).destinations is None
    assert store.counts("b.example", T0, T0 + HOUR).destinations == ()


def test_duplicate_event_ids_are_ignored(store: SqliteEventStore) -> None:
    assert store.add([hourly(event("a")), hourly(event("b")), hourly(event("a"))]) == 2
    assert store.add([hourly(event("b")), hourly(event("c"))]) == 1
    # an id keeps its first version: the stored event is not replaced
    assert store.add([hourly(event("a", success=False))]) == 0
    counted = store.counts("example.org", T0, T0 + HOUR)
    assert counted.events == 3 and counted.failures == 0


def test_events_without_id_are_always_accepted(store: SqliteEventStore) -> None:
    assert store.add([hourly(event(None)), hourly(event(None))]) == 2
    assert store.add([hourly(event(None))]) == 1
    assert store.stats()["events"] == 3


def test_empty_batch(store: SqliteEventStore) -> None:
    assert store.add([]) == 0
    assert store.add(iter(())) == 0


def test_event_outside_its_window_rejects_the_whole_batch(store: SqliteEventStore) -> None:
    good = hourly(event("good"))
    bad = (event("bad", time_=T0 + HOUR), T0, T0 + HOUR)  # the end is exclusive
    with pytest.raises(ValueError, match="outside its window"):
        store.add([good, bad])
    assert store.stats()["events"] == 0


def test_failing_iterable_stores_nothing(store: SqliteEventStore) -> None:
    def items():  # type: ignore[no-untyped-def]
        yield hourly(event("a"))
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        store.add(items())
    assert store.stats()["events"] == 0
    assert store.add([hourly(event("a"))]) == 1  # no transaction left open


def test_sequence_order_across_batches_and_domains(store: SqliteEventStore) -> None:
    ids = [f"e{i}" for i in range(30)]
    rng = random.Random(7)
    # times shuffled inside the hour: order is acceptance order, never time order; each event
    # has its own policy, so the order of the policies is the order of the events
    items = [hourly(with_policy(event(i, time_=T0 + rng.randrange(HOUR),
                                      domain=("a.example", "b.example")[n % 2]), i))
             for n, i in enumerate(ids)]
    store.add(items[:10])
    store.add(items[10:25])
    store.add(items[25:])
    assert policy_order(store, "a.example") == ids[0::2]
    assert policy_order(store, "b.example") == ids[1::2]


def with_policy(ev: Event, label: str) -> Event:
    return Event(time=ev.time, report_domain=ev.report_domain,
                 policy=Policy("sts", (f"id: {label}",), ev.report_domain, ()),
                 success=ev.success, failure_details=ev.failure_details,
                 destinations=ev.destinations, event_id=ev.event_id)


def policy_order(store: SqliteEventStore, domain: str) -> list[str]:
    return [entry.policy.strings[0][len("id: "):]
            for entry in store.counts(domain, T0, T0 + HOUR).policies]


def test_failure_keys_keep_first_seen_order_across_batches(store: SqliteEventStore) -> None:
    def failed(event_id: str, *results: str) -> tuple[Event, int, int]:
        return hourly(Event(time=T0 + 1, report_domain="example.org", policy=STS, success=False,
                            failure_details=tuple(FailureDetail(r) for r in results),
                            event_id=event_id))

    batches = [[failed("1", "certificate-expired")],
               [failed("2", "tlsa-invalid", "dane-required"), failed("3", "dane-required")],
               [failed("4", "starttls-not-supported", "certificate-expired")]]
    for batch in batches:
        store.add(batch)
    assert store.counts("example.org", T0, T0 + HOUR) == count_events(
        [ev for batch in batches for ev, _, _ in batch])


def test_sequence_never_goes_back_after_deletes(store: SqliteEventStore) -> None:
    store.add([hourly(event("a", domain="a.example")), hourly(event("b", domain="b.example"))])
    _, highest = window_mark_in(store._db, "b.example", T0, T0 + HOUR)
    store.delete_window("b.example", T0, T0 + HOUR)  # removes the highest sequence number
    store.add([hourly(event("c", domain="a.example"))])
    _, seq = window_mark_in(store._db, "a.example", T0, T0 + HOUR)
    assert seq > highest > 0


# --- windows ------------------------------------------------------------------------------------

def test_due_windows_boundaries_and_order(store: SqliteEventStore) -> None:
    day = 86_400
    store.add([
        hourly(event("1", time_=T0 + HOUR + 5, domain="b.example")),     # ends T0 + 2h
        hourly(event("2", time_=T0 + 5, domain="b.example")),            # ends T0 + 1h
        hourly(event("3", time_=T0 + 6, domain="a.example")),            # ends T0 + 1h
        hourly(event("4", time_=T0 + 2 * HOUR + 1, domain="a.example")),  # ends T0 + 3h
        (event("5", time_=T0 + 7, domain="a.example"), T0, T0 + day),    # daily window
        (event("6", time_=T0 + day - 1, domain="a.example"), T0 + day - HOUR, T0 + day),
    ])
    assert store.due_windows(T0 + HOUR - 1) == []
    assert store.due_windows(T0 + HOUR) == [("a.example", T0, T0 + HOUR),
                                            ("b.example", T0, T0 + HOUR)]
    assert store.due_windows(T0 + 2 * HOUR) == [("a.example", T0, T0 + HOUR),
                                                ("b.example", T0, T0 + HOUR),
                                                ("b.example", T0 + HOUR, T0 + 2 * HOUR)]
    # same domain and end, different starts (a frequency change): start breaks the tie
    assert store.due_windows(T0 + day)[-2:] == [("a.example", T0, T0 + day),
                                                ("a.example", T0 + day - HOUR, T0 + day)]
    assert store.stats()["windows"] == 6


def test_frozen_and_emptied_windows_are_not_due(store: SqliteEventStore) -> None:
    store.add([hourly(event("a", domain="a.example")), hourly(event("b", domain="b.example")),
               hourly(event("c", domain="c.example"))])
    store.freeze("a.example", T0, T0 + HOUR)
    assert store.delete_window("b.example", T0, T0 + HOUR) == 1
    assert store.due_windows(T0 + HOUR) == [("c.example", T0, T0 + HOUR)]
    # a frozen window's events stay readable until deleted (re-render after a crash)
    assert store.counts("a.example", T0, T0 + HOUR).events == 1


def test_late_events_are_dropped_and_counted(store: SqliteEventStore) -> None:
    store.add([hourly(event("a")), hourly(event("b"))])
    store.freeze("example.org", T0, T0 + HOUR)
    store.freeze("example.org", T0, T0 + HOUR)  # idempotent
    mixed = [hourly(event("late1")), hourly(event("next", time_=T0 + HOUR + 1)),
             hourly(event(None)), hourly(event("late1")), hourly(event("a"))]
    # late1 (twice in the batch: counted once) and the id-less one are late; "a" is already
    # stored, so it is a duplicate (already in the report), not a late event
    assert store.add(mixed) == 1
    assert store.stats() == {"events": 3, "windows": 2, "frozen_windows": 1,
                             "late_events_dropped": 2}
    assert store.counts("example.org", T0, T0 + HOUR).events == 2


def test_delete_keeps_marker_and_purge_removes_it(store: SqliteEventStore) -> None:
    store.add([hourly(event("a")), hourly(event("b")),
               hourly(event("c", time_=T0 + HOUR + 1))])
    store.freeze("example.org", T0, T0 + HOUR)
    store.freeze("example.org", T0 + HOUR, T0 + 2 * HOUR)
    assert store.delete_window("example.org", T0, T0 + HOUR) == 2
    assert store.delete_window("example.org", T0, T0 + HOUR) == 0
    assert store.counts("example.org", T0, T0 + HOUR).policies == ()
    assert store.add([hourly(event("late"))]) == 0  # still frozen after deletion
    assert store.stats() == {"events": 1, "windows": 1, "frozen_windows": 2,
                             "late_events_dropped": 1}
    # only markers that ended before the cut-off; a marker of a window that still holds
    # events stays (purging it would make the window due and reported twice)
    assert store.purge_frozen(T0 + HOUR) == 0
    assert store.purge_frozen(T0 + 10 * HOUR) == 1
    assert store.stats()["frozen_windows"] == 1
    assert store.add([hourly(event("late"))]) == 1  # marker gone: accepted again


def test_everything_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as first:
        first.add([hourly(event("a")), hourly(event("b", domain="b.example"))])
        first.freeze("b.example", T0, T0 + HOUR)
        first.add([hourly(event("late", domain="b.example"))])
        before = (first.stats(), first.counts("example.org", T0, T0 + HOUR))
    with SqliteEventStore(path) as second:
        assert (second.stats(), second.counts("example.org", T0, T0 + HOUR)) == before
        assert second.due_windows(T0 + HOUR) == [("example.org", T0, T0 + HOUR)]
        assert second.add([hourly(event("a")), hourly(event("late2", domain="b.example"))]) == 0
        assert second.stats()["late_events_dropped"] == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2),
                                                 st.one_of(st.none(), st.integers(0, 15))),
                                       max_size=8)),
    st.tuples(st.just("freeze"), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    st.tuples(st.just("delete"), st.tuples(st.integers(0, 2), st.integers(0, 2))),
), max_size=25))
def test_matches_a_simple_model(operations: list[tuple[str, object]]) -> None:
    """Random adds, freezes and deletes agree with a dict-and-list model of the rules: the
    stored counters are those of the accepted events, in acceptance order."""
    windows: dict[tuple[str, int, int], list[Event]] = {}
    frozen: set[tuple[str, int, int]] = set()
    stored_ids: set[str] = set()
    late = 0
    with tempfile.TemporaryDirectory() as folder, SqliteEventStore(
            Path(folder) / "events.db") as tested:
        for kind, argument in operations:
            if kind == "add":
                batch, expected, late_ids = [], 0, set()
                for domain_n, hour, id_n in argument:  # type: ignore[attr-defined]
                    event_id = None if id_n is None else f"id{id_n}"
                    ev = event(event_id, time_=T0 + hour * HOUR + 1, domain=f"d{domain_n}.test",
                               success=id_n is None or id_n % 3 != 0)
                    if id_n is not None and id_n % 2:  # a policy of its own: order shows
                        ev = with_policy(ev, str(id_n))
                    batch.append(hourly(ev))
                    key = (ev.report_domain, T0 + hour * HOUR, T0 + (hour + 1) * HOUR)
                    if event_id is not None and event_id in stored_ids:
                        continue
                    if key in frozen:
                        if event_id is None or event_id not in late_ids:
                            late += 1
                            if event_id is not None:
                                late_ids.add(event_id)
                        continue
                    if event_id is not None:
                        stored_ids.add(event_id)
                    windows.setdefault(key, []).append(ev)
                    expected += 1
                assert tested.add(batch) == expected
            else:
                domain_n, hour = argument  # type: ignore[misc]
                key = (f"d{domain_n}.test", T0 + hour * HOUR, T0 + (hour + 1) * HOUR)
                if kind == "freeze":
                    tested.freeze(*key)
                    frozen.add(key)
                else:
                    # the ids stay: a redelivery after the report is still a duplicate
                    removed = windows.pop(key, [])
                    assert tested.delete_window(*key) == len(removed)
        for key, accepted in windows.items():
            assert tested.counts(*key) == count_events(accepted)
        due = sorted((k for k, ids in windows.items() if ids and k not in frozen),
                     key=lambda k: (k[2], k[0], k[1]))
        assert tested.due_windows(T0 + 10 * HOUR) == due
        assert tested.stats() == {
            "events": sum(map(len, windows.values())),
            "windows": sum(1 for ids in windows.values() if ids),
            "frozen_windows": len(frozen), "late_events_dropped": late}


# --- crash safety -------------------------------------------------------------------------------

# Adds numbered batches forever: ids are "<run>:<batch>:<i>", so after a kill every batch can
# be checked for all-or-nothing.
WRITER = textwrap.dedent("""
    import sys
    from engine.reporting.model import Event, FailureDetail, Policy
    from engine.reporting.store.sqlite.events import SqliteEventStore

    path, run, size, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    policy = Policy("no-policy-found", (), "example.org", ())
    detail = (FailureDetail("starttls-not-supported", receiving_mx_hostname="mx.example.org"),)
    store = SqliteEventStore(path)
    print("ready", flush=True)
    sys.stdin.readline()  # "go": lets the test start several writers at the same moment
    batch = 0
    while limit < 0 or batch < limit:
        items = []
        for i in range(size):
            t = 1714953600 + (batch * size + i) % 86400
            ev = Event(time=t, report_domain=f"d{i % 13}.example", policy=policy,
                       success=i % 10 != 0, failure_details=detail if i % 10 == 0 else (),
                       event_id=f"{run}:{batch}:{i}")
            items.append((ev, t - t % 3600, t - t % 3600 + 3600))
        store.add(items)
        batch += 1
    store.close()
""")


def start_writer(path: Path, run: str, size: int, limit: int = -1) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), run, str(size),
                                str(limit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", "writer failed to start"
    return process


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.close()


def reap(process: subprocess.Popen[str], timeout: float) -> int:
    code = process.wait(timeout=timeout)
    assert process.stdout is not None
    process.stdout.close()
    return code


def batches(path: Path) -> dict[tuple[str, int], int]:
    with SqliteEventStore(path) as reopened:
        ids = [row[0] for row in reopened._db.execute("SELECT event_id FROM event_seen")]
    return Counter((i.split(":")[0], int(i.split(":")[1])) for i in ids)


def test_sigkill_mid_write_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    size = 300
    rng = random.Random(8460)
    runs = [f"r{n}" for n in range(6)]
    for run in runs:
        writer = start_writer(path, run, size)
        go(writer)
        time.sleep(rng.uniform(0.2, 0.8))
        os.kill(writer.pid, signal.SIGKILL)  # no cleanup, no rollback, no checkpoint
        assert reap(writer, 30) == -signal.SIGKILL

    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()
    found = batches(path)
    for run in runs:
        numbers = sorted(n for r, n in found if r == run)
        assert numbers, f"run {run} committed nothing before the kill: test too short"
        # one writer commits in order, so the surviving batches are 0..k-1, each complete
        assert numbers == list(range(len(numbers)))
        assert {found[(run, n)] for n in numbers} == {size}
    with SqliteEventStore(path) as reopened:
        assert reopened.stats()["events"] == sum(found.values())
        assert reopened.add([hourly(event("after-crash"))]) == 1


# --- concurrency --------------------------------------------------------------------------------

def test_threads_with_their_own_store_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    threads_n, batches_n, size = 4, 40, 50
    accepted = [0] * threads_n
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def work(n: int) -> None:
        try:
            with SqliteEventStore(path) as own:
                start.wait()
                for b in range(batches_n):
                    # half of each batch is shared by every thread: concurrent duplicates
                    items = [hourly(event(f"t{n}-{b}-{i}" if i % 2 else f"shared-{b}-{i}",
                                          time_=T0 + (b * size + i) % (6 * HOUR),
                                          domain=f"d{i % 5}.example", success=i % 10 != 0))
                             for i in range(size)]
                    accepted[n] += own.add(items)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    unique = batches_n * (size // 2) * threads_n + batches_n * (size // 2)
    assert sum(accepted) == unique
    with SqliteEventStore(path) as check:
        assert check.stats()["events"] == unique


def test_two_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()  # both writers then find a ready file
    writers = [start_writer(path, run, 200, limit=60) for run in ("p1", "p2")]
    for writer in writers:
        go(writer)
    for writer in writers:
        assert reap(writer, 120) == 0
    found = batches(path)
    assert found == {(run, n): 200 for run in ("p1", "p2") for n in range(60)}


def test_ids_outlive_their_counters_until_the_marker_is_purged(
        store: SqliteEventStore) -> None:
    store.add([hourly(event("a")), hourly(event("b", time_=T0 + 3 * HOUR + 1))])
    store.freeze("example.org", T0, T0 + HOUR)
    assert store.delete_window("example.org", T0, T0 + HOUR) == 1
    # redelivered after its report went out: a duplicate, not a late event
    assert store.add([hourly(event("a"))]) == 0
    assert store.stats()["late_events_dropped"] == 0
    # a purge cut-off past a window that still holds counters keeps that window's ids
    assert store.purge_frozen(T0 + 10 * HOUR) == 1
    ids = {row[0] for row in store._db.execute("SELECT event_id FROM event_seen")}
    assert ids == {"b"}
    assert store.add([hourly(event("b", time_=T0 + 3 * HOUR + 1))]) == 0
    assert store.add([hourly(event("a"))]) == 1  # forgotten with its marker: new again
