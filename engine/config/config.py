"""TOML -> `Config`: compiled settings, resolved per context, typed views.

Loading reads the file (load.py), expands macros (macros.py), reads each known setting's block
(rules.py) and compiles it once for its own scope (settings.py), with `config_get` folded from
the file's own texts. Any error in a setting itself stops loading with a ConfigError that lists
every problem with its file position. Cross-references (a `sign` id without a signature,
`config_get` of an unset key) load fine: `tlsrpt lint` reports them and the reporting core
fails safely when it meets them.

A Config is immutable once loaded. Settings the registry does not know are compiled the first
time they are resolved (with every Stalwart variable allowed) and cached; a race between two
threads compiles the same block twice and keeps either, which is harmless.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from engine.config.durations import in_seconds, seconds_of
from engine.config.load import FlatConfig, load_stalwart_toml, load_toml, read_config_file
from engine.config.macros import expand_macros
from engine.config.rules import BlockSource, read_block
from engine.config.sections import DeliverySettings
from engine.config.signatures import section_problems
from engine.config.settings import (
    SETTINGS,
    TLS_AGGREGATE_KEYS,
    Frequency,
    ResultType,
    SettingSpec,
    expression_settings,
    find,
)
from engine.errors import (ConfigError, Diagnostic, EvalError, ParseError, Severity, Span,
                           UnknownSettingError)
from engine.expr import ast
from engine.expr.compile import generate_block_pair
from engine.expr.fold import Folder, Unfoldable
from engine.expr.view import DYNAMIC, ViewPart, generate_view
from engine.expr.scope import ALL_VARIABLES, STALWART_VARIABLES, Scope
from engine.expr.syntax import parse
from engine.expr.values import Value, index_view, integer_view, list_view, truthy

log = logging.getLogger("engine.config")

_TLS_PREFIX: Final = "report.tls.aggregate."
STRUCTURE_ERROR = "E301"
IGNORED_KEY = "W302"


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a setting resolved for one context: the raw value (None when the setting has no
    value), the rule that produced it, and where that rule is written."""

    key: str
    value: Value | None
    rule: int | None
    origin: str


@dataclass(frozen=True, slots=True)
class Fallback:
    """A setting whose value could not be used; `used` is what the caller got instead."""

    key: str
    reason: str
    used: Any


class TlsAggregateSettings(NamedTuple):
    """The report.tls.aggregate.* values for one report domain, typed and validated.

    (A named tuple rather than a dataclass: it is built for every report domain, and a tuple
    is the cheapest immutable record Python builds.)
    """

    from_name: str
    from_address: str
    org_name: str | None
    contact_info: str | None
    send: Frequency
    max_size: int
    sign: tuple[str, ...]
    fallbacks: tuple[Fallback, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledSetting:
    """One setting's compiled block. `run` returns (rule number, value); the default or single
    value is rule number len(rule_origins) - 1."""

    key: str
    block: BlockSource | None
    run: Callable[..., tuple[int, Value]] | None  # None: the setting has no value
    rule_origins: tuple[str, ...]
    from_default: bool
    #: per rule number, the value when that rule's value is a constant (else _DYNAMIC)
    rule_constants: tuple[Any, ...] = ()
    #: the compiled ASTs: (condition, value) pairs and the default (None: no value)
    rules: tuple[tuple[ast.Node, ast.Node], ...] = ()
    default: ast.Node | None = None
    #: the same block returning the value alone (what `Config.resolve` calls: no rule number)
    evaluate: Callable[..., Value] | None = None


class Config:
    """A loaded configuration. Build it with `engine.load_config`."""

    def __init__(self, flat: FlatConfig, values: Mapping[str, str],
                 settings: dict[str, CompiledSetting], diagnostics: list[Diagnostic]) -> None:
        self.file = flat.file
        self.text = flat.text
        #: what config_get reads: every flat key's text as written, except the keys the derived
        #: `server.hostname` and `report.domain` come from, which are macro-expanded
        self.raw: Mapping[str, str] = MappingProxyType(config_reads(flat.values, values))
        #: every flat key and its text after macro expansion
        self.values: Mapping[str, str] = MappingProxyType(dict(values))
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        self._flat = flat
        self._sorted_keys = list(values)
        self._settings = settings
        # Typed values that do not depend on the context are converted once, here; a constant
        # that falls back is logged once, here, not at every resolution.
        self._plans = {spec.key: self._plan(spec) for spec in expression_settings()}
        self._tls_view = self._view(TLS_AGGREGATE_KEYS, TlsAggregateSettings)
        # The view is the method's whole work: bind it directly, saving a call per domain.
        self.tls_aggregate = self._tls_view  # type: ignore[method-assign]
        submitter = self._plans["report.submitter"]
        if submitter.run is None and submitter.constant is not None:
            fixed_submitter = str(submitter.constant[0])
            self.submitter = lambda rcpt_domain="": fixed_submitter  # type: ignore[method-assign]
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError("a Config is immutable once loaded")
        object.__setattr__(self, name, value)

    # raw resolution -----------------------------------------------------------------------
    def setting(self, key: str) -> CompiledSetting | None:
        """The compiled setting `key` (known or not), or None when it is not defined."""
        compiled = self._settings.get(key)
        if compiled is None and key not in self._settings:
            diagnostics: list[Diagnostic] = []
            compiled = compile_setting(key, None, self._flat, self.values, self._sorted_keys,
                                        diagnostics, reads=self.raw)
            if diagnostics and any(d.severity is Severity.ERROR for d in diagnostics):
                raise ConfigError(diagnostics)
            self._settings[key] = compiled  # type: ignore[assignment]
        return compiled

    def check_key(self, key: str) -> None:
        """Raise UnknownSettingError (with the closest key) unless `key` is registered or the
        file sets it, as a single value or as an if/then/else block."""
        if key in self._settings or find(key) is not None or key in self.values:
            return
        prefix = key + "."
        if any(name.startswith(prefix) for name in self.values):
            return
        known = [spec.key for spec in SETTINGS if "*" not in spec.key] + list(self.values)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        raise UnknownSettingError(key, close[0] if close else None)

    def explain(self, key: str, variables: Mapping[str, Any] | None = None,
                services: Any = None) -> Resolution:
        """Resolve `key` and say which rule produced the value. Raises UnknownSettingError
        for a key that is neither registered nor set in the file."""
        self.check_key(key)
        compiled = self.setting(key)
        if compiled is None or compiled.run is None:
            origin = "not set" if compiled is None else compiled.rule_origins[-1]
            return Resolution(key, None, None, origin)
        rule, value = compiled.run(variables, self.raw, services)
        return Resolution(key, value, rule, compiled.rule_origins[rule])

    def resolve(self, key: str, variables: Mapping[str, Any] | None = None,
                services: Any = None) -> Value | None:
        """The raw value of setting `key` for a context; None when the setting has no value.

        Registered settings use their own scope and default; any other key is compiled with
        every Stalwart variable allowed. Raises ConfigError if that other key is malformed,
        UnknownSettingError (a ConfigError and a KeyError) if it is neither registered nor set,
        and EvalError if a service function fails.
        """
        compiled = self._settings.get(key)
        if compiled is not None:
            # The common case, as fast as calling the block: no trace, no Resolution.
            evaluate = compiled.evaluate
            if evaluate is not None:
                return evaluate(variables, self.raw, services)
            if compiled.run is None:
                return None
        return self.explain(key, variables, services).value

    # typed views ------------------------------------------------------------------------------
    def _view(self, keys: tuple[str, ...], record: type) -> Callable[..., Any]:
        """One compiled function that resolves `keys` for a report domain (the only variable
        these settings are given; every other variable is '', as Stalwart's resolver gives)."""
        parts = []
        for key in keys:
            spec = self._plans[key].spec
            compiled = self._settings.get(key)
            # Stalwart evaluates `sign` with the report message as context: no rcpt_domain.
            fixed: dict[str, Value] = {name: "" for name in STALWART_VARIABLES
                                       if name != "rcpt_domain" or key.endswith(".sign")}
            fixed["$"] = 0
            finish = _as_tuple if spec.result is ResultType.TEXT_LIST else _unchanged

            def convert(value: Value, spec: SettingSpec = spec,
                        finish: Callable[[Any], Any] = finish) -> tuple[Any, Fallback | None]:
                found, fallback = self._typed_value(spec, value)
                return finish(found), fallback

            def on_error(err: EvalError, spec: SettingSpec = spec,
                         finish: Callable[[Any], Any] = finish) -> tuple[Any, Fallback | None]:
                found, fallback = self._fall_back(spec, f"evaluation failed: {err}")
                return finish(found), fallback

            result_type = {ResultType.TEXT: "text", ResultType.SIZE: "size"}.get(spec.result, "")
            if compiled is None or compiled.default is None:
                empty = self._plans[key].constant or (None, None)
                parts.append(ViewPart((), None, fixed, (), convert, on_error,
                                      (finish(empty[0]), empty[1]), result_type))
                continue
            folder = Folder(self.raw, fixed)
            results = []
            for node in [value for _, value in compiled.rules] + [compiled.default]:
                try:
                    if any(isinstance(part, (ast.Capture, ast.Match)) for part in ast.walk(node)):
                        raise Unfoldable
                    # Constants were converted (and any fallback logged) by _plan already.
                    found, fallback = self._typed_value(spec, folder.constant(node), log=False)
                    results.append((finish(found), fallback))
                except Unfoldable:
                    results.append(DYNAMIC)
            parts.append(ViewPart(compiled.rules, compiled.default, fixed, results, convert,
                                  on_error, result_type=result_type))
        return generate_view(parts, "rcpt_domain", record, self.raw)

    def _plan(self, spec: SettingSpec) -> _TypedPlan:
        compiled = self._settings.get(spec.key)
        if compiled is None:
            return _TypedPlan(spec, None, (None, None), ())
        if compiled.run is None:
            return _TypedPlan(spec, None, self._fall_back(spec, "the setting has no value"), ())
        per_rule = tuple(_DYNAMIC if constant is _DYNAMIC else self._typed_value(spec, constant)
                         for constant in compiled.rule_constants)
        if len(per_rule) == 1 and per_rule[0] is not _DYNAMIC:
            return _TypedPlan(spec, None, per_rule[0], ())
        return _TypedPlan(spec, compiled.run, None, per_rule)

    def _typed_value(self, spec: SettingSpec, value: Value | None,
                     log: bool = True) -> tuple[Any, Fallback | None]:
        if value is None:
            return self._fall_back(spec, "the setting has no value", log)
        converted, problem = convert(spec, value)
        if problem is not None:
            return self._fall_back(spec, problem, log)
        return converted, None

    def typed(self, key: str, variables: Mapping[str, Any] | None = None,
              services: Any = None) -> tuple[Any, Fallback | None]:
        """The value of a registered setting converted to its type; when it has no usable value
        the registry's fallback is returned with a Fallback saying why (and it is logged)."""
        plan = self._plans.get(key)
        if plan is None:
            raise KeyError(f"unknown expression setting {key}")
        return self._run_plan(plan, variables, services)

    def _run_plan(self, plan: _TypedPlan, variables: Mapping[str, Any] | None,
                  services: Any) -> tuple[Any, Fallback | None]:
        if plan.run is None:
            return plan.constant  # type: ignore[return-value]
        try:
            rule, value = plan.run(variables, self.raw, services)
        except EvalError as err:
            return self._fall_back(plan.spec, f"evaluation failed: {err}")
        known = plan.per_rule[rule]
        return known if known is not _DYNAMIC else self._typed_value(plan.spec, value)

    def _fall_back(self, spec: SettingSpec, reason: str,
                   logged: bool = True) -> tuple[Any, Fallback]:
        used = convert(spec, spec.fallback)[0] if spec.fallback is not None else None
        if logged:
            log.warning("setting %s: %s; using %r", spec.key, reason, used)
        return used, Fallback(spec.key, reason, used)

    def tls_aggregate(self, rcpt_domain: str, services: Any = None) -> TlsAggregateSettings:
        """Every report.tls.aggregate.* value for reports about `rcpt_domain` (`services`
        backs the service functions, if the settings use any)."""
        return self._tls_view(rcpt_domain, services)  # type: ignore[no-any-return]

    def delivery(self, rcpt_domain: str) -> DeliverySettings:
        """The delivery knobs of report.tls.aggregate.* for reports about `rcpt_domain`."""
        variables = {"rcpt_domain": rcpt_domain}

        def typed(name: str) -> Any:
            return self.typed(_TLS_PREFIX + name, variables)[0]

        unique = typed("unique-id")
        return DeliverySettings(
            delay=typed("delay"), retry_max_age=typed("retry-max-age"),
            send_all_success=bool(typed("send-all-success")),
            suppress=tuple(str(item) for item in typed("suppress") or ()),
            bcc=tuple(str(item) for item in typed("bcc") or ()),
            max_destinations=typed("max-destinations"),
            compression_level=typed("compression-level"),
            unique_id=str(unique) if unique else None,
            https_timeout=typed("https-timeout"), https_verify=bool(typed("https-verify")),
            sent_log_retention=typed("sent-log-retention"))

    def submitter(self, rcpt_domain: str = "") -> str:
        """The `report.submitter` for reports about `rcpt_domain`."""
        plan = self._plans["report.submitter"]
        if plan.run is None and plan.constant is not None:
            return str(plan.constant[0])
        value, _ = self._run_plan(plan, {"rcpt_domain": rcpt_domain}, None)
        return str(value)


_DYNAMIC: Any = DYNAMIC  # marks a rule whose value depends on the context


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _unchanged(value: Any) -> Any:
    return value




@dataclass(frozen=True, slots=True)
class _TypedPlan:
    """How to get one registered setting's typed value: a constant (run is None), or the
    compiled block and, per rule, the converted constant or _DYNAMIC."""

    spec: SettingSpec
    run: Callable[..., tuple[int, Value]] | None
    constant: tuple[Any, Fallback | None] | None
    per_rule: tuple[Any, ...]


def convert(spec: SettingSpec, value: Value) -> tuple[Any, str | None]:
    """Convert a raw value to the setting's type (spec/expressions.md 11.2, 13)."""
    kind = spec.result
    if kind is ResultType.TEXT or kind is ResultType.PLAIN_TEXT:
        if isinstance(value, str):
            return value, None
        return None, f"expected a text, got {_describe(value)}"
    if kind is ResultType.FREQUENCY:
        if value.__class__ is int and value in (0, 2, 3, 4):
            return Frequency(value), None
        return None, f"expected a frequency (hourly, daily, weekly, never), got {_describe(value)}"
    if kind is ResultType.SIZE:
        size = index_view(value)
        if size is None:
            return None, f"expected a size in bytes, got {_describe(value)}"
        return size, None
    if kind is ResultType.INTEGER:
        number = integer_view(value)
        if number is None:
            return None, f"expected an integer, got {_describe(value)}"
        return clamp(spec, number), None
    if kind is ResultType.DURATION:
        seconds = seconds_of(value)
        if seconds is None:
            return None, f"expected a duration (seconds, or a word such as '3h'), got " \
                         f"{_describe(value)}"
        return clamp(spec, seconds), None
    if kind is ResultType.BOOLEAN:
        return truthy(value), None
    items = list_view(value)
    if all(isinstance(item, str) for item in items):
        return list(items), None
    return None, f"expected a list of texts, got {_describe(value)}"


def clamp(spec: SettingSpec, number: int) -> int:
    """`number` within the setting's bounds (the registry's, written nowhere else)."""
    if spec.minimum is not None and number < spec.minimum:
        return spec.minimum
    if spec.maximum is not None and number > spec.maximum:
        return spec.maximum
    return number


def _describe(value: Value) -> str:
    kind = {str: "text", int: "integer", float: "float", list: "array"}.get(type(value), "value")
    return f"{kind} {value!r}"


# --- loading --------------------------------------------------------------------------------

def load_config(path_or_text: str | os.PathLike[str], *,
                environ: Mapping[str, str] | None = None,
                stalwart_reader: bool = False) -> Config:
    """Load a configuration from a file path or from TOML text.

    A `Path`, or a string naming an existing file, is read as a file; any other string is the
    TOML text itself, read as standard TOML. With `stalwart_reader=True` it is read as
    Stalwart's own reader reads it (unknown escapes, sets, bare words, repeated headers...), so
    the settings get the texts a Stalwart server gets, and a file Stalwart refuses (no final
    line break, `1_000`) is refused with E020. Raises ConfigError listing every error in the
    settings themselves.
    """
    if isinstance(path_or_text, os.PathLike) or (
            "\n" not in path_or_text and os.path.isfile(path_or_text)):
        flat = read_config_file(path_or_text, stalwart=stalwart_reader)
        base_dir = str(Path(path_or_text).resolve().parent)
    else:
        flat = load_stalwart_toml(path_or_text) if stalwart_reader else load_toml(path_or_text)
        base_dir = None
    diagnostics = list(flat.diagnostics)
    if any(d.severity is Severity.ERROR for d in diagnostics):
        raise ConfigError(diagnostics, unreadable=flat.unreadable)
    expanded = expand_macros(flat, environ=environ, base_dir=base_dir)
    diagnostics.extend(expanded.diagnostics)
    values = expanded.values
    sorted_keys = list(values)
    errors: list[Diagnostic] = []
    settings: dict[str, CompiledSetting] = {}
    reads = config_reads(flat.values, values)
    for spec in expression_settings():
        found = compile_setting(spec.key, spec, flat, values, sorted_keys, errors,
                                 changed=expanded.changed, reads=reads)
        if found is not None:
            settings[spec.key] = found
    # A signature that can never sign (rsa-sha1, a small RSA key) is refused now, not hours
    # later when the first report is signed.
    for problem in section_problems(values):
        if problem.is_error:
            errors.append(_diagnostic_at(flat, problem.key, problem.code, problem.message,
                                         help=problem.help))
    fatal = [d for d in errors if d.severity is Severity.ERROR]
    if fatal:
        raise ConfigError(sorted(fatal, key=_position))
    diagnostics.extend(errors)
    return Config(flat, values, settings, diagnostics)


#: the keys `config_get('server.hostname')` and `config_get('report.domain')` are derived
#: from; Stalwart derives them from the loaded (macro-expanded) configuration
DERIVED_SOURCES: Final = ("server.hostname", "report.domain")
_DERIVED_PREFIX: Final = "lookup.default."


def config_reads(written: Mapping[str, str], expanded: Mapping[str, str]) -> dict[str, str]:
    """The texts `config_get` reads (spec 9): other settings as written in the file, without
    macro expansion, but `server.hostname`, `report.domain` and `lookup.default.*` expanded,
    since Stalwart reads those from the expanded configuration when it derives the host name
    and the report domain (and so the submitter and the default signer names)."""
    reads = dict(written)
    for key, text in expanded.items():
        if key in DERIVED_SOURCES or key.startswith(_DERIVED_PREFIX):
            reads[key] = text
    return reads


def _position(diagnostic: Diagnostic) -> tuple[int, str]:
    return (diagnostic.span.start if diagnostic.span else -1, diagnostic.code)


def compile_setting(key: str, spec: SettingSpec | None, flat: FlatConfig,
                     values: Mapping[str, str], sorted_keys: list[str],
                     diagnostics: list[Diagnostic],
                     changed: frozenset[str] = frozenset(),
                     reads: Mapping[str, str] | None = None) -> CompiledSetting | None:
    """Compile one setting's block; `reads` is what config_get reads (config_reads of the
    file, computed here when not given)."""
    if reads is None:
        reads = config_reads(flat.values, values)
    block, problems = read_block(key, values, sorted_keys)
    for problem in problems:
        diagnostics.append(_diagnostic_at(
            flat, problem.key, STRUCTURE_ERROR if problem.is_error else IGNORED_KEY,
            problem.message, Severity.ERROR if problem.is_error else Severity.WARNING))
    if any(problem.is_error for problem in problems):
        return None
    if spec is not None:
        scope = Scope.of(spec.variables, spec.constants)
    else:
        scope = Scope.of(STALWART_VARIABLES)
    if block is None:
        if spec is None or spec.default is None:
            return None
        # Stalwart compiles its defaults with "all variables" (10.2) and the constants.
        node = parse(spec.default, Scope.of(ALL_VARIABLES, spec.constants))
        evaluate, run = generate_block_pair((), node, config=reads)
        return CompiledSetting(key, None, run, ("default",), True,
                               _constants((node,), reads), (), node, evaluate)
    pieces: list[tuple[str, str]] = (
        [(key, block.single)] if block.single is not None else
        [item for rule in block.rules for item in ((rule.condition_key, rule.condition),
                                                   (rule.value_key, rule.value))]
        + [(block.default_key or key, block.default or "")])
    nodes: list[ast.Node] = []
    failed = False
    # Pieces alternate condition, value, ..., default: only results are time spans.
    to_seconds = spec is not None and spec.result is ResultType.DURATION
    for index, (piece_key, text) in enumerate(pieces):
        try:
            node = parse(text, scope)
            is_result = index % 2 == 1 or index == len(pieces) - 1
            nodes.append(in_seconds(node) if to_seconds and is_result else node)
        except ParseError as err:
            failed = True
            diagnostics.append(_parse_diagnostic(flat, piece_key, err, piece_key in changed))
    if failed:
        return None
    origins = tuple(_origin_text(flat, piece_key) for piece_key, _ in pieces[0:-1:2]) + (
        _origin_text(flat, pieces[-1][0]),)
    if block.single is not None and isinstance(nodes[0], ast.Empty):
        return CompiledSetting(key, block, None, origins, False)  # `K = ""`: no value
    rules = list(zip(nodes[0:-1:2], nodes[1:-1:2]))
    evaluate, run = generate_block_pair(rules, nodes[-1], config=reads)
    results = tuple(value for _, value in rules) + (nodes[-1],)
    return CompiledSetting(key, block, run, origins, False, _constants(results, reads),
                           tuple(rules), nodes[-1], evaluate)


def _constants(results: tuple[ast.Node, ...], config: Mapping[str, str]) -> tuple[Any, ...]:
    """Each result's value when it is known at load (folded), else _DYNAMIC."""
    folder = Folder(config)
    found: list[Any] = []
    for node in results:
        if any(isinstance(part, (ast.Capture, ast.Match)) for part in ast.walk(node)):
            found.append(_DYNAMIC)
            continue
        try:
            found.append(folder.constant(node))
        except Unfoldable:
            found.append(_DYNAMIC)
    return tuple(found)


def _origin_text(flat: FlatConfig, key: str) -> str:
    origin = flat.origins.get(key)
    where = flat.file or "<config>"
    if origin is None:
        return where
    return f"{where}:{origin.key_span.line}:{origin.key_span.column}"


def _diagnostic_at(flat: FlatConfig, key: str, code: str, message: str,
                   severity: Severity = Severity.ERROR, help: str | None = None) -> Diagnostic:
    origin = flat.origins.get(key)
    span = origin.key_span if origin is not None else flat.tables.get(key)
    return Diagnostic(code, severity, message, span, flat.file, key, help)


def _parse_diagnostic(flat: FlatConfig, key: str, err: ParseError,
                      macro_changed: bool) -> Diagnostic:
    """A ParseError inside a TOML string, moved to its place in the file."""
    origin = flat.origins.get(key)
    span: Span | None = err.span
    if origin is not None:
        if origin.content_offset is not None and not macro_changed and err.span is not None:
            span = err.span.shifted(flat.text, origin.content_offset)
        else:
            span = origin.value_span
    message = f"{key}: {err.message}"
    return Diagnostic(err.code, Severity.ERROR, message, span, flat.file, key, err.help,
                      err.suggestion)
