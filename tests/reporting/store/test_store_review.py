"""Adversarial review of the throughput paths (store counters, `Normaliser`, `LineTemplates`):
each test pins a case where a fast path must give what the plain path gives."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.reporting.store.sqlite import events as store_module
from engine.reporting.send.build import build_from_counts, build_report
from engine.reporting.counts import PolicyCounts, WindowCounts, count_events
from engine.reporting.intake.normalise import EventError, Normaliser, normalise_event
from engine.reporting.model import Event, FailureDetail, Policy
from engine.reporting.intake.jsonl import LineTemplates, record_lines
from engine.reporting.store.sqlite.events import SqliteEventStore
from tests.reporting.intake.test_jsonl import NOW, assert_counted, first_wins, line, plain

DAY = 86400


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> engine.Config:
    path = tmp_path_factory.mktemp("review") / "tlsrpt.toml"
    path.write_text('[report]\ndomain = "example.org"\n'
                    '[report.tls.aggregate]\nsend = "daily"\n')
    return engine.load_config(path)


# --- record: a line with an integer too long for int() --------------------------------------

def test_integer_longer_than_pythons_digit_limit_rejects_the_line(config: engine.Config,
                                                                   tmp_path: Path) -> None:
    """Python refuses to convert integers of more than 4300 digits (ValueError, not a
    JSONDecodeError); such a line, in the time token a template matches or anywhere else,
    is one bad line, not the end of the run."""
    huge = "1" + "0" * 5000
    lines = [line("a"),                                              # learns the template
             line("b", 7).replace('"time":7', f'"time":{huge}'),     # template, huge time
             line("c").replace('"outcome"', f'"x":{huge},"outcome"'),  # elsewhere
             line("d", NOW + 1)]
    with SqliteEventStore(tmp_path / "events.db") as store:
        result = record_lines(config, store, lines, now=NOW)
        assert result.accepted == 2
        assert [number for number, _ in result.rejected] == [2, 3]
        assert all(reason.startswith("not JSON: ") for _, reason in result.rejected)
    templates = LineTemplates()
    assert templates.match(lines[1]) is None


# --- Normaliser: the memo against the plain path ---------------------------------------------


_SCALARS = st.sampled_from([None, 1, 1.0, True, False, 0, "", " ", "a", "A", "x.example",
                            "X.Example.", "bücher.example", "xn--bcher-kva.example",
                            "192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1",
                            "2001:DB8:0::1", "mailto:a@x.example", " mailto:a@x.example",
                            "version: STSv1", "3 1 1 ab", "3 1 1 AB", "*.x.example",
                            "success", "failure", "sts", "tlsa", "no-policy-found",
                            "dane-required", "validation-failure", "a\x00b", "a b"])
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["result-type", "receiving-ip", "sending-mta-ip",
                                     "receiving-mx-hostname", "additional-information",
                                     "type", "strings", "domain", "mx_hosts"]), inner,
                    max_size=4)), max_leaves=6)
_DETAIL = st.dictionaries(st.sampled_from(
    ["result-type", "receiving-ip", "sending-mta-ip", "receiving-mx-hostname",
     "receiving-mx-helo", "additional-information", "failure-reason-code", "other"]),
    _VALUES, max_size=4)
_POLICY = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["sts", "tlsa", "no-policy-found", "STS", None, 1]),
    "strings": st.one_of(st.none(), st.lists(_SCALARS, max_size=3), _VALUES),
    "domain": _SCALARS, "mx_hosts": st.one_of(st.none(), st.lists(_SCALARS, max_size=3))})
_RAW = st.fixed_dictionaries({}, optional={
    "event_id": _SCALARS, "time": st.sampled_from([None, 0, 5, 5.0, True, -1, "5", 10**13]),
    "report_domain": st.sampled_from(["x.example", "X.EXAMPLE.", "bücher.example",
                                      "xn--bcher-kva.example", 1, None, "", "a..b"]),
    "policy": st.one_of(_POLICY, _VALUES),
    "outcome": st.sampled_from(["success", "failure", "Success", 1, None]),
    "failure_details": st.one_of(st.none(), st.lists(_DETAIL, max_size=3), _VALUES),
    "destinations": st.one_of(st.none(), st.lists(_SCALARS, max_size=3), _VALUES)})


def _outcome(function, raw):  # type: ignore[no-untyped-def]
    try:
        return function(raw, now=NOW)
    except EventError as err:
        return ("error", err.path, err.reason)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RAW, min_size=1, max_size=30), st.integers(1, 4))
def test_normaliser_agrees_with_normalise_event(raws: list[dict[str, object]],
                                                limit: int) -> None:
    normaliser = Normaliser(limit=limit)
    for raw in raws + raws:  # the second time, remembered inputs hit the memo
        assert _outcome(normaliser, raw) == _outcome(normalise_event, raw)


# --- the store's counters against reports built from plain event rows ------------------------


HOUR = 3600
T0 = 1_714_953_600
_POLICIES = [Policy("sts", ("version: STSv1", "mode: enforce"), "a.example", ("mx.a.example",)),
             Policy("tlsa", ("3 1 1 AB",), "a.example", ()),
             Policy("no-policy-found", (), "a.example", ()),
             Policy("sts", ("version: STSv1", "mode: enforce"), "a.example", ())]
_DETAILS = [FailureDetail("dane-required"),
            FailureDetail("dane-required", receiving_ip="192.0.2.1"),
            FailureDetail("validation-failure", additional_information="é \"q\" \\ ☃"),
            FailureDetail("validation-failure", additional_information="")]
_DESTINATIONS = [None, (), ("mailto:a@x.example",), ("mailto:b@x.example", "mailto:a@x.example"),
                 ("https://x.example/r",)]
_EVENT = st.tuples(st.integers(0, 1), st.integers(0, 2), st.sampled_from(range(len(_POLICIES))),
                   st.booleans(), st.lists(st.sampled_from(range(len(_DETAILS))), max_size=3),
                   st.sampled_from(range(len(_DESTINATIONS))),
                   st.one_of(st.none(), st.integers(0, 12)))


def _make(item: tuple) -> tuple[Event, int, int]:  # type: ignore[type-arg]
    domain_n, hour, policy_n, success, details, destinations_n, id_n = item
    start = T0 + hour * HOUR
    return Event(time=start + 7, report_domain=f"d{domain_n}.example",
                 policy=_POLICIES[policy_n], success=success,
                 failure_details=() if success else tuple(_DETAILS[n] for n in details),
                 destinations=_DESTINATIONS[destinations_n],
                 event_id=None if id_n is None else f"id{id_n}"), start, start + HOUR


def _reference_counts(events: list[Event]) -> WindowCounts:
    """Spec 3.5/3.7 written out directly: first-seen policies; details by count, ties by
    (first event, index in it); destinations first-seen, None when none carried any."""
    policies: dict[Policy, list[int]] = {}
    details: dict[Policy, dict[FailureDetail, list[int]]] = {}
    uris: dict[str, None] = {}
    carried = False
    for seq, ev in enumerate(events):
        counts = policies.setdefault(ev.policy, [0, 0])
        counts[0 if ev.success else 1] += 1
        if not ev.success:
            for index, detail in enumerate(ev.failure_details):
                found = details.setdefault(ev.policy, {}).setdefault(detail, [0, seq, index])
                found[0] += 1
        if ev.destinations is not None:
            carried = True
            for uri in ev.destinations:
                uris.setdefault(uri, None)
    return WindowCounts(tuple(
        PolicyCounts(policy, s, f, tuple((d, c[0]) for d, c in sorted(
            details.get(policy, {}).items(), key=lambda item: (item[1][1], item[1][2]))))
        for policy, (s, f) in policies.items()), tuple(uris) if carried else None)


def _canonical(counts: WindowCounts) -> tuple:  # type: ignore[type-arg]
    # details in report order (count descending, stable): what a report shows
    return (tuple((p.policy, p.successes, p.failures,
                   tuple(sorted(p.details, key=lambda item: -item[1]))) for p in counts.policies),
            counts.destinations)


_OPERATION = st.one_of(
    st.tuples(st.just("add"), st.lists(_EVENT, max_size=12)),
    st.tuples(st.just("freeze"), st.tuples(st.integers(0, 1), st.integers(0, 2))),
    st.tuples(st.just("delete"), st.tuples(st.integers(0, 1), st.integers(0, 2))),
    st.tuples(st.just("purge"), st.integers(0, 4)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_OPERATION, max_size=14), st.sampled_from([0, 400, 600, 900]))
def test_store_reports_equal_reports_built_from_plain_rows(operations: list, max_size: int
                                                           ) -> None:  # type: ignore[type-arg]
    windows: dict[tuple[str, int, int], list[Event]] = {}
    frozen: set[tuple[str, int, int]] = set()
    ids: dict[str, int] = {}  # id -> window end
    late = 0
    with tempfile.TemporaryDirectory() as folder, SqliteEventStore(
            Path(folder) / "events.db") as tested:
        for kind, argument in operations:
            if kind == "add":
                batch = [_make(item) for item in argument]
                accepted, late_ids = 0, set()
                for ev, start, end in batch:
                    key = (ev.report_domain, start, end)
                    if ev.event_id is not None and ev.event_id in ids:
                        continue
                    if key in frozen:
                        if ev.event_id is None or ev.event_id not in late_ids:
                            late += 1
                            if ev.event_id is not None:
                                late_ids.add(ev.event_id)
                        continue
                    if ev.event_id is not None:
                        ids[ev.event_id] = end
                    windows.setdefault(key, []).append(ev)
                    accepted += 1
                assert tested.add(batch) == accepted
            elif kind == "purge":
                before = T0 + argument * HOUR
                full = {key for key, evs in windows.items() if evs}
                gone = {key for key in frozen if key[2] < before and key not in full}
                frozen -= gone
                cut = min([before] + [key[2] for key in full])
                ids = {i: end for i, end in ids.items() if end >= cut}
                assert tested.purge_frozen(before) == len(gone)
            else:
                domain_n, hour = argument
                key = (f"d{domain_n}.example", T0 + hour * HOUR, T0 + (hour + 1) * HOUR)
                if kind == "freeze":
                    tested.freeze(*key)
                    frozen.add(key)
                else:
                    assert tested.delete_window(*key) == len(windows.pop(key, []))
        for key, accepted_events in windows.items():
            counts = tested.counts(*key)
            assert _canonical(counts) == _canonical(_reference_counts(accepted_events))
            arguments = dict(domain=key[0], start=key[1], end=key[2], organization_name="o",
                             contact_info="r@o.example", max_size=max_size)
            assert build_from_counts(counts, **arguments) == build_report(accepted_events,
                                                                          **arguments)
        assert tested.stats()["late_events_dropped"] == late
        assert {row[0] for row in tested._db.execute("SELECT event_id FROM event_seen")} == \
            set(ids)


# --- memo memory: bounded in size, not only in entries -----------------------------------------


def _long_line(n: int, size: int) -> str:
    # a distinct 1 MiB-ish failure text per line: normalised to 256 code points, but the memo
    # keys (the raw values, the line around the tokens) hold all of it
    return line(f"big{n}").replace('{"result-type":"dane-required"}',
                                   '{"result-type":"dane-required","additional-information":"'
                                   + str(n).rjust(size, "x") + '"}')


def test_memos_of_distinct_long_lines_stay_bounded(config: engine.Config) -> None:
    """Lines up to MAX_LINE_BYTES are accepted and each distinct one is remembered: with only
    an entry limit (65,536) the two memos could hold tens of GiB. 96 distinct 1 MiB lines
    must not keep 96 MiB (twice over) alive."""
    from engine.reporting.intake.normalise import MEMO_CHARS
    size = 1 << 20
    normaliser, templates = Normaliser(), LineTemplates()
    tracemalloc.start()
    try:
        for n in range(96):
            text = _long_line(n, size)
            raw = json.loads(text)
            event, warnings = normaliser(raw, now=NOW)
            templates.learn(text, raw, event, warnings, None)
            del text, raw, event
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # each memo may keep MEMO_CHARS characters (ASCII here: one byte each), plus slack
    assert retained < 2 * MEMO_CHARS + 16 * size < 96 * size
    # and they still work for lines of ordinary length
    small = line("s1")
    raw = json.loads(small)
    event, warnings = normaliser(raw, now=NOW)
    templates.learn(small, raw, event, warnings, None)
    assert templates.match(line("s2", NOW + 1)) is not None


# --- LineTemplates: lines written in unusual ways ----------------------------------------------


_ID_TEXT = st.sampled_from(["a", "b", "A", "\\u0061", "a\\u0022b", "\\\"", "é", "\\u00e9", " a",
                            "a ", "x" * 300, "\u2028", "\\t", "a\\/b", "\\ud800", ""])
_TIME_TEXT = st.sampled_from([str(NOW), str(NOW + 1), str(NOW + DAY), "0", "-1", f"{NOW}.0",
                              f"{NOW}e0", "1" + "0" * 12, "true", "null", f'"{NOW}"'])
_SPACE = st.sampled_from(["", " ", "\t", "\n ", "\r\n"])
_EXTRA = st.sampled_from(["", ',"time":5', f',"time":{NOW}', ',"event_id":"a"',
                          ',"event_id":"a","time":5', ',"n":{"event_id":"a","time":5}',
                          ',"\\u0074ime":5', ',"is_report_message":true', ',"frequency":"hourly"',
                          ',"s":"\\"event_id\\":\\"q\\",\\"time\\":5"'])
_BODY = ('"report_domain":"example.org","policy":{"type":"sts","strings":["version: STSv1"],'
         '"mx_hosts":["mx.example.org"]},"outcome":"failure",'
         '"failure_details":[{"result-type":"dane-required"}],'
         '"destinations":["mailto:tls@example.org"]')


@st.composite
def _odd_line(draw: st.DrawFn) -> str:
    s1, s2, s3, s4 = (draw(_SPACE) for _ in range(4))
    tokens = (f'"event_id"{s1}:{s2}"{draw(_ID_TEXT)}"{s3},{s4}"time"{draw(_SPACE)}:'
              f'{draw(_SPACE)}{draw(_TIME_TEXT)}')
    before, after = draw(_EXTRA), draw(_EXTRA)
    if draw(st.booleans()):
        return "{" + tokens + "," + _BODY + before + after + draw(_SPACE) + "}"
    return "{" + _BODY[0:0] + before.lstrip(",") + ("," if before else "") + tokens + "," + \
        _BODY + after + "}"


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(_odd_line(), min_size=1, max_size=30))
def test_odd_lines_agree_with_the_plain_path(config: engine.Config,
                                             tmp_path_factory: pytest.TempPathFactory,
                                             lines: list[str]) -> None:
    lines = lines + lines
    with SqliteEventStore(tmp_path_factory.mktemp("odd") / "events.db") as store:
        result = record_lines(config, store, lines, now=NOW)
        expected, events = plain(config, lines)
        frequency = {n for n, text in enumerate(lines, start=1) if '"hourly"' in text}
        assert (result.rejected, result.warnings) == (expected.rejected, expected.warnings)
        kept = first_wins(events)
        assert result.accepted == len(kept)
        if not frequency:
            assert_counted(store, kept)


# --- migration from schema 2 ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENT, min_size=1, max_size=25))
def test_schema_2_events_migrate_to_the_same_reports(items: list) -> None:  # type: ignore[type-arg]
    batch = [_make(item) for item in items]
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "old.db"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store_module, "_MIGRATIONS", store_module._MIGRATIONS[:2])
            patch.setattr(store_module, "SCHEMA_VERSION", 2)
            with SqliteEventStore(database) as old, old.transaction() as db:
                db.executemany(
                    "INSERT OR IGNORE INTO event (event_id, report_domain, window_start, "
                    "window_end, time, data) VALUES (?, ?, ?, ?, ?, ?)",
                    [(ev.event_id, ev.report_domain, start, end, ev.time,
                      json.dumps(ev.to_dict())) for ev, start, end in batch])
        windows: dict[tuple[str, int, int], list[Event]] = {}
        for ev in first_wins([ev for ev, _, _ in batch]):
            start = ev.time - ev.time % HOUR
            windows.setdefault((ev.report_domain, start, start + HOUR), []).append(ev)
        with SqliteEventStore(database) as upgraded:
            for key, evs in windows.items():
                assert _canonical(upgraded.counts(*key)) == _canonical(_reference_counts(evs))
            # sequence numbers go on from the old ones: a new policy comes last
            new = Event(time=T0 + 8, report_domain="d0.example",
                        policy=Policy("sts", ("new",), "a.example", ()), success=True)
            assert upgraded.add([(new, T0, T0 + HOUR)]) == 1
            assert upgraded.counts("d0.example", T0, T0 + HOUR).policies[-1].policy == new.policy
            with_ids = [item for item in batch if item[0].event_id is not None]
            assert upgraded.add(with_ids) == 0  # every id is still known


# --- crash safety: an interruption at any point inside a method changes nothing --------------


def _state(store: SqliteEventStore) -> list:  # type: ignore[type-arg]
    db = store._db
    tables = [name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [(table, sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr))
            for table in tables]


def test_an_interruption_anywhere_leaves_all_or_nothing(tmp_path: Path) -> None:
    batch = [_make((0, 0, 0, False, [0, 1], 2, 1)), _make((0, 0, 1, True, [], 1, 2)),
             _make((1, 1, 2, False, [2], 3, None)), _make((0, 2, 0, False, [3], 0, 3))]
    operations = [lambda s: s.add(batch), lambda s: s.freeze("d0.example", T0, T0 + HOUR),
                  lambda s: s.delete_window("d0.example", T0, T0 + HOUR),
                  lambda s: s.purge_frozen(T0 + 5 * HOUR), lambda s: s.add(batch[::-1])]
    with SqliteEventStore(tmp_path / "events.db") as store:
        for operation in operations:
            before = _state(store)
            for steps in range(1, 100_000, 7):
                calls = [0]

                def interrupt() -> int:
                    calls[0] += 1
                    return 1 if calls[0] == steps else 0  # once: ROLLBACK must run

                store._db.set_progress_handler(interrupt, 1)
                try:
                    operation(store)
                except sqlite3.OperationalError:
                    store._db.set_progress_handler(None, 1)
                    assert _state(store) == before
                    continue
                store._db.set_progress_handler(None, 1)
                break


def test_an_interrupted_migration_leaves_schema_2(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    batch = [_make((0, 0, 0, False, [0, 1], 2, 1)), _make((1, 1, 2, False, [2], 3, None))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "_MIGRATIONS", store_module._MIGRATIONS[:2])
        patch.setattr(store_module, "SCHEMA_VERSION", 2)
        with SqliteEventStore(database) as old, old.transaction() as db:
            db.executemany(
                "INSERT INTO event (event_id, report_domain, window_start, window_end, time, "
                "data) VALUES (?, ?, ?, ?, ?, ?)",
                [(ev.event_id, ev.report_domain, start, end, ev.time, json.dumps(ev.to_dict()))
                 for ev, start, end in batch])
    original = SqliteEventStore._configure
    interrupted = 0
    for steps in range(1, 100_000, 11):
        calls = [0]

        def interrupt() -> int:
            calls[0] += 1
            return 1 if calls[0] == steps else 0

        def configure(self: SqliteEventStore, busy: int) -> None:
            original(self, busy)
            self._db.set_progress_handler(interrupt, 1)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SqliteEventStore, "_configure", configure)
            try:
                upgraded = SqliteEventStore(database)
            except sqlite3.OperationalError:
                interrupted += 1
                with sqlite3.connect(database) as check:
                    assert check.execute("SELECT version FROM schema_version").fetchone() == (2,)
                    assert check.execute("SELECT count(*) FROM event").fetchone() == (2,)
                continue
        upgraded._db.set_progress_handler(None, 1)
        with upgraded:
            assert upgraded.stats()["events"] == 2
        break
    assert interrupted > 10


# --- WindowTally's identity shortcuts (`is` on policies and destination tuples) ----------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_EVENT, st.booleans(), st.booleans()), max_size=20))
def test_shared_and_copied_objects_count_alike(items: list) -> None:  # type: ignore[type-arg]
    events = []
    for item, copy_policy, copy_destinations in items:
        ev = _make(item)[0]
        if copy_policy:
            ev = ev._replace(policy=Policy(ev.policy.type, tuple(list(ev.policy.strings)),
                                        ev.policy.domain, tuple(list(ev.policy.mx_hosts))))
        if copy_destinations and ev.destinations is not None:
            ev = ev._replace(destinations=tuple(list(ev.destinations)))
        events.append(ev._replace(report_domain="d0.example", time=T0))
    assert _canonical(count_events(events)) == _canonical(_reference_counts(events))
