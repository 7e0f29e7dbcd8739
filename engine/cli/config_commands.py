"""Commands on configuration: `lint`, `eval`, `resolve`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, color, jsonable,
                               parse_var, read_config, show, var_option)
from engine.config.settings import TLS_AGGREGATE_KEYS
from engine.errors import Diagnostic


def command_eval(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    variables = dict(parse_var(item) for item in args.var)
    resolution = config.explain(args.key, variables)
    if args.json:
        print(json.dumps({"key": args.key, "value": resolution.value,
                          "rule": resolution.rule, "origin": resolution.origin},
                         ensure_ascii=False))
    else:
        print(show(resolution.value))
    return EXIT_OK


def command_resolve(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    settings = config.tls_aggregate(args.domain)
    values: dict[str, Any] = {"report.submitter": config.submitter(args.domain)}
    for key in TLS_AGGREGATE_KEYS:
        field = key.rsplit(".", 1)[1].replace("-", "_")
        value = getattr(settings, field)
        values[key] = value.name.lower() if key.endswith(".send") else (
            list(value) if isinstance(value, tuple) else value)
    fallbacks = [{"key": f.key, "reason": f.reason, "used": jsonable(f.used)}
                 for f in settings.fallbacks]
    if args.json:
        print(json.dumps({"domain": args.domain, "settings": values, "fallbacks": fallbacks},
                         ensure_ascii=False, indent=2))
    else:
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"{key:<{width}}  {show(value)}")
        for fallback in fallbacks:
            print(f"warning: {fallback['key']}: {fallback['reason']}; used "
                  f"{show(fallback['used'])}", file=sys.stderr)
    return EXIT_OK


def command_lint(args: argparse.Namespace) -> int:
    from engine.lint.catalogue import RULES, selected
    from engine.lint.check import lint_file
    from engine.lint.render import render

    if args.explain:
        rule = RULES.get(args.explain.upper())
        if rule is None:
            raise UsageError(f"no diagnostic code {args.explain}")
        print(f"{rule.code} ({rule.name}, {rule.severity.value}): {rule.summary}\n\n"
              f"Why: {rule.why}\nFix: {rule.fix}\nSee docs/lint.md#{rule.code.lower()}-"
              f"{rule.name}")
        return EXIT_OK
    if not args.config:
        raise UsageError("lint needs at least one CONFIG file (or --explain CODE)")
    select = tuple(code.strip().upper() for item in args.select for code in item.split(","))
    ignore = tuple(code.strip().upper() for item in args.ignore for code in item.split(","))
    diagnostics: list[Diagnostic] = []
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
                    color=args.format == "text" and color(sys.stdout))
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


def register(commands: Any) -> None:
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

    evaluate = commands.add_parser(
        "eval", help="print the value of one setting for a context",
        description="Resolve one setting of CONFIG for the variables given with --var.")
    evaluate.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    evaluate.add_argument("key", metavar="KEY", help="setting, e.g. report.tls.aggregate.send")
    var_option(evaluate)
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
