"""Commands on configuration: `lint`, `eval`, `resolve`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, color, jsonable,
                               parse_vars, read_config, show, var_option)
from engine.cli.typed_values import typed_display, typed_json, unit_of
from engine.config.settings import (TLS_AGGREGATE_KEYS, SettingSpec, expression_settings,
                                    find)
from engine.errors import Diagnostic

if TYPE_CHECKING:
    from engine.config.config import Config


TLS_PREFIX = "report.tls.aggregate."


def command_eval(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    variables = parse_vars(args.var)
    resolution = config.explain(args.key, variables)  # UnknownSettingError: exit 2
    spec = find(args.key)
    typed: Any = resolution.value
    fallback = None
    if not args.raw and spec is not None and spec.is_expression and spec.key == args.key:
        typed, fallback = config.typed(args.key, variables)
    rule = _rule_number(config, args.key, resolution.rule)
    if args.json:
        value = resolution.value if args.raw else typed_json(spec, typed)
        print(json.dumps({"key": args.key, "value": value, "raw": resolution.value,
                          "unit": None if args.raw else unit_of(spec), "rule": rule,
                          "origin": resolution.origin,
                          "fallback": None if fallback is None else fallback.reason},
                         ensure_ascii=False))
    else:
        print(show(resolution.value) if args.raw else typed_display(spec, typed))
        if fallback is not None:
            print(f"warning: {args.key}: {fallback.reason}; used {show(jsonable(fallback.used))}",
                  file=sys.stderr)
    return EXIT_OK


def _rule_number(config: Config, key: str, index: int | None) -> int | None:
    """The rule that produced the value as `explain` and `test` number it: 1 for the first
    `if`, 0 for the `else`, the single value or the built-in default; None for no value."""
    if index is None:
        return None
    compiled = config.setting(key)
    rules = len(compiled.rules) if compiled is not None else 0
    return index + 1 if index < rules else 0


def command_resolve(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    settings = config.tls_aggregate(args.domain)
    typed: dict[str, tuple[SettingSpec | None, Any]] = {
        "report.submitter": (find("report.submitter"), config.submitter(args.domain))}
    fallbacks = list(settings.fallbacks)
    for registered in expression_settings():
        if not registered.key.startswith(TLS_PREFIX):
            continue
        if registered.key in TLS_AGGREGATE_KEYS:
            # the typed view: `sign` without rcpt_domain, `send` with the queue's variables
            value = getattr(settings, registered.key.rsplit(".", 1)[1].replace("-", "_"))
        else:
            value, used = config.typed(registered.key, {"rcpt_domain": args.domain})
            if used is not None:
                fallbacks.append(used)
        typed[registered.key] = (registered, value)
    shown = [{"key": f.key, "reason": f.reason, "used": jsonable(f.used)} for f in fallbacks]
    if args.json:
        print(json.dumps({"domain": args.domain,
                          "settings": {key: typed_json(spec, value)
                                       for key, (spec, value) in typed.items()},
                          "units": {key: unit for key, (spec, _) in typed.items()
                                    if (unit := unit_of(spec)) is not None},
                          "fallbacks": shown}, ensure_ascii=False, indent=2))
    else:
        width = max(len(key) for key in typed)
        for key, (spec, value) in typed.items():
            print(f"{key:<{width}}  {typed_display(spec, value)}")
        for item in shown:
            print(f"warning: {item['key']}: {item['reason']}; used {show(item['used'])}",
                  file=sys.stderr)
    return EXIT_OK


def command_lint(args: argparse.Namespace) -> int:
    from engine.diagnostics.catalogue import RULES, selected
    from engine.config.load import read_config_file
    from engine.lint.check import lint_read_file
    from engine.diagnostics.render import render

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
        flat = read_config_file(path)
        found = lint_read_file(flat, path)
        unreadable = unreadable or flat.unreadable
        sources[found[0].file if found else path] = flat.text
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
        description="Resolve one setting of CONFIG for the variables given with --var and "
                    "print its typed value (a frequency by name, a size in bytes, the "
                    "fallback when the value is unusable); --raw prints the expression's own "
                    "value. Rules are numbered from 1, as `explain` and `test` number them "
                    "(0: the else, the single value or the built-in default). An unknown KEY "
                    "or --var name exits 2.")
    evaluate.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    evaluate.add_argument("key", metavar="KEY", help="setting, e.g. report.tls.aggregate.send")
    var_option(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print JSON with the rule used")
    evaluate.add_argument("--raw", action="store_true",
                          help="print the raw value of the expression, not the setting's typed "
                               "value (a frequency as its number, no fallback)")
    evaluate.set_defaults(handler=command_eval)

    resolve = commands.add_parser(
        "resolve", help="print every TLS report setting for a domain",
        description="Resolve report.submitter and every registered report.tls.aggregate.* "
                    "setting of CONFIG for reports about DOMAIN, typed and validated "
                    "(frequencies by name, sizes in bytes, times in seconds).")
    resolve.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    resolve.add_argument("--domain", required=True, help="the report (policy) domain")
    resolve.add_argument("--json", action="store_true", help="print JSON")
    resolve.set_defaults(handler=command_resolve)
