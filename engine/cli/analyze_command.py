"""`tlsrpt analyze`: reports that others sent us."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from engine.cli.common import EXIT_FINDINGS, EXIT_OK, UsageError


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
            raise UsageError(f"cannot read {given}: no such file or folder")
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


def register(commands: Any) -> None:
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
