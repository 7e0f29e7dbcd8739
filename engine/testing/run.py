"""Run test cases against a configuration: each expectation becomes a `Check` that passed or
failed, with the expected and actual values written for people and the rule that produced the
actual value (from engine.config.trace).

Comparison (docs/testing.md, "Expected values"): an expected value matches when it equals the
setting's typed value (a frequency by its name, `max-size` as a number of bytes, `sign` as an
array, a boolean setting as true/false) or, failing that, its raw value with the language's
kinds kept apart (3 is not "3"; true stands for 1). Settings the registry does not know only
have a raw value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.config.config import Config
from engine.config.settings import ResultType, SettingSpec, expression_settings, find
from engine.config.trace import Trace, trace, typed_text, value_type
from engine.errors import ConfigError
from engine.expr.scope import FREQUENCY_CONSTANTS
from engine.testing.cases import (AggregateExpectation, Case, FailureExpectation, Location,
                                  SettingExpectation, suggest)

_AGGREGATE_PREFIX: Final = "report.tls.aggregate."
#: the actual value of a check whose setting could not be resolved at all (see its note)
NOT_RESOLVED: Final = "(not resolved)"


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one expectation of a case."""

    subject: str  # the setting, `tls-aggregate <domain>: <field>`, or `lint`
    passed: bool
    expected: str
    actual: str
    location: Location
    #: which rule produced the actual value, when a setting was resolved
    produced_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)


def show(value: Any) -> str:
    """A value as it would be written in the test file (JSON spelling)."""
    if value is None:
        return "(no value)"
    return json.dumps(value, ensure_ascii=False)


class Runner:
    """Runs cases against one configuration (linting it at most once)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lint_codes: tuple[str, ...] | None = None

    def lint_codes(self) -> tuple[str, ...]:
        if self._lint_codes is None:
            from engine.lint.check import lint_file, lint_text

            if self.config.file:
                found, _ = lint_file(self.config.file)
            else:
                found = lint_text(self.config.text)
            self._lint_codes = tuple(sorted({diagnostic.code for diagnostic in found}))
        return self._lint_codes

    def run(self, case: Case) -> CaseResult:
        checks: list[Check] = []
        for expectation in case.settings:
            checks.append(self.check_setting(case, expectation))
        for failure in case.failures:
            checks.append(self.check_failure(case, failure))
        for empty in case.no_value:
            checks.append(self.check_no_value(case, empty))
        if case.aggregate is not None:
            checks.extend(self.check_aggregate(case, case.aggregate))
        if case.lint is not None:
            found = self.lint_codes()
            checks.append(Check("lint", found == case.lint, show(list(case.lint)),
                                show(list(found)), case.location))
        return CaseResult(case, tuple(checks))

    # settings ------------------------------------------------------------------------------
    def _trace(self, case: Case, key: str, location: Location) -> Trace | Check:
        """The trace of `key`, or a failed Check when the key cannot be resolved at all."""
        spec = find(key)
        if spec is not None and not spec.is_expression:
            return Check(key, False, "", "", location, note=(
                f"{key} is plain text, not an expression; it has no per-context value"))
        try:
            if spec is None and self.config.setting(key) is None:
                names = [s.key for s in expression_settings()] + list(self.config.values)
                return Check(key, False, "", "", location, note=(
                    f"unknown setting {key}{suggest(key, names)}: the registry does not know "
                    "it and the configuration does not set it"))
            return trace(self.config, key, case.variables, case.fixtures.services())
        except ConfigError as err:
            return Check(key, False, "", "", location,
                         note=f"the configuration's {key} does not compile: {err}")

    def check_setting(self, case: Case, expectation: SettingExpectation) -> Check:
        found = self._trace(case, expectation.key, expectation.location)
        if isinstance(found, Check):
            return _with_expected(found, show(expectation.expected))
        spec = find(expectation.key)
        passed = found.error is None and found.value is not None and (
            _typed_matches(spec, expectation.expected, found) or
            same(expectation.expected, found.value))
        return Check(expectation.key, passed, show(expectation.expected), describe(found),
                     expectation.location, found.produced_by, _scope_note(found))

    def check_failure(self, case: Case, expectation: FailureExpectation) -> Check:
        found = self._trace(case, expectation.key, expectation.location)
        wanted = "fails" + (f" with a reason containing {show(expectation.reason)}"
                            if expectation.reason else "")
        if isinstance(found, Check):
            return _with_expected(found, wanted)
        reason = found.error or (found.typed_problem if found.value is not None else None)
        passed = reason is not None and expectation.reason.lower() in reason.lower()
        return Check(expectation.key, passed, wanted, describe(found), expectation.location,
                     found.produced_by)

    def check_no_value(self, case: Case, expectation: SettingExpectation) -> Check:
        found = self._trace(case, expectation.key, expectation.location)
        if isinstance(found, Check):
            return _with_expected(found, "(no value)")
        return Check(expectation.key, found.value is None and found.error is None, "(no value)",
                     describe(found), expectation.location, found.produced_by)

    # the typed TLS aggregate settings -----------------------------------------------------
    def check_aggregate(self, case: Case, expectation: AggregateExpectation) -> list[Check]:
        settings = self.config.tls_aggregate(expectation.domain, case.fixtures.services())
        subject = f"tls-aggregate {expectation.domain}"
        checks = []
        for name, expected in expectation.fields:
            actual = getattr(settings, name.replace("-", "_"))
            key = _AGGREGATE_PREFIX + name
            spec = find(key)
            # The view gives the settings only rcpt_domain (and `sign` not even that).
            context = {} if name == "sign" else {"rcpt_domain": expectation.domain}
            produced = trace(self.config, key, context, case.fixtures.services())
            passed = spec is not None and actual is not None and _typed_value_matches(
                spec, expected, actual)
            shown = show(typed_text(spec.result if spec else None, actual))
            fallback = next((f for f in settings.fallbacks if f.key == key), None)
            if fallback is not None:
                shown += f" (fallback: {fallback.reason})"
            checks.append(Check(f"{subject}: {name}", passed, show(expected), shown,
                                expectation.location, produced.produced_by))
        if expectation.fallbacks is not None:
            wanted = sorted(_full_key(key) for key in expectation.fallbacks)
            found = sorted(fallback.key for fallback in settings.fallbacks)
            reasons = "; ".join(f"{f.key}: {f.reason}" for f in settings.fallbacks)
            checks.append(Check(f"{subject}: fallbacks", wanted == found, show(wanted),
                                show(found) + (f" ({reasons})" if reasons else ""),
                                expectation.location))
        return checks


def _with_expected(check: Check, expected: str) -> Check:
    return Check(check.subject, check.passed, expected, NOT_RESOLVED, check.location,
                 check.produced_by, check.note)


def _full_key(key: str) -> str:
    return key if "." in key else _AGGREGATE_PREFIX + key


def _scope_note(found: Trace) -> str | None:
    if not found.ignored:
        return None
    names = ", ".join(found.ignored)
    return f"this setting cannot read {names}: the case's value for it is ignored"


def describe(found: Trace) -> str:
    """The actual outcome of a trace, for people: typed value, type and raw value."""
    if found.error is not None:
        return f"evaluation failed: {found.error}"
    if found.value is None:
        return "(no value)"
    raw = f"{show(found.value)} ({value_type(found.value)})"
    if found.result_type is None:
        return raw
    if found.typed_problem is not None:
        return f"{raw}, unusable as a {found.result_type.value}: {found.typed_problem}"
    typed = typed_text(found.result_type, found.typed)
    if typed == found.value and found.result_type in (ResultType.TEXT, ResultType.PLAIN_TEXT):
        return show(found.value)
    if typed == found.value and type(typed) is type(found.value):
        return f"{show(typed)} ({found.result_type.value})"
    return f"{show(typed)} ({found.result_type.value}, raw value {show(found.value)})"


def _typed_matches(spec: SettingSpec | None, expected: Any, found: Trace) -> bool:
    if spec is None or found.typed_problem is not None or found.typed is None:
        return False
    return _typed_value_matches(spec, expected, found.typed)


def _typed_value_matches(spec: SettingSpec, expected: Any, typed: Any) -> bool:
    kind = spec.result
    if kind is ResultType.FREQUENCY:
        if isinstance(expected, str):
            return FREQUENCY_CONSTANTS.get(expected.lower()) == int(typed)
        return type(expected) is int and expected == int(typed)
    if kind is ResultType.BOOLEAN:
        return isinstance(expected, bool) and expected == bool(typed)
    if kind is ResultType.TEXT_LIST:
        return isinstance(expected, list) and expected == list(typed)
    if kind in (ResultType.SIZE, ResultType.INTEGER):
        return type(expected) is int and expected == typed
    return isinstance(expected, str) and expected == typed


def same(expected: Any, raw: Any) -> bool:
    """Raw comparison keeping the language's kinds apart; a TOML boolean stands for 1 or 0."""
    if isinstance(expected, bool):
        return type(raw) in (int, bool) and raw == int(expected)
    if isinstance(expected, int):
        return type(raw) in (int, bool) and raw == expected
    if isinstance(expected, float):
        return type(raw) is float and (raw == expected or math.isnan(raw) and math.isnan(expected))
    if isinstance(expected, list):
        return type(raw) is list and len(raw) == len(expected) and all(
            same(e, r) for e, r in zip(expected, raw))
    return type(raw) is str and raw == expected


def context_text(variables: Mapping[str, Any]) -> str:
    if not variables:
        return "(no variables)"
    return ", ".join(f"{name} = {show(value)}" for name, value in variables.items())
