"""`tlsrpt analyze`: reports that others sent us (spec/reporting.md 7).

Reads inputs (files, folders, `-`) or the analysis store, prints each report or, with
`--group-by`, one overview; `--store DB` keeps what was read, `--reprocess` reads the kept raw
inputs again. The settings come from the command line, else the configuration's
`report.analysis.*` keys (`--config`), else the defaults of spec 7.4 and 7.6.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from engine.cli.common import EXIT_FINDINGS, EXIT_OK, UsageError, read_reporting_config
from engine.reporting.analysis.auth import Authentication
from engine.reporting.analysis.limits import LIMIT_NAMES, Limits, limits_with

DEFAULT_STORE: Final = "tlsrpt-reports.db"
DAY: Final = 86400
_LIMIT_KEY: Final = "report.analysis.limits."


@dataclass(frozen=True, slots=True)
class _Settings:
    limits: Limits
    auth: Authentication
    store_path: str


def command_analyze(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.group_by and args.reprocess:
        raise UsageError("--group-by summarises reports; it does not apply to --reprocess")
    if args.keep < 0:
        raise UsageError(f"--keep {args.keep}: days must be 0 (for ever) or more")
    if args.reprocess:
        return _reprocess(args, settings)
    if args.from_store:
        if args.paths:
            raise UsageError("--from-store reads the store: give no PATH")
        entries = list(_stored_entries(args, settings))
    else:
        if not args.paths:
            raise UsageError("give at least one PATH (a file, a folder or -), or --from-store")
        if args.since or args.until:
            raise UsageError("--since and --until select stored reports: use --from-store")
        entries = list(_analysed_entries(args, settings))
    return _output(args, entries)


# --- settings -------------------------------------------------------------------------------

def _settings(args: argparse.Namespace) -> _Settings:
    config = read_reporting_config(args.config) if args.config else None
    auth = Authentication()
    limit_texts: dict[str, str] = {}
    store_path = DEFAULT_STORE
    if config is not None:
        auth = Authentication(
            require_dkim=bool(config.typed("report.analysis.require-dkim")[0]),
            require_aligned=bool(config.typed("report.analysis.require-aligned")[0]),
            require_tlsrpt_service=bool(
                config.typed("report.analysis.require-tlsrpt-service")[0]))
        limit_texts = {key[len(_LIMIT_KEY):]: value for key, value in config.values.items()
                       if key.startswith(_LIMIT_KEY)}
        store_path = config.values.get("report.analysis.store-path") or DEFAULT_STORE
    try:
        limits = limits_with(limit_texts)
    except ValueError as error:
        raise UsageError(f"{args.config}: {_LIMIT_KEY}*: {error}") from None
    overrides: dict[str, str] = {}
    for text in args.limit:
        name, sep, value = text.partition("=")
        if not sep:
            raise UsageError(f"--limit {text}: expected NAME=VALUE, e.g. part-size=5MiB")
        overrides[name] = value
    try:
        limits = limits_with(overrides, limits)
    except ValueError as error:
        raise UsageError(f"--limit: {error}") from None
    for flag in ("require_dkim", "require_aligned", "require_tlsrpt_service"):
        if getattr(args, flag) is not None:
            auth = replace(auth, **{flag: getattr(args, flag)})
    return _Settings(limits, auth, args.store or store_path)


def _date(option: str, text: str | None) -> int | None:
    """Unix seconds, `YYYY-MM-DD` or an RFC 3339 date-time (UTC when no offset is given)."""
    import datetime

    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00")
                                                 .replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text}: expected a date such as 2024-05-07, a date-time "
                         f"such as 2024-05-07T12:00:00Z, or Unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


# --- reading ------------------------------------------------------------------------------

def _analysis_inputs(paths: Sequence[str], limits: Limits) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) for each PATH: files, every file below a folder, or `-` for stdin. One
    byte more than the input cap is read, so that the analysis can tell the cap was passed
    without the whole of a huge file ever being in memory."""
    most = limits.max_input
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
            raise UsageError(f"cannot read {given}: no such file or folder")
        for item in files:
            try:
                with item.open("rb") as handle:
                    data = handle.read(most + 1)
            except OSError as error:
                raise UsageError(f"cannot read {item}: {error.strerror}") from None
            yield str(item), data


def _analysed_entries(args: argparse.Namespace, settings: _Settings
                      ) -> Iterator[dict[str, Any]]:
    from engine.reporting.analysis.analyze import analyze_bytes

    store = _open_store(settings) if args.store else None
    now = int(time.time())
    expires = now + args.keep * DAY if args.keep > 0 else None
    try:
        if store is not None:
            store.purge(now)
        for name, data in _analysis_inputs(args.paths, settings.limits):
            analysis = analyze_bytes(data, limits=settings.limits, auth=settings.auth)
            entry = _entry(name, analysis)
            if store is not None:
                entry["stored"] = store.add(analysis, data, name=name, received=now,
                                            expires=expires)
            yield entry
    finally:
        if store is not None:
            store.close()


def _stored_entries(args: argparse.Namespace, settings: _Settings
                    ) -> Iterator[dict[str, Any]]:
    since, until = _date("--since", args.since), _date("--until", args.until)
    with _open_store(settings) as store:
        for stored in store.reports(since, until):
            yield {"input": f"store #{stored.input_id}" + (f" ({stored.name})"
                                                          if stored.name else ""),
                   "status": "accepted", "code": None, "reason": None, "path": None,
                   "container": [], "dkim": stored.dkim,
                   "warnings": [{"path": w.path, "message": w.message}
                                for w in stored.warnings],
                   "report": _report_json(stored.report), "parsed": stored.report}


def _open_store(settings: _Settings) -> Any:
    from engine.reporting.store.open import open_analysis_store

    return open_analysis_store(settings.store_path)


def _entry(name: str, analysis: Any) -> dict[str, Any]:
    outcome = analysis.dkim_outcome
    entry: dict[str, Any] = {
        "input": name, "status": analysis.status, "code": analysis.code,
        "reason": analysis.reason, "path": analysis.path,
        "container": list(analysis.container),
        "dkim": outcome.result if outcome is not None else None,
        "warnings": [{"path": w.path, "message": w.message} for w in analysis.warnings]}
    if analysis.report is not None:
        entry["report"] = _report_json(analysis.report)
        entry["parsed"] = analysis.report
    return entry


def _report_json(report: Any) -> dict[str, Any]:
    from engine.reporting.window import rfc3339

    return {
        "organization": report.organization, "contact": report.contact,
        "report_id": report.report_id, "start": rfc3339(report.start),
        "end": rfc3339(report.end), "successes": report.successes,
        "failures": report.failures,
        "policies": [{
            "type": policy.type, "domain": policy.domain,
            "mx_hosts": list(policy.mx_hosts), "successes": policy.successes,
            "failures": policy.failures,
            "failure_types": policy.failures_by_result_type,
            "receiving_ips": policy.receiving_ips,
        } for policy in report.policies]}


# --- output -------------------------------------------------------------------------------

def _output(args: argparse.Namespace, entries: list[dict[str, Any]]) -> int:
    from engine.reporting.analysis.summary import summarise

    rejected = sum(entry["status"] != "accepted" for entry in entries)
    failures = sum(entry["report"]["failures"] for entry in entries if "report" in entry)
    if args.group_by:
        groups = summarise((entry["parsed"] for entry in entries if "parsed" in entry),
                           args.group_by)
        if args.json:
            print(json.dumps({"group_by": args.group_by,
                              "reports": sum("parsed" in entry for entry in entries),
                              "groups": [group.to_json() for group in groups],
                              "rejected": [_public(entry) for entry in entries
                                           if entry["status"] != "accepted"]},
                             ensure_ascii=False, indent=2))
        else:
            for entry in entries:
                if entry["status"] != "accepted":
                    _print_entry(entry)
            _print_groups(args.group_by, groups, sum("parsed" in e for e in entries))
    elif args.json:
        print(json.dumps([_public(entry) for entry in entries], ensure_ascii=False, indent=2))
    else:
        for entry in entries:
            _print_entry(entry)
    if args.store and not args.from_store:
        _print_store_counts(entries, args.json)
    if rejected or (args.fail_on_failures and failures):
        return EXIT_FINDINGS
    return EXIT_OK


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "parsed"}


def _print_entry(entry: dict[str, Any]) -> None:
    from engine.reporting.analysis.advice import advice

    stored = f" [{entry['stored']}]" if "stored" in entry else ""
    if entry["status"] != "accepted":
        where = f" at {entry['path']}" if entry["path"] else ""
        print(f"{entry['input']}: rejected ({entry['code']}{where}): {entry['reason']}{stored}")
        if entry["code"] == "AUTH_FAILED":
            print("  (RFC 8460 asks for a valid DKIM signature on emailed reports; "
                  "--no-require-dkim reads it anyway, with a warning)")
        return
    report = entry["report"]
    print(f"{entry['input']}: report {report['report_id']} from "
          f"{report['organization'] or 'an unnamed organisation'}, {report['start']} to "
          f"{report['end']}: {report['successes']} sessions ok, {report['failures']} failed"
          + stored)
    for policy in report["policies"]:
        print(f"  {policy['domain'] or '(no domain)'} ({policy['type']}): "
              f"{policy['successes']} ok, {policy['failures']} failed"
              + (f"; MX {', '.join(policy['mx_hosts'])}" if policy["mx_hosts"] else "")
              + (f"; IPs {', '.join(policy['receiving_ips'])}" if policy["receiving_ips"]
                 else ""))
        for kind, count in sorted(policy["failure_types"].items(), key=lambda i: -i[1]):
            print(f"    {kind}: {count} - {advice(kind)}")
    for warning in entry["warnings"]:
        print(f"  warning: {warning['path']}: {warning['message']}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _print_groups(by: str, groups: Sequence[Any], reports: int) -> None:
    from engine.reporting.analysis.advice import advice

    print(f"{_count(reports, 'report')} by {by}:")
    for group in groups:
        ok = "" if group.successes is None else f"{group.successes} ok, "
        print(f"  {group.key}: {_count(group.reports, 'report')}, {ok}{group.failures} failed")
        if by != "result-type":
            for kind, count in group.failure_types:
                print(f"    {kind}: {count} - {advice(kind)}")
        else:
            print(f"    {advice(group.key)}")
            print(f"    domains: {', '.join(group.domains)}; from: "
                  f"{', '.join(group.organisations)}")
        if group.failures and (group.mx_hosts or group.receiving_ips):
            print(f"    MX: {', '.join(group.mx_hosts) or '-'}; IPs: "
                  f"{', '.join(group.receiving_ips) or '-'}")


def _print_store_counts(entries: list[dict[str, Any]], to_stderr: bool) -> None:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["stored"]] = counts.get(entry["stored"], 0) + 1
    text = ", ".join(f"{count} {what}" for what, count in sorted(counts.items()))
    # with --json stdout holds only the JSON document
    print(f"store: {text or 'nothing read'}", file=sys.stderr if to_stderr else sys.stdout)


# --- reprocessing -------------------------------------------------------------------------

def _reprocess(args: argparse.Namespace, settings: _Settings) -> int:
    """Analyse every kept raw input again (after a parser fix). An input whose report was
    authenticated when it arrived is not asked for DKIM again: keys rotate, and a signature
    that verified then proves what it proved."""
    from engine.reporting.analysis.analyze import analyze_bytes

    if args.paths or args.from_store:
        raise UsageError("--reprocess reads the store's kept inputs: give no PATH or "
                         "--from-store")
    changes: list[dict[str, Any]] = []
    still_rejected = 0
    with _open_store(settings) as store:
        for kept in store.inputs():
            auth = settings.auth
            if kept.dkim is not None:  # the report was accepted under the policy of then
                auth = replace(auth, require_dkim=False, require_aligned=False)
            analysis = analyze_bytes(kept.raw, limits=settings.limits, auth=auth)
            outcome = store.replace(kept.id, analysis)
            still_rejected += analysis.status != "accepted"
            changes.append({"input": kept.id, "name": kept.name, "was": kept.code or "accepted",
                            "now": analysis.code or "accepted", "stored": outcome,
                            "reason": analysis.reason})
        stats = store.stats()
    if args.json:
        print(json.dumps({"inputs": changes, "store": stats}, ensure_ascii=False, indent=2))
    else:
        for change in changes:
            if change["was"] != change["now"] or change["stored"] != "stored":
                print(f"input #{change['input']} ({change['name']}): {change['was']} -> "
                      f"{change['now']} [{change['stored']}]"
                      + (f": {change['reason']}" if change["reason"] else ""))
        print(f"reprocessed {len(changes)} inputs: {stats['reports']} reports stored, "
              f"{stats['rejected_inputs']} inputs still rejected")
    return EXIT_FINDINGS if still_rejected else EXIT_OK


def register(commands: Any) -> None:
    analyze = commands.add_parser(
        "analyze", help="read TLS reports that others sent (JSON, gzip, zip or email)",
        description="Read each report (files, every file below a folder, or - for stdin), "
                    "decided by its content, never its name; print what it says and what each "
                    "failure type usually means. Exit 1 when an input is rejected, or with "
                    "--fail-on-failures when a report counts failed sessions.")
    analyze.add_argument("paths", nargs="*", metavar="PATH", help="report files or folders")
    analyze.add_argument("--json", action="store_true", help="print JSON")
    analyze.add_argument("--fail-on-failures", action="store_true",
                         help="exit 1 when any report counts failed sessions")
    analyze.add_argument("--group-by", choices=("organisation", "domain", "result-type", "day"),
                         help="print one overview of all reports instead of each report")
    analyze.add_argument("--config", metavar="CONFIG",
                         help="read report.analysis.* settings from this configuration")
    auth = analyze.add_argument_group("authentication of emailed reports (spec 7.6)")
    auth.add_argument("--require-dkim", action=argparse.BooleanOptionalAction, default=None,
                      help="reject emails without a verifying DKIM signature (default: on, "
                           "as RFC 8460 3 requires; --no-require-dkim keeps them with a "
                           "warning)")
    auth.add_argument("--require-aligned", action=argparse.BooleanOptionalAction, default=None,
                      help="the verifying signature's d= must be the TLS-Report-Submitter "
                           "domain or a parent of it (default: off)")
    auth.add_argument("--require-tlsrpt-service", action=argparse.BooleanOptionalAction,
                      default=None, help="the DKIM key must be restricted to s=tlsrpt "
                                         "(default: off)")
    analyze.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                         help="change a safety limit, e.g. part-size=5MiB; names: "
                              + ", ".join(LIMIT_NAMES))
    store = analyze.add_argument_group("the analysis store")
    store.add_argument("--store", metavar="DB",
                       help="keep the reports read (and their raw input) in this SQLite file; "
                            "with --from-store or --reprocess, the file to read (default: "
                            f"report.analysis.store-path, else {DEFAULT_STORE})")
    store.add_argument("--keep", type=int, default=30, metavar="DAYS",
                       help="days a stored input is kept (default 30; 0: for ever)")
    store.add_argument("--from-store", action="store_true",
                       help="summarise stored reports instead of reading PATHs")
    store.add_argument("--since", metavar="DATE",
                       help="with --from-store: reports whose date range ends at or after DATE")
    store.add_argument("--until", metavar="DATE",
                       help="with --from-store: reports whose date range starts before DATE")
    store.add_argument("--reprocess", action="store_true",
                       help="analyse every kept raw input again and update the store")
    analyze.set_defaults(handler=command_analyze)
