"""`tlsrpt record`'s reader (engine.reporting.intake.jsonl): its line templates give exactly what
parsing and normalising every line on its own gives, on a real SQLite store; progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.reporting.counts import count_events
from engine.reporting.intake.normalise import EventError, normalise_event
from engine.reporting.model import Event
from engine.reporting.intake.jsonl import BATCH, LineTemplates, RecordLinesResult, record_lines
from engine.reporting.store.sqlite.events import SqliteEventStore

NOW = 1714960000
DAY = 86400
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> engine.Config:
    path = tmp_path_factory.mktemp("fast") / "tlsrpt.toml"
    path.write_text('[report]\ndomain = "example.org"\n'
                    '[report.tls.aggregate]\nsend = "daily"\n')
    return engine.load_config(path)


def plain(config: engine.Config, lines: list[str]) -> tuple[RecordLinesResult, list[Event]]:
    """What record_lines must give: every line parsed and normalised on its own."""
    result = RecordLinesResult()
    events: list[Event] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            result.rejected.append((number, f"not JSON: {err.msg}"))
            continue
        if not isinstance(raw, dict):
            result.rejected.append((number, "an event must be a JSON object"))
            continue
        if raw.get("is_report_message") is True:
            result.ignored += 1
            continue
        try:
            event, warnings = normalise_event(raw, now=NOW)
        except EventError as err:
            result.rejected.append((number, f"{err.path}: {err.reason}"))
            continue
        result.warnings.extend((number, warning) for warning in warnings)
        events.append(event)
    return result, events


def first_wins(events: list[Event]) -> list[Event]:
    """The events a store keeps: the first of each id (and every event without one)."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.event_id is not None:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
        kept.append(event)
    return kept


def assert_counted(store: SqliteEventStore, events: list[Event]) -> None:
    """The store's daily windows hold exactly the counters of `events`."""
    for window_events in _by_window(events).values():
        start = window_events[0].time - window_events[0].time % DAY
        assert store.counts("example.org", start, start + DAY) == count_events(window_events)


def line(event_id: str = "e1", time: int = NOW, **extra: Any) -> str:
    event = {"event_id": event_id, "time": time, "report_domain": "example.org",
             "policy": {"type": "sts", "strings": ["version: STSv1", "mode: enforce"],
                        "mx_hosts": ["mx.example.org"]},
             "outcome": "failure", "failure_details": [{"result-type": "dane-required"}],
             "destinations": ["mailto:tls@example.org"], **extra}
    return json.dumps(event, separators=(",", ":"))


TRICKY = [
    line("a"), line("b", NOW + 1), line("a"),                    # a duplicate id
    line("c\\\"d"),                                             # an escaped id: not plain
    line(" padded "), line("tab\\there"), line(""),              # ids that need cleaning
    line("late", -5), line("far", 10**13), line("x", NOW).replace(  # times out of range
        f'"time":{NOW}', f'"time":{NOW}.5'),                      # a float time
    line("dup").replace('"report_domain"', f'"time":{NOW + 9},"report_domain"'),  # twice
    line("nest", NOW, extra={"time": 3, "event_id": "inner"}),   # nested keys of the same name
    line("sp").replace('"event_id":"sp","time"', '"event_id" : "sp" ,\n "time"'),
    line("r1", NOW, is_report_message=True),
    line("f1", NOW, frequency="never"), line("f2", NOW, frequency="weekly"),
    line("f3", NOW, frequency="monthly"),
    line("ok1"), line("ok2", NOW + 2), "", "not json", "[1]",
    line("d1", NOW, outcome="success"),                          # details dropped, warned
]


def test_templates_give_what_the_plain_path_gives(config: engine.Config,
                                                   tmp_path: Path) -> None:
    lines = TRICKY + TRICKY  # the second time, every learnable line has its template
    with SqliteEventStore(tmp_path / "fast.db") as store:
        result = record_lines(config, store, lines, now=NOW)
        expected, events = plain(config, lines)
        monthly = [n for n, text in enumerate(lines, start=1) if '"monthly"' in text]
        assert result.rejected == sorted(expected.rejected + [
            (n, "frequency: must be hourly, daily, weekly or never") for n in monthly])
        assert result.warnings == expected.warnings
        assert result.ignored == expected.ignored + 2  # the two `never` lines
        kept = [event for event in first_wins(events) if event.event_id not in ("f1", "f3")]
        assert result.accepted == len(kept)
        weekly = [event for event in kept if event.event_id == "f2"]
        daily = [event for event in kept if event.event_id != "f2"]
        assert_counted(store, daily)
        assert len(weekly) == 1 and store.stats()["windows"] == len(_by_window(daily)) + 1


def _by_window(events: list[Event]) -> dict[int, list[Event]]:
    found: dict[int, list[Event]] = {}
    for event in events:
        found.setdefault(event.time - event.time % DAY, []).append(event)
    return found


def test_a_template_is_learned_only_when_proven() -> None:
    templates = LineTemplates()

    def learn(text: str) -> None:
        raw = json.loads(text)
        event, warnings = normalise_event(raw, now=NOW)
        templates.learn(text, raw, event, warnings, None)

    learn(line("a"))
    found = templates.match(line("zz", NOW + 7))
    assert found is not None and found[1:] == (NOW + 7, "zz")
    assert found[0].event.policy.mx_hosts == ("mx.example.org",)
    # a duplicated top-level key: the first "time" is not the one json keeps
    twice = line("t").replace('"report_domain"', f'"time":{NOW},"report_domain"')
    learn(twice)
    assert templates.match(twice.replace('"t"', '"u"')) is None
    # the first id-and-time pair of the text belongs to a nested object
    nested = '{"extra":{"event_id":"n","time":5},' + line("b")[1:]
    learn(nested)
    assert templates.match(nested) is None
    assert len(templates._templates) == 1
    # a known template with a time out of range or an id that is not plain: no match
    assert templates.match(line("zz", -1)) is None
    assert templates.match(line("zz ")) is None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", " d", "e\x01", "f\\g", ""]),
                          st.integers(-2, 3 * DAY), st.booleans()), min_size=1, max_size=25))
def test_random_streams_agree(config: engine.Config, tmp_path_factory: pytest.TempPathFactory,
                              items: list[tuple[str, int, bool]]) -> None:
    lines = [line(event_id, NOW + offset if offset >= 0 else offset,
                  outcome="failure" if failed else "success")
             for event_id, offset, failed in items]
    with SqliteEventStore(tmp_path_factory.mktemp("random") / "fast.db") as store:
        result = record_lines(config, store, lines, now=NOW)
        expected, events = plain(config, lines)
        assert (result.rejected, result.warnings) == (expected.rejected, expected.warnings)
        kept = first_wins(events)
        assert result.accepted == len(kept)
        assert_counted(store, kept)


def test_progress_is_reported_while_reading(config: engine.Config, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    lines = [line(f"p{n}", NOW + n) for n in range(2 * BATCH + 5)]
    with SqliteEventStore(tmp_path / "p.db") as store:
        result = record_lines(config, store, lines, now=NOW,
                              progress=lambda n, so_far: calls.append((n, so_far.accepted)))
    assert result.accepted == len(lines)
    assert [n for n, _ in calls] == [10_000, 20_000]
    assert calls[-1][1] >= BATCH  # the counts so far, not the final ones


def test_record_command_is_quiet_by_default_and_logs_progress_on_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main
    from engine.cli import reporting_commands

    config_path = tmp_path / "c.toml"
    config_path.write_text('[report]\ndomain = "example.org"\n'
                           '[report.tls.aggregate]\nsend = "daily"\n')
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(line(f"q{n}", NOW + n) for n in range(BATCH + 3)) + "\n")
    database = tmp_path / "q.db"
    assert main(["record", str(config_path), str(source), "--db", str(database)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"{BATCH + 3} events recorded, 0 ignored, 0 rejected"]
    # progress every PROGRESS_SECONDS (0 here: at every PROGRESS_EVERY lines), as JSON
    monkeypatch.setattr(reporting_commands, "PROGRESS_SECONDS", 0.0)
    assert main(["record", str(config_path), str(source), "--db", str(database),
                 "--log-level", "info", "--log-format", "json"]) == 0
    *logged, summary = capsys.readouterr().err.splitlines()
    [progress] = [json.loads(text) for text in logged]
    assert (progress["level"], progress["event"], progress["lines"]) == (
        "info", "record-progress", 10_000)
    assert progress["accepted"] == 0  # every id was recorded by the first run
    assert summary == "0 events recorded, 0 ignored, 0 rejected"
