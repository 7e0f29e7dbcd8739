"""The `tlsrpt` command (also `python -m engine`).

Exit status: 0 ok; 1 findings, failures or configuration errors; 2 usage errors or unreadable
input. Bad input never ends in a traceback: only `--verbose` shows one for internal errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from engine.config.config import Config, load_config
from engine.config.settings import TLS_AGGREGATE_KEYS
from engine.errors import ConfigError, EngineError
from engine.lint.render_text import render_text

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class _UsageError(Exception):
    """Bad command-line input or unreadable files: exit status 2."""


def _color(stream: Any) -> bool:
    # no-color.org: a NO_COLOR that is present and not empty turns colour off.
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def _read_config(path: str) -> Config:
    if path != "-" and not os.path.isfile(path):
        raise _UsageError(f"cannot read {path}: no such file")
    if path == "-":
        return load_config(sys.stdin.read())
    try:
        return load_config(os.fspath(path))
    except ConfigError as err:
        unreadable = [d for d in err.diagnostics if d.code == "E002"]
        if unreadable:
            raise _UsageError(f"cannot read {path}: {unreadable[0].message}") from None
        raise


def _parse_var(text: str) -> tuple[str, Any]:
    """`NAME=TEXT` gives a string; `NAME:=JSON` a typed value (`retry_num:=3`, `r:=["a"]`)."""
    if ":=" in text:
        name, _, raw = text.partition(":=")
        try:
            return name, json.loads(raw)
        except json.JSONDecodeError as err:
            raise _UsageError(f"--var {text}: not JSON ({err.msg})") from None
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise _UsageError(f"--var {text}: expected NAME=VALUE or NAME:=JSON")
    return name, value


def _show(value: Any) -> str:
    if value is None:
        return "(no value)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def command_eval(args: argparse.Namespace) -> int:
    config = _read_config(args.config)
    variables = dict(_parse_var(item) for item in args.var)
    resolution = config.explain(args.key, variables)
    if args.json:
        print(json.dumps({"key": args.key, "value": resolution.value,
                          "rule": resolution.rule, "origin": resolution.origin},
                         ensure_ascii=False))
    else:
        print(_show(resolution.value))
    return EXIT_OK


def command_resolve(args: argparse.Namespace) -> int:
    config = _read_config(args.config)
    settings = config.tls_aggregate(args.domain)
    values: dict[str, Any] = {"report.submitter": config.submitter(args.domain)}
    for key in TLS_AGGREGATE_KEYS:
        field = key.rsplit(".", 1)[1].replace("-", "_")
        value = getattr(settings, field)
        values[key] = value.name.lower() if key.endswith(".send") else (
            list(value) if isinstance(value, tuple) else value)
    fallbacks = [{"key": f.key, "reason": f.reason, "used": _jsonable(f.used)}
                 for f in settings.fallbacks]
    if args.json:
        print(json.dumps({"domain": args.domain, "settings": values, "fallbacks": fallbacks},
                         ensure_ascii=False, indent=2))
    else:
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"{key:<{width}}  {_show(value)}")
        for fallback in fallbacks:
            print(f"warning: {fallback['key']}: {fallback['reason']}; used "
                  f"{_show(fallback['used'])}", file=sys.stderr)
    return EXIT_OK


def command_lint(args: argparse.Namespace) -> int:
    from engine.lint.catalogue import RULES, selected
    from engine.lint.check import lint_file
    from engine.lint.render import render

    if args.explain:
        rule = RULES.get(args.explain.upper())
        if rule is None:
            raise _UsageError(f"no diagnostic code {args.explain}")
        print(f"{rule.code} ({rule.name}, {rule.severity.value}): {rule.summary}\n\n"
              f"Why: {rule.why}\nFix: {rule.fix}\nSee docs/lint.md#{rule.code.lower()}-"
              f"{rule.name}")
        return EXIT_OK
    if not args.config:
        raise _UsageError("lint needs at least one CONFIG file (or --explain CODE)")
    select = tuple(code.strip().upper() for item in args.select for code in item.split(","))
    ignore = tuple(code.strip().upper() for item in args.ignore for code in item.split(","))
    diagnostics = []
    sources: dict[str | None, str] = {}
    unreadable = False
    checked = 0
    for path in args.config:
        if not os.path.isfile(path):
            print(f"tlsrpt: cannot read {path}: no such file", file=sys.stderr)
            unreadable = True
            continue
        checked += 1
        found, text = lint_file(path)
        if any(d.code == "E002" for d in found):
            unreadable = True
        sources[found[0].file if found else path] = text
        diagnostics.extend(d for d in found if selected(d.code, select, ignore))
    output = render(args.format, diagnostics, sources,
                    color=args.format == "text" and _color(sys.stdout))
    if output:
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
    if args.format == "text" and checked:
        errors = sum(d.severity.value == "error" for d in diagnostics)
        warnings = len(diagnostics) - errors
        summary = "no problems found" if not diagnostics else \
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        print(f"{checked} file{'s' * (checked != 1)} checked: {summary}", file=sys.stderr)
    if unreadable:
        return EXIT_USAGE
    failing = [d for d in diagnostics
               if d.severity.value == "error" or (args.strict and d.severity.value == "warning")]
    return EXIT_FINDINGS if failing and not args.exit_zero else EXIT_OK


DEFAULT_DB = "tlsrpt.db"


def _parse_time(text: str | None) -> int:
    """`--now`: Unix seconds or an RFC 3339 date-time (UTC when no offset is given)."""
    import datetime
    import time

    if text is None:
        return int(time.time())
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _UsageError(f"--now {text}: expected Unix seconds or a date-time such as "
                          "2024-05-07T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def _database(args: argparse.Namespace, config: Config) -> str:
    """--db, else the configuration's report.store.path, else tlsrpt.db here."""
    return str(args.db or config.values.get("report.store.path") or DEFAULT_DB)


def command_record(args: argparse.Namespace) -> int:
    from engine.reporting.record import record_lines
    from engine.reporting.store import SqliteEventStore

    config = _read_config(args.config)
    now = _parse_time(args.now)
    if args.file in (None, "-"):
        stream = sys.stdin.buffer
    elif not os.path.isfile(args.file):
        raise _UsageError(f"cannot read {args.file}: no such file")
    else:
        stream = open(args.file, "rb")  # noqa: SIM115 - closed below
    try:
        with SqliteEventStore(_database(args, config)) as store:
            result = record_lines(config, store, stream, now=now)
    finally:
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

    from engine.reporting.report import prepare_due, summary_line, write_dry_run
    from engine.reporting.store import SqliteEventStore

    config = _read_config(args.config)
    now = _parse_time(args.now)
    if not args.dry_run:
        if args.out is not None:
            raise _UsageError("--out is only used with --dry-run")
        return _report_pass(config, _database(args, config), now)
    if args.out is None:
        raise _UsageError("--dry-run needs --out DIR")
    held = 0
    count = 0
    with SqliteEventStore(_database(args, config)) as store:
        for report in prepare_due(config, store, now):
            count += 1
            held += report.held is not None
            paths = write_dry_run(report, Path(args.out))
            shown = ", ".join(str(path) for path in paths) or "nothing written"
            print(f"{summary_line(report)} -> {shown}")
    print(f"{count} report{'s' * (count != 1)} built, {held} held", file=sys.stderr)
    return EXIT_FINDINGS if held else EXIT_OK


def _print_line(line: str) -> None:
    print(line, flush=True)


def _summary_text(summary: Any) -> str:
    return (f"{summary.rendered} rendered, {summary.held} held, {summary.deferred} deferred, "
            f"{summary.not_sent} not sent; {summary.attempts} attempts: {summary.delivered} "
            f"delivered, {summary.retrying} to retry, {summary.failed} failed, "
            f"{summary.expired} expired; {summary.done} done, {summary.events_deleted} events "
            f"deleted" + (f", {summary.purged} purged" if summary.purged else "")
            + (f", {summary.errors} errors" if summary.errors else ""))


def _report_pass(config: Config, database: str, now: int) -> int:
    """`tlsrpt report` without --dry-run: one scheduler pass (for cron)."""
    from engine.reporting.scheduler import run_once
    from engine.reporting.store import SqliteEventStore

    with SqliteEventStore(database) as store:
        summary = run_once(config, store, now, log=_print_line)
    print(_summary_text(summary), file=sys.stderr)
    return EXIT_FINDINGS if summary.problems else EXIT_OK


#: `tlsrpt serve` wakes up at least this often (spec 6.5)
MAX_SLEEP = 60.0


def command_serve(args: argparse.Namespace) -> int:
    import signal
    import time

    from engine.reporting.scheduler import run_once
    from engine.reporting.store import SqliteEventStore

    config = _read_config(args.config)
    if not 0 < args.max_sleep <= MAX_SLEEP:
        raise _UsageError(f"--max-sleep must be more than 0 and at most {MAX_SLEEP:g} seconds")
    database = _database(args, config)
    flags = {"stop": False, "reload": False}

    def on_stop(signum: int, frame: Any) -> None:
        flags["stop"] = True

    def on_reload(signum: int, frame: Any) -> None:
        flags["reload"] = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_reload)
    print(f"tlsrpt serve: store {database}; running until SIGTERM or SIGINT", file=sys.stderr,
          flush=True)
    with SqliteEventStore(database) as store:
        while not flags["stop"]:
            if flags["reload"]:
                flags["reload"] = False
                try:
                    config = _read_config(args.config)
                    print(f"tlsrpt serve: configuration {args.config} reloaded",
                          file=sys.stderr, flush=True)
                except (ConfigError, _UsageError) as err:
                    print(f"tlsrpt serve: configuration not reloaded, keeping the previous "
                          f"one: {err}", file=sys.stderr, flush=True)
            now = int(time.time())
            summary = run_once(config, store, now, log=_print_line,
                               stop=lambda: flags["stop"])
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
    print("tlsrpt serve: stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def _when(t: int | None) -> str:
    from engine.reporting.window import rfc3339

    return "-" if t is None else rfc3339(int(t))


def command_status(args: argparse.Namespace) -> int:
    from engine.reporting.scheduler import ledger_rows
    from engine.reporting.store import SqliteEventStore

    config = _read_config(args.config)
    database = _database(args, config)
    if not os.path.isfile(database):
        raise _UsageError(f"cannot read {database}: no such file")
    with SqliteEventStore(database) as store:
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


def _analysis_inputs(paths: Sequence[str]) -> Any:
    """(name, bytes) for each PATH: files, every file below a folder, or `-` for stdin."""
    from pathlib import Path

    from engine.reporting.analysis_limits import Limits

    most = Limits().max_input
    for given in paths:
        if given == "-":
            yield "-", sys.stdin.buffer.read(most + 1)
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(item for item in path.rglob("*") if item.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise _UsageError(f"cannot read {given}: no such file or folder")
        for item in files:
            with item.open("rb") as handle:
                yield str(item), handle.read(most + 1)  # the limit is enforced by analysis


def command_analyze(args: argparse.Namespace) -> int:
    from engine.reporting.analysis import analyze_bytes
    from engine.reporting.explain import advice
    from engine.reporting.window import rfc3339

    results = []
    rejected = failures = 0
    for name, data in _analysis_inputs(args.paths):
        analysis = analyze_bytes(data, require_dkim=args.require_dkim)
        report = analysis.report
        rejected += analysis.status != "accepted"
        failures += report.failures if report is not None else 0
        entry: dict[str, Any] = {
            "input": name, "status": analysis.status, "code": analysis.code,
            "reason": analysis.reason, "path": analysis.path,
            "container": list(analysis.container),
            "warnings": [{"path": w.path, "message": w.message} for w in analysis.warnings]}
        if report is not None:
            entry["report"] = {
                "organization": report.organization, "contact": report.contact,
                "report_id": report.report_id, "start": rfc3339(report.start),
                "end": rfc3339(report.end), "successes": report.successes,
                "failures": report.failures,
                "policies": [{
                    "type": policy.type, "domain": policy.domain,
                    "mx_hosts": list(policy.mx_hosts), "successes": policy.successes,
                    "failures": policy.failures,
                    "failure_types": policy.failures_by_result_type,
                    "receiving_ips": sorted({d.receiving_ip for d in policy.details
                                             if d.receiving_ip}),
                } for policy in report.policies]}
        results.append(entry)
        if not args.json:
            _print_analysis(entry, advice)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    if rejected or (args.fail_on_failures and failures):
        return EXIT_FINDINGS
    return EXIT_OK


def _print_analysis(entry: dict[str, Any], advice: Any) -> None:
    if entry["status"] != "accepted":
        where = f" at {entry['path']}" if entry["path"] else ""
        print(f"{entry['input']}: rejected ({entry['code']}{where}): {entry['reason']}")
        return
    report = entry["report"]
    print(f"{entry['input']}: report {report['report_id']} from "
          f"{report['organization'] or 'an unnamed organisation'}, {report['start']} to "
          f"{report['end']}: {report['successes']} sessions ok, {report['failures']} failed")
    for policy in report["policies"]:
        print(f"  {policy['domain'] or '(no domain)'} ({policy['type']}): "
              f"{policy['successes']} ok, {policy['failures']} failed"
              + (f"; MX {', '.join(policy['mx_hosts'])}" if policy["mx_hosts"] else ""))
        for kind, count in sorted(policy["failure_types"].items(), key=lambda i: -i[1]):
            print(f"    {kind}: {count} - {advice(kind)}")
    for warning in entry["warnings"]:
        print(f"  warning: {warning['path']}: {warning['message']}")


def _jsonable(value: Any) -> Any:
    return int(value) if isinstance(value, int) else value


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="event store file (default: report.store.path, else "
                                     f"{DEFAULT_DB})")


def _store_options(parser: argparse.ArgumentParser, now_help: str) -> None:
    _db_option(parser)
    parser.add_argument("--now", help=now_help + "; Unix seconds or RFC 3339")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tlsrpt",
        description="Stalwart-style configuration expressions and SMTP TLS reporting "
                    "(RFC 8460).")
    parser.add_argument("--verbose", action="store_true",
                        help="show a traceback for internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    lint = commands.add_parser(
        "lint", help="check configuration files for every mistake",
        description="Check each CONFIG and report every problem with its position. Exit "
                    "status 0 when clean (warnings allowed unless --strict), 1 when errors were "
                    "found, 2 when a file cannot be read.")
    lint.add_argument("config", nargs="*", metavar="CONFIG", help="configuration files")
    lint.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text",
                      help="output format (default: text)")
    lint.add_argument("--select", action="append", default=[], metavar="CODES",
                      help="only these codes or prefixes (E2, W404, ...); repeatable, "
                           "comma-separated")
    lint.add_argument("--ignore", action="append", default=[], metavar="CODES",
                      help="skip these codes or prefixes")
    lint.add_argument("--strict", action="store_true", help="warnings also fail (exit 1)")
    lint.add_argument("--exit-zero", action="store_true",
                      help="exit 0 even when problems are found")
    lint.add_argument("--explain", metavar="CODE", help="explain a diagnostic code and exit")
    lint.set_defaults(handler=command_lint)

    record = commands.add_parser(
        "record", help="store TLS outcomes (JSON Lines) in the event store",
        description="Read events, one JSON object per line (docs/reporting.md), from FILE or "
                    "standard input and store them. Bad lines are reported with their line "
                    "number and skipped; the good ones are kept.")
    record.add_argument("config", metavar="CONFIG", help="configuration file")
    record.add_argument("file", nargs="?", metavar="FILE", help="JSON Lines file (- for stdin)")
    _store_options(record, "the time of events without one (default: now)")
    record.set_defaults(handler=command_record)

    report = commands.add_parser(
        "report", help="build, send and retry reports (one pass, for cron)",
        description="One scheduler pass: render and sign the report of every (domain, window) "
                    "whose send time has come, deliver every due unit (mail through "
                    "[report.relay], HTTPS POST), retry failed ones on the backoff schedule "
                    "and delete the events of finished reports. Prints one line per action. "
                    "With --dry-run the signed .eml and .json.gz of every closed window are "
                    "written to --out and nothing is sent or changed.")
    report.add_argument("config", metavar="CONFIG", help="configuration file")
    _store_options(report, "the current time (default: now)")
    report.add_argument("--dry-run", action="store_true", help="write files, send nothing")
    report.add_argument("--out", metavar="DIR", help="folder for --dry-run output")
    report.set_defaults(handler=command_report)

    serve = commands.add_parser(
        "serve", help="run the scheduler until SIGTERM or SIGINT",
        description="Run scheduler passes (as `tlsrpt report` does) in a loop, sleeping until "
                    "the next send time or retry, at most --max-sleep seconds. SIGTERM or "
                    "SIGINT stop it cleanly; SIGHUP reloads CONFIG.")
    serve.add_argument("config", metavar="CONFIG", help="configuration file")
    _db_option(serve)
    serve.add_argument("--max-sleep", type=float, default=MAX_SLEEP, metavar="SECONDS",
                       help="longest sleep between passes (default and maximum: 60)")
    serve.set_defaults(handler=command_serve)

    status = commands.add_parser(
        "status", help="show pending, delivering and recently done reports",
        description="Print the delivery ledger: per report its state (OPEN, HELD, "
                    "DELIVERING, DONE) and per destination its status, attempts, last error "
                    "and next try.")
    status.add_argument("config", metavar="CONFIG", help="configuration file")
    _db_option(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=command_status)

    analyze = commands.add_parser(
        "analyze", help="read TLS reports that others sent (JSON, gzip, zip or email)",
        description="Read each report (files, every file below a folder, or - for stdin), "
                    "decided by its content, never its name; print what it says and what each "
                    "failure type usually means. Exit 1 when an input is rejected, or with "
                    "--fail-on-failures when a report counts failed sessions.")
    analyze.add_argument("paths", nargs="+", metavar="PATH", help="report files or folders")
    analyze.add_argument("--json", action="store_true", help="print JSON")
    analyze.add_argument("--fail-on-failures", action="store_true",
                         help="exit 1 when any report counts failed sessions")
    analyze.add_argument("--require-dkim", action="store_true",
                         help="reject emailed reports without a valid DKIM signature")
    analyze.set_defaults(handler=command_analyze)

    evaluate = commands.add_parser(
        "eval", help="print the value of one setting for a context",
        description="Resolve one setting of CONFIG for the variables given with --var.")
    evaluate.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    evaluate.add_argument("key", metavar="KEY", help="setting, e.g. report.tls.aggregate.send")
    evaluate.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                          help="a variable as text (NAME=VALUE) or JSON (NAME:=JSON); "
                               "repeatable; globals are $NAME")
    evaluate.add_argument("--json", action="store_true", help="print JSON with the rule used")
    evaluate.set_defaults(handler=command_eval)

    resolve = commands.add_parser(
        "resolve", help="print every TLS report setting for a domain",
        description="Resolve report.submitter and every report.tls.aggregate.* setting of "
                    "CONFIG for reports about DOMAIN, typed and validated.")
    resolve.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    resolve.add_argument("--domain", required=True, help="the report (policy) domain")
    resolve.add_argument("--json", action="store_true", help="print JSON")
    resolve.set_defaults(handler=command_resolve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except _UsageError as err:
        print(f"tlsrpt: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as err:
        sources = {d.file: _source_of(d.file, args) for d in err.diagnostics}
        sys.stderr.write(render_text(err.diagnostics, sources, color=_color(sys.stderr)))
        return EXIT_FINDINGS
    except EngineError as err:
        print(f"tlsrpt: {err}", file=sys.stderr)
        return EXIT_FINDINGS
    except BrokenPipeError:  # `tlsrpt ... | head`: the reader has gone, which is fine
        sys.stderr.close()
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - the one place that reports internal errors
        print(f"tlsrpt: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_USAGE


def _source_of(file: str | None, args: argparse.Namespace) -> str | None:
    path = file or getattr(args, "config", None)
    if path and path != "-" and os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    return None


if __name__ == "__main__":
    sys.exit(main())
