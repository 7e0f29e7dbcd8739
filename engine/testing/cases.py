"""Read a config-author test file (`*.tlsrpt-test.toml`, docs/testing.md) into frozen records.

A test file is untrusted input like a configuration: every problem (bad TOML, an unknown key,
a value of the wrong type, an unknown variable) becomes a Diagnostic with the file, line and
column, collected all at once and raised together as one `CaseFileError`. This stage checks
only what it can know without the configuration; whether a setting named in a case exists is
checked when the case runs (run.py), against the configuration under test.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import tomli

from engine.config.load import FlatConfig, flat_key, load_toml, read_config_file
from engine.errors import ConfigError, Diagnostic, Severity, Span
from engine.expr.scope import STALWART_VARIABLES
from engine.expr.services import InMemoryServices, Services

#: the file names the pytest plugin collects (and `tlsrpt test` accepts any name)
TEST_FILE_SUFFIX: Final = ".tlsrpt-test.toml"

# Diagnostic codes of test files (T: tests; configurations use E/W).
BAD_KEY: Final = "T101"
BAD_TYPE: Final = "T102"
UNKNOWN_VARIABLE: Final = "T103"
NOTHING_EXPECTED: Final = "T104"
BAD_EXTENDS: Final = "T105"
NO_CASES: Final = "T106"

# `extends` chains are short in practice; the bound stops a cycle of files at once.
MAX_EXTENDS_DEPTH: Final = 8

_TOP_KEYS: Final = ("config", "extends", "defaults", "case")
_SHARED_KEYS: Final = ("config", "extends", "defaults")
_DEFAULT_KEYS: Final = ("vars", "services")
_CASE_KEYS: Final = ("name", "vars", "services", "expect", "tls-aggregate", "fails",
                     "no-value", "lint")
_EXPECTATION_KEYS: Final = ("expect", "tls-aggregate", "fails", "no-value", "lint")
_SERVICE_KEYS: Final = ("local-domains", "local-addresses", "keys", "counters", "dns", "sql")
_DNS_TYPES: Final = ("ip", "ipv4", "ipv6", "mx", "txt", "ptr")
#: the fields of `tls-aggregate`, as TlsAggregateSettings names them (kebab-case here)
AGGREGATE_FIELDS: Final = ("from-name", "from-address", "org-name", "contact-info", "send",
                           "max-size", "sign")


class CaseFileError(ConfigError):
    """A test file cannot be used; `.diagnostics` says where and why (all problems at once)."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is written in a test file (line and column count from 1)."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Fixtures:
    """What the service functions see during a case: no real directory, store or resolver."""

    local_domains: tuple[str, ...] = ()
    local_addresses: tuple[str, ...] = ()
    keys: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: answers by (name, record type)
    dns: Mapping[tuple[str, str], list[str] | str] = field(
        default_factory=lambda: MappingProxyType({}))
    #: rows (or a changed-row count) by exact query text
    sql: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def services(self) -> Services:
        """Fresh in-memory providers (a case's `key_set` or counters never leak to the next)."""
        return InMemoryServices(
            local_domains=self.local_domains, local_addresses=self.local_addresses,
            keys=dict(self.keys), counters=dict(self.counters), dns=dict(self.dns),
            sql={query: (rows if isinstance(rows, int) else [tuple(row) for row in rows])
                 for query, rows in self.sql.items()}).services()


@dataclass(frozen=True, slots=True)
class SettingExpectation:
    """`expect.KEY = VALUE`: the setting's value (typed, or raw) in the case's context."""

    key: str
    expected: Any
    location: Location


@dataclass(frozen=True, slots=True)
class FailureExpectation:
    """`fails.KEY = "text"`: evaluating KEY fails, or its value is unusable for its type,
    with a reason that contains `text` ("" accepts any reason)."""

    key: str
    reason: str
    location: Location


@dataclass(frozen=True, slots=True)
class AggregateExpectation:
    """`tls-aggregate`: fields of `Config.tls_aggregate(domain)`, and which settings fell
    back (None: not checked)."""

    domain: str
    fields: tuple[tuple[str, Any], ...]
    fallbacks: tuple[str, ...] | None
    location: Location


@dataclass(frozen=True, slots=True)
class Case:
    """One test case: a context, its fixtures and what it expects."""

    name: str
    location: Location
    variables: Mapping[str, Any]
    fixtures: Fixtures
    settings: tuple[SettingExpectation, ...] = ()
    failures: tuple[FailureExpectation, ...] = ()
    no_value: tuple[SettingExpectation, ...] = ()
    aggregate: AggregateExpectation | None = None
    #: the lint codes the configuration must give, exactly (None: lint is not checked)
    lint: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CaseFile:
    """A whole test file; `config` is the configuration it names (resolved), if any."""

    path: str
    config: str | None
    cases: tuple[Case, ...]


def read_case_file(path: str | os.PathLike[str]) -> CaseFile:
    """Read and check a test file. Raises CaseFileError listing every problem with its place."""
    reader = _Reader()
    case_file = reader.read(os.fspath(path))
    if reader.problems:
        raise CaseFileError(sorted(reader.problems, key=_place), unreadable=reader.unreadable)
    assert case_file is not None
    return case_file


def suggest(name: str, choices: Iterable[str]) -> str:
    """` (did you mean X?)` for the nearest choice, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


@dataclass(slots=True)
class _Defaults:
    config: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)


class _Reader:
    """Reads one file (and what it extends), collecting problems instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[Diagnostic] = []
        #: a file (the test file or a configuration it names) could not be read at all
        self.unreadable = False
        self.flat: FlatConfig | None = None
        self.file = ""

    # locating ------------------------------------------------------------------------------
    def span(self, path: tuple[str | int, ...]) -> Span | None:
        assert self.flat is not None
        key = flat_key(path)
        origin = self.flat.origins.get(key)
        if origin is not None:
            return origin.key_span
        if key in self.flat.tables:
            return self.flat.tables[key]
        below = next((found for found in self.flat.origins if found.startswith(key + ".")), None)
        return self.flat.origins[below].key_span if below is not None else None

    def location(self, path: tuple[str | int, ...]) -> Location:
        span = self.span(path)
        return Location(self.file, span.line if span else 1, span.column if span else 1)

    def problem(self, code: str, path: tuple[str | int, ...], message: str,
                help: str | None = None) -> None:
        self.problems.append(Diagnostic(code, Severity.ERROR, message, self.span(path),
                                        self.file, flat_key(path) or None, help))

    # reading -------------------------------------------------------------------------------
    def load(self, file: str) -> tuple[dict[str, Any], FlatConfig] | None:
        flat = read_config_file(file)
        errors = [d for d in flat.diagnostics if d.severity is Severity.ERROR]
        if errors:
            self.problems.extend(errors)
            self.unreadable = self.unreadable or flat.unreadable
            return None
        # The positions come from the same text tomli reads here, so they cannot disagree.
        return tomli.loads(flat.text), flat

    def read(self, file: str) -> CaseFile | None:
        loaded = self.load(file)
        if loaded is None:
            return None
        document, self.flat = loaded
        self.file = file
        self.known_keys(document, (), _TOP_KEYS)
        defaults = self.shared(file, document, depth=0)
        cases = document.get("case", [])
        if not isinstance(cases, list) or not all(isinstance(case, dict) for case in cases):
            self.problem(BAD_TYPE, ("case",), "`case` must be an array of tables: write each "
                                              "case under [[case]]")
            cases = []
        elif not cases:
            self.problems.append(Diagnostic(NO_CASES, Severity.ERROR, "the file has no [[case]]",
                                            None, file))
        read = [self.case(index, case, defaults) for index, case in enumerate(cases)]
        return CaseFile(file, defaults.config, tuple(case for case in read if case is not None))

    def shared(self, file: str, document: dict[str, Any], depth: int) -> _Defaults:
        """The defaults of `file`: those of the file it extends, overridden by its own."""
        defaults = _Defaults()
        extends = document.get("extends")
        if extends is not None:
            if not isinstance(extends, str):
                self.problem(BAD_TYPE, ("extends",), "`extends` must be a file name (a string)")
            elif depth >= MAX_EXTENDS_DEPTH:
                self.problem(BAD_EXTENDS, ("extends",),
                             f"`extends` goes more than {MAX_EXTENDS_DEPTH} files deep "
                             "(a cycle?)")
            else:
                defaults = self.extended(os.path.join(os.path.dirname(file), extends), depth)
        config = document.get("config")
        if config is not None:
            if isinstance(config, str):
                defaults.config = os.path.normpath(os.path.join(os.path.dirname(file), config))
            else:
                self.problem(BAD_TYPE, ("config",), "`config` must be a file name (a string) "
                                                    "relative to the test file")
        own = document.get("defaults", {})
        if not isinstance(own, dict):
            self.problem(BAD_TYPE, ("defaults",), "`defaults` must be a table")
            return defaults
        self.known_keys(own, ("defaults",), _DEFAULT_KEYS)
        defaults.variables.update(self.variables(own.get("vars", {}), ("defaults", "vars")))
        defaults.services.update(self.service_tables(own.get("services", {}),
                                                     ("defaults", "services")))
        return defaults

    def extended(self, path: str, depth: int) -> _Defaults:
        if not os.path.isfile(path):
            self.problem(BAD_EXTENDS, ("extends",), f"`extends`: cannot read {path}")
            return _Defaults()
        outer = (self.flat, self.file)
        loaded = self.load(path)
        if loaded is None:
            return _Defaults()
        document, self.flat = loaded
        self.file = path
        self.known_keys(document, (), _SHARED_KEYS)
        defaults = self.shared(path, document, depth + 1)
        self.flat, self.file = outer
        return defaults

    def known_keys(self, table: Mapping[str, Any], path: tuple[str | int, ...],
                   allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.problem(BAD_KEY, path + (key,), f"unknown key `{key}`{suggest(key, allowed)}",
                             help="allowed here: " + ", ".join(allowed))

    def variables(self, table: Any, path: tuple[str | int, ...]) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.problem(BAD_TYPE, path, "`vars` must be a table of variable = value")
            return {}
        found: dict[str, Any] = {}
        for name, value in table.items():
            if not name.startswith("$") and name not in STALWART_VARIABLES:
                self.problem(UNKNOWN_VARIABLE, path + (name,),
                             f"unknown variable `{name}`{suggest(name, STALWART_VARIABLES)}",
                             help="variables are Stalwart's (rcpt_domain, sender, mx, ...); "
                                  "globals are written $NAME")
            elif not _is_value(value):
                self.problem(BAD_TYPE, path + (name,), f"variable `{name}`: a value must be a "
                                                       "string, number, boolean or array of those")
            else:
                found[name] = value
        return found

    def service_tables(self, table: Any, path: tuple[str | int, ...]) -> dict[str, Any]:
        """The fixtures a table gives, by kind, checked."""
        if not isinstance(table, dict):
            self.problem(BAD_TYPE, path, "`services` must be a table")
            return {}
        self.known_keys(table, path, _SERVICE_KEYS)
        found: dict[str, Any] = {}
        for kind in ("local-domains", "local-addresses"):
            if kind in table:
                items = table[kind]
                if isinstance(items, list) and all(isinstance(item, str) for item in items):
                    found[kind] = tuple(items)
                else:
                    self.problem(BAD_TYPE, path + (kind,), f"`{kind}` must be an array of "
                                                           "strings")
        checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
                ("keys", lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
                 "a string or number"),
                ("counters", lambda v: isinstance(v, int) and not isinstance(v, bool),
                 "an integer"),
                ("sql", _is_sql_result, "an array of rows (arrays) or a changed-row count"))
        for kind, check, wanted in checks:
            if kind not in table:
                continue
            entries = table[kind]
            if not isinstance(entries, dict):
                self.problem(BAD_TYPE, path + (kind,), f"`{kind}` must be a table")
                continue
            for name, value in entries.items():
                if not check(value):
                    self.problem(BAD_TYPE, path + (kind, name), f"{kind} `{name}`: expected "
                                                                f"{wanted}")
            found[kind] = dict(entries)
        if "dns" in table:
            found["dns"] = self.dns(table["dns"], path + ("dns",))
        return found

    def dns(self, table: Any, path: tuple[str | int, ...]) -> dict[tuple[str, str], Any]:
        if not isinstance(table, dict):
            self.problem(BAD_TYPE, path, "`dns` must be a table of name = { type = answer }")
            return {}
        answers: dict[tuple[str, str], Any] = {}
        for name, records in table.items():
            if not isinstance(records, dict):
                self.problem(BAD_TYPE, path + (name,), f"dns `{name}`: expected a table such as "
                                                       "{ mx = [\"mx1.example.org\"] }")
                continue
            for rtype, answer in records.items():
                if rtype.lower() not in _DNS_TYPES:
                    self.problem(BAD_KEY, path + (name, rtype), f"unknown DNS record type "
                                 f"`{rtype}`{suggest(rtype.lower(), _DNS_TYPES)}",
                                 help="types: " + ", ".join(_DNS_TYPES))
                elif not (isinstance(answer, str) or isinstance(answer, list) and all(
                        isinstance(item, str) for item in answer)):
                    self.problem(BAD_TYPE, path + (name, rtype),
                                 "a DNS answer is a string or an array of strings")
                else:
                    answers[(name, rtype.lower())] = answer
        return answers

    def case(self, index: int, case: dict[str, Any], defaults: _Defaults) -> Case | None:
        path: tuple[str | int, ...] = ("case", index)
        before = len(self.problems)
        self.known_keys(case, path, _CASE_KEYS)
        location = self.location(path)
        name = case.get("name", f"case {index + 1}")
        if not isinstance(name, str):
            self.problem(BAD_TYPE, path + ("name",), "`name` must be a string")
            name = f"case {index + 1}"
        variables = dict(defaults.variables)
        variables.update(self.variables(case.get("vars", {}), path + ("vars",)))
        services = dict(defaults.services)
        services.update(self.service_tables(case.get("services", {}), path + ("services",)))
        settings = tuple(
            SettingExpectation(key, value, self.location(path + ("expect", key)))
            for key, value in self.keyed(case, path, "expect", _is_value,
                                         "a string, number, boolean or array of those"))
        failures = tuple(
            FailureExpectation(key, value, self.location(path + ("fails", key)))
            for key, value in self.keyed(case, path, "fails", lambda v: isinstance(v, str),
                                         "a string (part of the reason; \"\" for any)"))
        no_value = self.key_list(case, path, "no-value")
        lint = self.codes(case, path)
        aggregate = self.aggregate(case, path, variables)
        # (A case whose expectations were all malformed has its own errors already.)
        if not any(key in case for key in _EXPECTATION_KEYS):
            self.problem(NOTHING_EXPECTED, path, f"case `{name}` expects nothing",
                         help="give `expect`, `tls-aggregate`, `fails`, `no-value` or `lint`")
        if len(self.problems) > before:
            return None
        return Case(name, location, MappingProxyType(variables), _fixtures(services), settings,
                    failures, no_value, aggregate, lint)

    def keyed(self, case: dict[str, Any], path: tuple[str | int, ...], name: str,
              check: Any, wanted: str) -> list[tuple[str, Any]]:
        """The KEY = VALUE pairs of a table whose keys are setting names: TOML reads
        `expect.report.tls.aggregate.send` as nested tables, so they are joined back."""
        table = case.get(name)
        if table is None:
            return []
        if not isinstance(table, dict):
            self.problem(BAD_TYPE, path + (name,), f"`{name}` must be a table of "
                                                   "setting = value")
            return []
        found = []
        for key, value in _flatten(table):
            if not check(value):
                self.problem(BAD_TYPE, path + (name, key), f"{name} `{key}`: expected {wanted}")
            else:
                found.append((key, value))
        return found

    def key_list(self, case: dict[str, Any], path: tuple[str | int, ...],
                 name: str) -> tuple[SettingExpectation, ...]:
        items = case.get(name)
        if items is None:
            return ()
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.problem(BAD_TYPE, path + (name,), f"`{name}` must be an array of setting names")
            return ()
        return tuple(SettingExpectation(item, None, self.location(path + (name, number)))
                     for number, item in enumerate(items))

    def codes(self, case: dict[str, Any], path: tuple[str | int, ...]) -> tuple[str, ...] | None:
        codes = case.get("lint")
        if codes is None:
            return None
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            self.problem(BAD_TYPE, path + ("lint",), "`lint` must be an array of diagnostic "
                                                     "codes such as \"W404\" ([] for none)")
            return None
        return tuple(sorted({code.upper() for code in codes}))

    def aggregate(self, case: dict[str, Any], path: tuple[str | int, ...],
                  variables: Mapping[str, Any]) -> AggregateExpectation | None:
        table = case.get("tls-aggregate")
        if table is None:
            return None
        path = path + ("tls-aggregate",)
        if not isinstance(table, dict):
            self.problem(BAD_TYPE, path, "`tls-aggregate` must be a table")
            return None
        self.known_keys(table, path, ("domain", "fallbacks") + AGGREGATE_FIELDS)
        domain = table.get("domain", variables.get("rcpt_domain"))
        if not isinstance(domain, str):
            self.problem(BAD_TYPE, path, "`tls-aggregate` needs a `domain` (a string), or "
                                         "`rcpt_domain` in the case's vars")
            return None
        fields = []
        for name in AGGREGATE_FIELDS:
            if name in table:
                if _is_value(table[name]):
                    fields.append((name, table[name]))
                else:
                    self.problem(BAD_TYPE, path + (name,), f"`{name}`: expected a string, "
                                                           "number or array")
        fallbacks = table.get("fallbacks")
        if fallbacks is not None and not (isinstance(fallbacks, list) and all(
                isinstance(item, str) for item in fallbacks)):
            self.problem(BAD_TYPE, path + ("fallbacks",), "`fallbacks` must be an array of "
                                                          "setting names ([] for none)")
            fallbacks = None
        return AggregateExpectation(domain, tuple(fields),
                                    None if fallbacks is None else tuple(fallbacks),
                                    self.location(path))


def _place(diagnostic: Diagnostic) -> tuple[str, int]:
    return (diagnostic.file or "", diagnostic.span.start if diagnostic.span else -1)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            found.extend(_flatten(value, prefix + key + "."))
        else:
            found.append((prefix + key, value))
    return found


def _is_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_value(item) and not isinstance(item, list) for item in value)
    return isinstance(value, (str, int, float, bool))


def _is_sql_result(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, list) and all(isinstance(row, list) for row in value)


def _fixtures(services: Mapping[str, Any]) -> Fixtures:
    return Fixtures(
        local_domains=services.get("local-domains", ()),
        local_addresses=services.get("local-addresses", ()),
        keys=MappingProxyType(services.get("keys", {})),
        counters=MappingProxyType(services.get("counters", {})),
        dns=MappingProxyType(services.get("dns", {})),
        sql=MappingProxyType(services.get("sql", {})))


def is_test_file(path: str | os.PathLike[str]) -> bool:
    """Whether the pytest plugin collects `path`."""
    return Path(path).name.endswith(TEST_FILE_SUFFIX)
