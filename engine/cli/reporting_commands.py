"""Commands of the reporter: `record`, `report`, `serve`, `status`.

What they do is logged as structured events (engine.log; docs/reporting.md, "Logging"), quiet
by default: only warnings and errors unless `--log-level info`. Each command still ends with
one summary line on standard error (`serve`: after a pass that did something), and long runs
show progress: an info event every few seconds, and on a terminal a single updating line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from engine import log
from engine._bounded_io import bounded_lines
from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, UsageError, database_path, db_option,
                               parse_time, read_config, read_reporting_config,
                               store_options)
from engine.errors import ConfigError

#: progress of `record` is logged (info) at most this often, in seconds
PROGRESS_SECONDS = 5.0

if TYPE_CHECKING:
    from engine.config.config import Config


class _RecordProgress:
    """Progress of `tlsrpt record`: a `record-progress` info event every PROGRESS_SECONDS,
    and, when standard error is a terminal and info events are not shown, one line that
    updates in place (erased at the end, before the summary line)."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._logged = self._started
        self._terminal = sys.stderr.isatty() and not log.LOGGER.isEnabledFor(logging.INFO)
        self._shown = False

    def __call__(self, lines: int, result: Any) -> None:
        now = time.monotonic()
        rate = lines / max(now - self._started, 1e-9)
        if self._terminal:
            sys.stderr.write(f"\r{lines:,} lines read, {result.accepted:,} events recorded "
                             f"({rate:,.0f} lines/s)")
            sys.stderr.flush()
            self._shown = True
        if now - self._logged >= PROGRESS_SECONDS:
            self._logged = now
            log.info("record-progress", lines=lines, accepted=result.accepted,
                     ignored=result.ignored, rejected=len(result.rejected),
                     lines_per_second=round(rate))

    def finish(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")  # erase the progress line
            sys.stderr.flush()


def command_record(args: argparse.Namespace) -> int:
    from engine.reporting.intake.jsonl import record_lines
    from engine.reporting.store.open import open_event_store

    config = read_reporting_config(args.config)
    now = parse_time(args.now)
    if args.file in (None, "-"):
        stream = sys.stdin.buffer
    elif not os.path.isfile(args.file):
        raise UsageError(f"cannot read {args.file}: no such file")
    else:
        stream = open(args.file, "rb")  # noqa: SIM115 - closed below
    progress = _RecordProgress()
    try:
        with open_event_store(database_path(args, config)) as store:
            # bounded_lines: a line is never held whole past the intake's line bound
            result = record_lines(config, store, bounded_lines(stream), now=now,
                                  progress=progress)
    finally:
        progress.finish()
        if stream is not sys.stdin.buffer:
            stream.close()
    for number, reason in result.rejected:
        print(f"{args.file or '-'}:{number}: rejected: {reason}", file=sys.stderr)
    for number, warning in result.warnings:
        print(f"{args.file or '-'}:{number}: warning: {warning}", file=sys.stderr)
    print(f"{result.accepted} events recorded, {result.ignored} ignored, "
          f"{len(result.rejected)} rejected", file=sys.stderr)
    return EXIT_FINDINGS if result.rejected else EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.reporting.send.report import detail_lines, dry_run, summary_line, write_dry_run
    from engine.reporting.store.open import open_event_store

    config = read_reporting_config(args.config)
    now = parse_time(args.now)
    if not args.dry_run:
        if args.out is not None:
            raise UsageError("--out is only used with --dry-run")
        return _report_pass(config, database_path(args, config), now)
    if args.out is None:
        raise UsageError("--dry-run needs --out DIR")
    held = 0
    not_sent = 0
    count = 0
    with open_event_store(database_path(args, config)) as store:
        for report in dry_run(config, store, now):
            count += 1
            held += report.decided.status == "held"
            not_sent += report.decided.status == "not sent"
            paths = write_dry_run(report, Path(args.out))
            shown = ", ".join(str(path) for path in paths) or "nothing written"
            print(f"{summary_line(report)} -> {shown}")
            for line in detail_lines(report):
                print(line)
    print(f"{count} report{'s' * (count != 1)} built, {held} held, {not_sent} not sent "
          f"(the destination rules of a real pass applied)", file=sys.stderr)
    return EXIT_FINDINGS if held else EXIT_OK


def _summary_text(summary: Any) -> str:
    return (f"{summary.rendered} rendered, {summary.held} held, {summary.deferred} deferred, "
            f"{summary.not_sent} not sent; {summary.attempts} attempts: {summary.delivered} "
            f"delivered, {summary.retrying} to retry, {summary.failed} failed, "
            f"{summary.expired} expired; {summary.done} done, {summary.events_deleted} events "
            f"deleted" + (f", {summary.purged} purged" if summary.purged else "")
            + (f", {summary.errors} errors" if summary.errors else ""))


def _report_pass(config: Config, database: str, now: int) -> int:
    """`tlsrpt report` without --dry-run: one scheduler pass (for cron)."""
    from engine.reporting.send.scheduler import run_once
    from engine.reporting.store.open import open_event_store

    with open_event_store(database) as store:
        summary = run_once(config, store, now)
    print(_summary_text(summary), file=sys.stderr)
    return EXIT_FINDINGS if summary.problems else EXIT_OK


#: `tlsrpt serve` wakes up at least this often (spec 6.5)
MAX_SLEEP = 60.0


def command_serve(args: argparse.Namespace) -> int:
    import signal
    import time

    from engine.reporting.send.scheduler import run_once
    from engine.reporting.store.open import open_event_store

    config = read_reporting_config(args.config)
    if not 0 < args.max_sleep <= MAX_SLEEP:
        raise UsageError(f"--max-sleep must be more than 0 and at most {MAX_SLEEP:g} seconds")
    database = database_path(args, config)
    flags = {"stop": False, "reload": False}

    def on_stop(signum: int, frame: Any) -> None:
        flags["stop"] = True

    def on_reload(signum: int, frame: Any) -> None:
        flags["reload"] = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_reload)
    log.info("serve-started", store=database, max_sleep=args.max_sleep)
    with open_event_store(database) as store:
        while not flags["stop"]:
            if flags["reload"]:
                flags["reload"] = False
                try:
                    config = read_reporting_config(args.config)
                    log.info("config-reloaded", config=args.config)
                except (ConfigError, UsageError) as err:
                    # the previous configuration stays in use
                    log.warning("config-reload-failed", config=args.config, error=str(err))
            now = int(time.time())
            summary = run_once(config, store, now, stop=lambda: flags["stop"])
            if summary.attempts or summary.rendered or summary.held or summary.not_sent \
                    or summary.done or summary.deferred:
                print(_summary_text(summary), file=sys.stderr, flush=True)
            wait = args.max_sleep
            if summary.next_due is not None:
                wait = min(max(summary.next_due - time.time(), 1.0), args.max_sleep)
            deadline = time.monotonic() + wait
            # short slices: a signal sets a flag, and the loop notices it within 0.2 s
            while not flags["stop"] and not flags["reload"] and time.monotonic() < deadline:
                time.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
    log.info("serve-stopped", store=database)
    return EXIT_OK


def _when(t: int | None) -> str:
    from engine.reporting.window import rfc3339

    return "-" if t is None else rfc3339(int(t))


def command_status(args: argparse.Namespace) -> int:
    from engine.reporting.send.status import ledger_rows
    from engine.reporting.store.open import open_event_store

    config = read_config(args.config)
    database = database_path(args, config)
    if not os.path.isfile(database):
        raise UsageError(f"cannot read {database}: no such file")
    with open_event_store(database) as store:
        rows = ledger_rows(store, config)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no reports pending or recently done")
        return EXIT_OK
    for row in rows:
        label = "last reply" if row.status == "delivered" else "last error"
        error = f"  {label}: {row.last_error}" if row.last_error else ""
        if row.destination is None:
            if row.state == "DONE":
                detail = f"{row.outcome or 'done'} at {_when(row.done_at)}"
            elif row.state == "HELD":
                detail = "held: retried at every run"
            elif row.state == "DELIVERING":
                detail = f"next attempt {_when(row.next_try)}" if row.next_try else \
                    "every unit final"
            else:
                detail = f"next try {_when(row.next_try)}"
            print(f"{row.report_id}  {row.state}  send at {_when(row.send_at)}  {detail}  "
                  f"attempts {row.attempts}{error}")
        else:
            nxt = f"  next try {_when(row.next_try)}" if row.next_try else ""
            print(f"    {row.destination}  {row.status}  attempts {row.attempts}{nxt}{error}")
    return EXIT_OK


def register(commands: Any) -> None:
    record = commands.add_parser(
        "record", help="store TLS outcomes (JSON Lines) in the event store",
        description="Read events, one JSON object per line (docs/reporting.md), from FILE or "
                    "standard input and store them. Bad lines are reported with their line "
                    "number and skipped; the good ones are kept.")
    record.add_argument("config", metavar="CONFIG", help="configuration file")
    record.add_argument("file", nargs="?", metavar="FILE", help="JSON Lines file (- for stdin)")
    store_options(record, "the time of events without one (default: now)")
    record.set_defaults(handler=command_record)

    report = commands.add_parser(
        "report", help="build, send and retry reports (one pass, for cron)",
        description="One scheduler pass: render and sign the report of every (domain, window) "
                    "whose send time has come, deliver every due unit (mail through "
                    "[report.relay], HTTPS POST), retry failed ones on the backoff schedule "
                    "and delete the events of finished reports. Logs one structured event "
                    "per action (shown with --log-level info) and prints a summary line. "
                    "With --dry-run every closed window goes through the same render and "
                    "destination rules (suppress, bcc, send-all-success); the signed .eml "
                    "and .json.gz are written to --out and nothing is sent or changed.")
    report.add_argument("config", metavar="CONFIG", help="configuration file")
    store_options(report, "the current time (default: now)")
    report.add_argument("--dry-run", action="store_true", help="write files, send nothing")
    report.add_argument("--out", metavar="DIR", help="folder for --dry-run output")
    report.set_defaults(handler=command_report)

    serve = commands.add_parser(
        "serve", help="run the scheduler until SIGTERM or SIGINT",
        description="Run scheduler passes (as `tlsrpt report` does) in a loop, sleeping until "
                    "the next send time or retry, at most --max-sleep seconds. SIGTERM or "
                    "SIGINT stop it cleanly; SIGHUP reloads CONFIG.")
    serve.add_argument("config", metavar="CONFIG", help="configuration file")
    db_option(serve)
    serve.add_argument("--max-sleep", type=float, default=MAX_SLEEP, metavar="SECONDS",
                       help="longest sleep between passes (default and maximum: 60)")
    serve.set_defaults(handler=command_serve)

    status = commands.add_parser(
        "status", help="show pending, delivering and recently done reports",
        description="Print the delivery ledger: per report its state (OPEN, HELD, "
                    "DELIVERING, DONE) and per destination its status, attempts, last error "
                    "and next try.")
    status.add_argument("config", metavar="CONFIG", help="configuration file")
    db_option(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=command_status)
