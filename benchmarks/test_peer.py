"""The reporter beside its peer, sys4's tlsrpt-reporter 0.6.0, in one run, on one workload.

The peer is installed into the benchmark environment (`pip install -e '.[benchmark]'`) and
driven through its own classes; none of its code is copied. Workload: 100,000 delivery
outcomes over 500 domains, 10% failures of four kinds (`test_workload.workload_events`).

* Recording from the peer's own input, libtlsrpt datagrams: the peer's
  `TLSRPTCollectdSQLite.add_datagram(json.loads(datagram))` (what its collectd does per
  datagram after `recv`) beside our collector's decode-and-store step (`Collector._write_batch`
  over the same datagram bytes, the code `tlsrpt collect` runs after its receiver process).
* Recording from our JSON Lines (`tlsrpt record`'s `record_lines`), against the same peer
  figure: the peer has no JSON Lines input.
* Building every report: the peer's reportd pass (`check_day`, `collect_domains`, `fetch_data`,
  `create_reports`, `send_out_reports`), with its fetcher run in this process instead of as a
  child process (the fetcher's own `fetch_domain_list`/`fetch_domain_details`, stdout captured)
  and its sendmail child replaced by a null sink; beside our scheduler pass (`run_once`) with
  a null mail sink and no DKIM signature (the peer does not sign). Both build the JSON, gzip it
  and build the MIME message of each of the 500 reports.

Durability is made equal, in two modes, and each is stated in the output:

* `fsync`: every commit is on disk when it returns. The peer's default (rollback journal,
  `synchronous = FULL`); ours in WAL with `synchronous = FULL` (our default is NORMAL, which
  does not sync at commit). Both commit every BATCH events while recording.
* `no sync`: `synchronous = OFF` on every connection of both.

Each figure is the best of ROUNDS rounds on fresh files (the machine is shared; the best round
is the least disturbed). Nothing asserts on time; the ratios are printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.reporting.intake.collector import Collector, CollectorSettings
from engine.reporting.intake.jsonl import BATCH, record_lines
from engine.reporting.send.scheduler import run_once
from engine.reporting.store.sqlite.events import SqliteEventStore
from test_workload import DAY, DOMAINS, EVENTS, null_mail, null_post, workload, \
    workload_events, write_config

peer = pytest.importorskip(
    "tlsrpt_reporter.tlsrpt",
    reason="the peer is not installed: pip install -e '.[benchmark]' (tlsrpt-reporter)")

ROUNDS = 3
#: libtlsrpt's result-type codes (its tlsrpt.h), which the peer maps back to RFC 8460 names
RESULT_CODES = {"starttls-not-supported": 201, "certificate-host-mismatch": 202,
                "certificate-expired": 204, "validation-failure": 205}
MODES = {"fsync": "FULL", "no sync": "OFF"}


# -- the workload in the peer's datagram form ------------------------------------------------

def datagram(event: dict[str, Any]) -> bytes:
    """The libtlsrpt datagram of one delivery with one sts policy (as Postfix sends it)."""
    domain, policy = event["report_domain"], event["policy"]
    details = []
    for detail in event.get("failure_details", ()):
        item = {"c": RESULT_CODES[detail["result-type"]], "s": detail["sending-mta-ip"],
                "n": detail["receiving-mx-hostname"], "r": detail["receiving-ip"]}
        if "failure-reason-code" in detail:
            item["f"] = detail["failure-reason-code"]
        details.append(item)
    return json.dumps({
        "dpv": "1", "d": domain, "pr": f"v=TLSRPTv1;rua={event['destinations'][0]}",
        "policies": [{"policy-type": 2, "policy-string": policy["strings"],
                      "policy-domain": domain, "mx-host": policy["mx_hosts"],
                      "f": 1 if details else 0, "t": len(details),
                      "failure-details": details}]}, separators=(",", ":")).encode()


def datagrams() -> list[bytes]:
    return [datagram(event) for event in workload_events()]


# -- the peer, driven through its classes ----------------------------------------------------

def peer_collectd(path: Path, synchronous: str) -> Any:
    config = peer.ConfigCollectd(
        storage=f"sqlite://{path}", socketname="", socketuser="", socketgroup="",
        socketmode="", sockettimeout=5, max_uncommited_datagrams=BATCH,
        retry_commit_datagram_count=BATCH, pidfilename="", logfilename="", log_level="warn",
        daily_rollover_script="", dump_path_for_invalid_datagram="")
    collectd = peer.TLSRPTCollectdSQLite(f"sqlite://{path}", config)
    collectd.con.execute(f"PRAGMA synchronous = {synchronous}")
    return collectd


def peer_record(collectd: Any, data: list[bytes]) -> None:
    for item in data:
        collectd.add_datagram(json.loads(item))
    collectd.timed_commit()  # what its socket timeout does: the last partial batch


def peer_close_day(collectd: Any) -> None:
    """The peer's midnight rollover, moved to now: today's rows become yesterday's complete
    day in the file its fetcher reads. (It prints the SQL it runs; swallowed.)"""
    with contextlib.redirect_stdout(io.StringIO()):
        collectd.switch_to_next_day(peer.RolloverReason.MANUALLYINDUCED)
    collectd.con.close()


class _InProcess:
    """Stands in for `subprocess.Popen` inside the peer's module: a fetcher command runs the
    peer's own fetcher class in this process; the sendmail command is a null sink."""

    fetcher: Any = None

    def __init__(self, args: Any, stdout: Any = None, stdin: Any = None, **_: Any) -> None:
        self.stdin = io.BytesIO() if stdin is not None else None
        self.stdout = None
        if isinstance(args, list):  # a fetcher: [command..., day] or [command..., day, domain]
            output = io.StringIO()
            day = args[1]
            with contextlib.redirect_stdout(output):
                if len(args) == 2:
                    _InProcess.fetcher.fetch_domain_list(day)
                else:
                    _InProcess.fetcher.fetch_domain_details(day, args[2])
            self.stdout = io.BytesIO(output.getvalue().encode())

    def wait(self, timeout: float | None = None) -> int:
        return 0


@contextlib.contextmanager
def in_process_children() -> Iterator[None]:
    original = peer.subprocess.Popen
    peer.subprocess.Popen = _InProcess
    try:
        yield
    finally:
        peer.subprocess.Popen = original


def peer_reportd(folder: Path, collector_db: Path, synchronous: str) -> Any:
    fetcher = peer.TLSRPTFetcherSQLite(f"sqlite://{collector_db}", peer.ConfigFetcher(
        storage=f"sqlite://{collector_db}", logfilename="", log_level="warn"))
    _InProcess.fetcher = fetcher
    options = {name: spec["default"] for name, spec in peer.options_reportd.items()}
    options.update(
        dbname=str(folder / "reportd.db"), fetchers="fetcher", organization_name="Example",
        contact_info="tlsrpt@example.net", sender_address="noreply-tls@example.net",
        compression_level=6, spread_out_delivery=1)
    reportd = peer.TLSRPTReportd(peer.ConfigReportd(**options))
    reportd.con.execute(f"PRAGMA synchronous = {synchronous}")
    return reportd


def peer_pass(reportd: Any) -> int:
    with in_process_children():
        reportd.check_day()
        reportd.collect_domains()
        reportd.fetch_data()
        reportd.create_reports()
        reportd.send_out_reports()
    sent = reportd.con.execute(
        "SELECT count(*) FROM destinations WHERE status = 'sent'").fetchone()[0]
    return int(sent)


# -- ours ------------------------------------------------------------------------------------

def our_store(path: Path, synchronous: str) -> SqliteEventStore:
    store = SqliteEventStore(path)
    # The same durability as the peer's connection (our default is NORMAL); the store has no
    # public switch for it, so the benchmark sets it on the store's own connection.
    store._db.execute(f"PRAGMA synchronous = {synchronous}")
    return store


def our_collect(config: engine.Config, store: SqliteEventStore, data: list[bytes]) -> int:
    """Our collector's step after its receiver process: decode, window, store, by batch."""
    collector = Collector(config, store, None,  # type: ignore[arg-type] # no socket: fed below
                          CollectorSettings(socket="unused", batch_size=BATCH))
    collector._queue.extend((item, DAY + 3600) for item in data)
    while collector._queue:
        assert collector._write_batch()
    return collector.counters.events_stored


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def test_beside_the_peer(benchmark: Any, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, signed=False)
    lines, data = workload(), datagrams()
    best: dict[tuple[str, str], float] = {}
    rounds = iter(range(10**6))

    def keep(mode: str, name: str, seconds: float) -> None:
        best[mode, name] = min(seconds, best.get((mode, name), seconds))

    def one_round() -> None:
        for mode, synchronous in MODES.items():
            folder = tmp_path / f"r{next(rounds)}"
            folder.mkdir()
            # the peer: record datagrams, close the day, build and "send" every report
            collectd = peer_collectd(folder / "collectd.db", synchronous)
            seconds, _ = timed(lambda: peer_record(collectd, data))
            keep(mode, "peer record", seconds)
            peer_close_day(collectd)
            yesterday = Path(peer.make_yesterday_dbname(str(folder / "collectd.db")))
            with sqlite3.connect(yesterday) as check:
                total = check.execute("SELECT sum(cntrtotal) FROM finalresults").fetchone()[0]
            assert total == EVENTS
            reportd = peer_reportd(folder, folder / "collectd.db", synchronous)
            seconds, sent = timed(lambda: peer_pass(reportd))
            assert sent == DOMAINS
            keep(mode, "peer build", seconds)
            # ours: the same datagrams, then the same events as JSON Lines, then one pass
            with our_store(folder / "ours-datagrams.db", synchronous) as store:
                seconds, stored = timed(lambda: our_collect(config, store, data))
                assert stored == EVENTS
                keep(mode, "our record datagrams", seconds)
            with our_store(folder / "ours.db", synchronous) as store:
                seconds, result = timed(lambda: record_lines(config, store, lines, now=DAY))
                assert result.accepted == EVENTS and not result.rejected
                keep(mode, "our record jsonl", seconds)
                seconds, summary = timed(lambda: run_once(
                    config, store, DAY + 3 * 86400, send_mail=null_mail,
                    post_report=null_post, log=lambda line: None))
                assert summary.rendered == summary.delivered == DOMAINS, summary
                keep(mode, "our build", seconds)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    report = ["", f"beside tlsrpt-reporter 0.6.0 ({EVENTS:,} events, {DOMAINS} domains, "
                  f"commit every {BATCH:,} events; best of {ROUNDS} rounds, one run):"]
    for mode in MODES:
        peer_rate = EVENTS / best[mode, "peer record"]
        datagram_rate = EVENTS / best[mode, "our record datagrams"]
        jsonl_rate = EVENTS / best[mode, "our record jsonl"]
        report += [
            f"  durability {mode!r} (synchronous = {MODES[mode]} on both):",
            f"    record: peer {peer_rate:,.0f} events/s; ours from its datagrams "
            f"{datagram_rate:,.0f} ({datagram_rate / peer_rate:.2f}x), from JSON Lines "
            f"{jsonl_rate:,.0f} ({jsonl_rate / peer_rate:.2f}x)",
            f"    build {DOMAINS} reports: peer {best[mode, 'peer build']:.3f} s, ours "
            f"{best[mode, 'our build']:.3f} s "
            f"({best[mode, 'peer build'] / best[mode, 'our build']:.2f}x)"]
        benchmark.extra_info[mode] = {
            "peer_record_per_s": round(peer_rate), "ours_datagrams_per_s": round(datagram_rate),
            "ours_jsonl_per_s": round(jsonl_rate),
            "peer_build_s": round(best[mode, "peer build"], 3),
            "ours_build_s": round(best[mode, "our build"], 3)}
    with capsys.disabled():  # shown in -q runs too
        print("\n".join(report))
