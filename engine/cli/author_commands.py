"""Commands for configuration authors: `test` (run test files) and `explain` (how one setting
reached its value)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from engine.cli.common import (EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, color, parse_vars,
                               read_text_file,
                               read_config, var_option)
from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.config.trace import Trace
    from engine.testing.cases import Case, CaseFile
    from engine.testing.run import CaseResult

# The configuration engine and the test runner are imported by the commands that use them,
# not with this module: every `tlsrpt` command (and --help) loads the command modules.


def command_test(args: argparse.Namespace) -> int:
    from engine.testing.cases import read_case_file
    from engine.testing.render import format_failure, summary, to_json
    from engine.testing.run import Runner
    from engine.diagnostics.render_text import render_text

    config = read_config(args.config)
    files: list[CaseFile] = []
    broken = False
    for path in args.testfile:
        try:
            files.append(read_case_file(path))
        except ConfigError as err:  # CaseFileError, or the file cannot be read at all
            if err.unreadable:
                raise UsageError(f"cannot read {path}: {err.diagnostics[0].message}") from None
            sources = {d.file: text for d in err.diagnostics
                       if (text := _text_of(d.file)) is not None}
            sys.stderr.write(render_text(err.diagnostics, sources, color=color(sys.stderr)))
            broken = True
    if broken:
        return EXIT_USAGE
    runner = Runner(config)
    selected = [(case_file, case) for case_file in files for case in case_file.cases
                if not args.k or any(word.lower() in case.name.lower() for word in args.k)]
    results: list[CaseResult] = [runner.run(case) for _, case in selected]
    if args.json:
        print(json.dumps(to_json(results), ensure_ascii=False, indent=2))
    else:
        for result in results:
            if not result.passed:
                print(format_failure(result))
            elif args.show_passed:
                print(f"passed {result.case.name} ({result.case.location})")
        print(summary(results))
    if args.k and not selected:
        print(f"tlsrpt: no case name contains {' or '.join(args.k)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if all(result.passed for result in results) else EXIT_FINDINGS


def _text_of(file: str | None) -> str | None:
    if not file:
        return None
    return read_text_file(file)


def command_explain(args: argparse.Namespace) -> int:
    from engine.config.trace import trace
    from engine.testing.run import show
    config = read_config(args.config)
    given = parse_vars(args.var)
    config.check_key(args.key)  # UnknownSettingError: exit 2
    services = None
    variables = given
    if args.case is not None:
        case = _chosen_case(args.case)
        variables = {**case.variables, **given}  # --var adds to the case's context or wins
        services = case.fixtures.services()
    found = trace(config, args.key, variables, services)
    if args.json:
        print(json.dumps({"variables": variables, **trace_json(found)}, ensure_ascii=False,
                         indent=2))
    else:
        context = ", ".join(f"{name} = {show(value)}" for name, value in variables.items())
        print(f"{found.key} for {context or 'no variables'}")
        sys.stdout.write(trace_text(found))
    return EXIT_OK if found.error is None else EXIT_FINDINGS



def _chosen_case(selector: str) -> Case:
    """`--case TESTFILE[:NAME]`: the case of TESTFILE whose name contains NAME (the only case
    when NAME is not given), for its variables and service fixtures."""
    from engine.testing.cases import read_case_file
    path, _, name = selector.partition(":") if not os.path.isfile(selector) else (selector, "", "")
    if not os.path.isfile(path):
        raise UsageError(f"--case {selector}: cannot read {path}: no such file")
    cases = read_case_file(path).cases
    matching = [case for case in cases if name.lower() in case.name.lower()]
    listed = "; ".join(case.name for case in cases)
    if not matching:
        raise UsageError(f"--case {selector}: no case of {path} has {name!r} in its name "
                         f"(cases: {listed})")
    if len(matching) > 1:
        raise UsageError(f"--case {selector}: {len(matching)} cases of {path} match; name one "
                         f"with {path}:NAME (cases: {listed})")
    return matching[0]


def _reads_text(reads: Any) -> str:
    from engine.testing.run import show
    return ", ".join(f"{read.name} = {show(read.value)}" + ("" if read.given else " (not given)")
                     for read in reads)


def trace_text(found: Trace) -> str:
    """`tlsrpt explain` for people."""
    from engine.config.trace import ConditionOutcome, typed_text, value_type
    from engine.testing.run import show
    lines: list[str] = []
    if found.chosen is None and found.error is None:
        if found.default is None:
            lines.append("  not set in the configuration, and no built-in default")
        else:
            lines.append(f"  empty value ({found.default_origin}): the setting has no value")
    for rule in found.rules:
        lines.append(f"  rule {rule.number} ({rule.origin})")
        lines.append(f"    if   {rule.condition}")
        lines.append(f"    then {rule.value}")
        reads = f" with {_reads_text(rule.reads)}" if rule.reads and \
            rule.outcome is not ConditionOutcome.NOT_EVALUATED else ""
        lines.append(f"    -> {rule.outcome.value}{reads}")
    if found.default is not None and (found.default or found.chosen is not None):
        where = "built-in default" if found.default_origin == "default" else (
            f"else ({found.default_origin})" if found.rules else f"value ({found.default_origin})")
        lines.append(f"  {where}")
        lines.append(f"    {found.default}")
        if found.chosen == 0:
            reads = f" with {_reads_text(found.default_reads)}" if found.default_reads else ""
            lines.append(f"    -> used{reads}")
        elif found.rules:
            lines.append("    -> not used")
    if found.captures:
        shown = ", ".join(f"${number} = {show(text)}" for number, text in enumerate(found.captures))
        lines.append(f"  captures: {shown}")
    if found.error is not None:
        lines.append(f"error: {found.error}")
    elif found.value is not None:
        lines.append(f"value: {show(found.value)} ({value_type(found.value)})")
        if found.result_type is not None:
            if found.typed_problem is not None:
                lines.append(f"typed: unusable as a {found.result_type.value}: "
                             f"{found.typed_problem}")
            else:
                lines.append(f"typed: {show(typed_text(found.result_type, found.typed))} "
                             f"({found.result_type.value})")
        lines.append(f"from:  {found.produced_by}")
    if found.ignored:
        lines.append(f"note: this setting cannot read {', '.join(found.ignored)}; "
                     "the value given is ignored")
    return "\n".join(lines) + "\n"


def trace_json(found: Trace) -> dict[str, Any]:
    """`tlsrpt explain --json`: the same facts, for tools."""
    from engine.config.trace import typed_text, value_type
    def reads(items: Any) -> dict[str, Any]:
        return {read.name: {"value": read.value, "given": read.given} for read in items}

    return {
        "key": found.key,
        "rules": [{"rule": rule.number, "origin": rule.origin, "if": rule.condition,
                   "then": rule.value, "outcome": rule.outcome.name.lower(),
                   "variables": reads(rule.reads)} for rule in found.rules],
        "default": None if found.default is None else {
            "text": found.default, "origin": found.default_origin,
            "used": found.chosen == 0, "variables": reads(found.default_reads)},
        "chosen_rule": found.chosen,
        "origin": found.origin if found.chosen is not None else None,
        "captures": list(found.captures),
        "value": found.value,
        "type": value_type(found.value),
        "typed": None if found.result_type is None else {
            "type": found.result_type.value,
            "value": None if found.typed_problem else typed_text(found.result_type, found.typed),
            "problem": found.typed_problem},
        "error": found.error,
        "ignored_variables": list(found.ignored),
    }


def register(commands: Any) -> None:
    test = commands.add_parser(
        "test", help="run configuration test files (docs/testing.md)",
        description="Run every case of each TESTFILE against CONFIG and print each failure: "
                    "the setting, the context, expected versus actual and the rule that "
                    "produced the actual value. Exit status 0 when every case passes, 1 when "
                    "one fails, 2 when a file cannot be read or a test file is malformed.")
    test.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin); "
                                                       "a test file's own `config` is ignored")
    test.add_argument("testfile", nargs="+", metavar="TESTFILE", help="test files")
    test.add_argument("-k", action="append", default=[], metavar="TEXT",
                      help="only cases whose name contains TEXT (case-insensitive); repeatable")
    test.add_argument("--json", action="store_true", help="print every result as JSON")
    test.add_argument("--show-passed", action="store_true",
                      help="also list the cases that passed")
    test.set_defaults(handler=command_test)

    explain = commands.add_parser(
        "explain", help="show how a setting reached its value for a context",
        description="Resolve KEY of CONFIG for the variables given with --var and show each "
                    "rule in order: whether its condition held and the values of the "
                    "variables it read, the captures of `matches`, and the final value with "
                    "its type. Exit status 1 when the evaluation fails.")
    explain.add_argument("config", metavar="CONFIG", help="configuration file (- for stdin)")
    explain.add_argument("key", metavar="KEY", help="setting, e.g. report.tls.aggregate.send")
    var_option(explain)
    explain.add_argument("--case", metavar="TESTFILE[:NAME]",
                         help="start from a test case: its variables (--var adds or overrides) "
                              "and its service fixtures; NAME is part of the case's name, "
                              "needed when the file has several cases")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(handler=command_explain)
