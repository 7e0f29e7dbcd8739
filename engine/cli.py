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
        raise _UsageError("delivery is not available yet: use --dry-run --out DIR")
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


def _jsonable(value: Any) -> Any:
    return int(value) if isinstance(value, int) else value


def _store_options(parser: argparse.ArgumentParser, now_help: str) -> None:
    parser.add_argument("--db", help="event store file (default: report.store.path, else "
                                     f"{DEFAULT_DB})")
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
        "report", help="build the reports of every closed window",
        description="Build, package and sign the report of every (domain, window) whose window "
                    "has closed. With --dry-run the signed .eml and .json.gz are written to "
                    "--out and nothing is sent or deleted.")
    report.add_argument("config", metavar="CONFIG", help="configuration file")
    _store_options(report, "the current time (default: now)")
    report.add_argument("--dry-run", action="store_true", help="write files, send nothing")
    report.add_argument("--out", metavar="DIR", help="folder for --dry-run output")
    report.set_defaults(handler=command_report)

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
