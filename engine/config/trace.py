"""How a setting reached its value for one context: the data behind `tlsrpt explain` and the
"which rule" line of `tlsrpt test` failures.

A trace never re-implements the language. Each step runs code compiled by `engine.expr.compile`
from the setting's own ASTs, so a trace cannot disagree with `Config.resolve`:

- the setting's block, compiled with `trace=True`, says which rule was chosen; every condition
  before it was false, and (as in Stalwart, spec 12.5) no condition after it ran;
- a twin block whose values are `[$0, $1, ...]` gives the captures the chosen value saw (the
  capture list is shared by the whole block, spec 8, so only a block can reproduce it);
- when evaluation fails, blocks made of the first N conditions find the condition that failed.

Service functions therefore run more than once per trace; with the in-memory fixtures of tests
and `explain` that only matters for counters (`counter_incr` counts each run).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.config.config import CompiledSetting, Config, convert
from engine.config.settings import Frequency, ResultType, SettingSpec, find
from engine.errors import EvalError, Span
from engine.expr import ast
from engine.expr.compile import generate_block
from engine.expr.scope import STALWART_VARIABLES
from engine.expr.values import Value

#: what the registry default is called where a rule's origin would be
REGISTRY_DEFAULT: Final = "default"
_NOWHERE: Final = Span(0, 0)


class ConditionOutcome(enum.Enum):
    """What happened to one rule's condition."""

    HELD = "held"
    NOT_HELD = "did not hold"
    NOT_EVALUATED = "not evaluated"  # an earlier rule was chosen, or evaluation stopped
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class VariableRead:
    """A variable (or `$GLOBAL`) an expression reads, and the value it had; `given` is False
    when the context did not set it and the language's default ('' or 0) applied."""

    name: str
    value: Any
    given: bool


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One `if`/`then` rule of a block (number counts from 1, as people do)."""

    number: int
    origin: str
    condition: str
    value: str
    outcome: ConditionOutcome
    reads: tuple[VariableRead, ...]


@dataclass(frozen=True, slots=True)
class Trace:
    """How `key` resolved: the rules in order, the chosen one, the captures its value saw, the
    raw value and, for registered settings, the typed value (or why it has none)."""

    key: str
    rules: tuple[RuleTrace, ...]
    #: the `else` text (or the single value, or the registry default) and where it is written
    default: str | None
    default_origin: str
    #: the rule that produced the value (1-based), 0 for the else/default, None for no value
    chosen: int | None
    origin: str
    captures: tuple[str, ...]
    value: Value | None
    error: str | None
    result_type: ResultType | None
    typed: Any
    typed_problem: str | None
    #: variables of the context that this setting cannot read (outside its scope)
    ignored: tuple[str, ...]
    #: what the default (or single value) reads
    default_reads: tuple[VariableRead, ...] = ()

    @property
    def from_default(self) -> bool:
        return self.chosen == 0

    @property
    def produced_by(self) -> str:
        """Which rule produced the value, for people: `rule 2 (file:line:col)`."""
        if self.chosen is None:
            return "no value (the setting is empty)" if self.default_origin != "not set" \
                else "not set in the configuration"
        if self.chosen > 0:
            return f"rule {self.chosen} ({self.origin})"
        if self.origin == REGISTRY_DEFAULT:
            return "the built-in default (not set in the configuration)"
        if self.rules:
            return f"else ({self.origin})"
        return f"the value ({self.origin})"


def value_type(value: Value | None) -> str:
    """The language's name for the kind of a raw value."""
    if value is None:
        return "no value"
    return {str: "text", int: "integer", float: "float", list: "array"}.get(
        type(value), type(value).__name__)


def typed_text(result_type: ResultType | None, typed: Any) -> Any:
    """A typed value as people (and JSON) read it: a frequency by its name."""
    if isinstance(typed, Frequency):
        return typed.name.lower()
    if isinstance(typed, tuple):
        return list(typed)
    if result_type is ResultType.BOOLEAN:
        return bool(typed)
    return typed


def trace(config: Config, key: str, variables: Mapping[str, Any] | None = None,
          services: Any = None) -> Trace:
    """Resolve `key` for `variables` and record how. Raises ConfigError if an unregistered
    key is malformed (as `Config.resolve` does); an evaluation error is recorded, not raised."""
    variables = dict(variables or {})
    spec = find(key)
    compiled = config.setting(key)
    ignored = _ignored(spec, variables)
    if compiled is None or compiled.run is None:
        origin = "not set" if compiled is None else compiled.rule_origins[-1]
        empty = _typed(spec, None)
        return Trace(key, (), None if compiled is None else "", origin, None, origin, (), None,
                     None, _result(spec), empty[0], empty[1], ignored)
    texts = _texts(compiled, spec)
    count = len(compiled.rules)
    error: str | None = None
    value: Value | None = None
    captures: tuple[str, ...] = ()
    failed_condition = False
    try:
        chosen_index, value = compiled.run(variables, config.raw, services)
    except EvalError as err:
        error = str(err)
        chosen_index, failed_condition = _locate_failure(config, compiled, variables, services)
    else:
        captures = _captures(config, compiled, variables, services)
    rules = []
    for index, (condition, _) in enumerate(compiled.rules):
        if index < chosen_index:
            outcome = ConditionOutcome.NOT_HELD
        elif index > chosen_index:
            outcome = ConditionOutcome.NOT_EVALUATED
        else:
            outcome = ConditionOutcome.FAILED if failed_condition else ConditionOutcome.HELD
        rules.append(RuleTrace(index + 1, compiled.rule_origins[index], texts[index][0],
                               texts[index][1], outcome, _reads(condition, variables)))
    # The rule whose value was (or was being) evaluated; none when a condition failed.
    chosen = None if failed_condition else (0 if chosen_index == count else chosen_index + 1)
    origin = compiled.rule_origins[chosen_index]
    typed, problem = _typed(spec, value) if error is None else (None, error)
    default_reads = _reads(compiled.default, variables) if compiled.default is not None else ()
    return Trace(key, tuple(rules), texts[-1][1], compiled.rule_origins[-1], chosen, origin,
                 captures, value, error, _result(spec), typed, problem, ignored, default_reads)


def _result(spec: SettingSpec | None) -> ResultType | None:
    return spec.result if spec is not None and spec.is_expression else None


def _typed(spec: SettingSpec | None, value: Value | None) -> tuple[Any, str | None]:
    if spec is None or not spec.is_expression:
        return None, None
    if value is None:
        return None, "the setting has no value"
    return convert(spec, value)


def _ignored(spec: SettingSpec | None, variables: Mapping[str, Any]) -> tuple[str, ...]:
    allowed = set(spec.variables) if spec is not None and spec.is_expression \
        else set(STALWART_VARIABLES)
    return tuple(name for name in variables if not name.startswith("$") and name not in allowed)


def _texts(compiled: CompiledSetting, spec: SettingSpec | None) -> list[tuple[str, str]]:
    """(condition, value) texts of each rule, then ('', default text)."""
    block = compiled.block
    if block is None:  # the registry default
        return [("", spec.default if spec is not None and spec.default is not None else "")]
    if block.single is not None:
        return [("", block.single)]
    return [(rule.condition, rule.value) for rule in block.rules] + [("", block.default or "")]


def _reads(node: ast.Node, variables: Mapping[str, Any]) -> tuple[VariableRead, ...]:
    found: dict[str, VariableRead] = {}
    for part in ast.walk(node):
        if isinstance(part, ast.Variable) and part.name not in found:
            found[part.name] = VariableRead(part.name, variables.get(part.name, ""),
                                            part.name in variables)
        elif isinstance(part, ast.Global) and "$" + part.name not in found:
            name = "$" + part.name
            found[name] = VariableRead(name, variables.get(name, 0), name in variables)
    return tuple(found.values())


def _marker(number: int, groups: int) -> ast.Node:
    """`[number, $0, $1, ... $groups]` as an AST."""
    items: list[ast.Node] = [ast.Literal(number, _NOWHERE)]
    items.extend(ast.Capture(group, _NOWHERE) for group in range(groups + 1))
    return ast.Array(tuple(items), _NOWHERE)


def _groups(compiled: CompiledSetting) -> int | None:
    """The most groups of any `matches` in the block; None when the block has no `matches`."""
    nodes = [part for rule in compiled.rules for part in rule]
    if compiled.default is not None:
        nodes.append(compiled.default)
    # Pattern keeps its group count private; this stage is its only other reader.
    counts = [part.pattern._groups for node in nodes for part in ast.walk(node)
              if isinstance(part, ast.Match)]
    return max(counts) if counts else None


def _captures(config: Config, compiled: CompiledSetting, variables: Mapping[str, Any],
              services: Any) -> tuple[str, ...]:
    """The capture list the chosen value saw ($0 first); () when no `matches` succeeded."""
    groups = _groups(compiled)
    if groups is None:
        return ()
    rules = [(condition, _marker(number, groups))
             for number, (condition, _) in enumerate(compiled.rules)]
    run = generate_block(rules, _marker(len(rules), groups), config=config.raw)
    try:
        found = run(variables, config.raw, services)
    except EvalError:
        return ()
    captures = tuple(str(item) for item in found[1:])
    return captures if any(captures) else ()


def _conditions_fail(config: Config, compiled: CompiledSetting, through: int,
                     variables: Mapping[str, Any], services: Any) -> bool:
    """Whether evaluating the conditions of rules 0..through (0-based) raises."""
    rules = [(condition, ast.Literal(number, _NOWHERE))
             for number, (condition, _) in enumerate(compiled.rules[:through + 1])]
    run = generate_block(rules, ast.Literal(-1, _NOWHERE), config=config.raw)
    try:
        run(variables, config.raw, services)
    except EvalError:
        return True
    return False


def _locate_failure(config: Config, compiled: CompiledSetting, variables: Mapping[str, Any],
                    services: Any) -> tuple[int, bool]:
    """After an evaluation error: (0-based rule, True) for the condition that failed, else
    (the chosen rule, False) when its value failed (len(rules) for the else/default)."""
    count = len(compiled.rules)
    for index in range(count):
        if _conditions_fail(config, compiled, index, variables, services):
            return index, True
    rules = [(condition, ast.Literal(number, _NOWHERE))
             for number, (condition, _) in enumerate(compiled.rules)]
    chosen = generate_block(rules, ast.Literal(count, _NOWHERE), config=config.raw)(
        variables, config.raw, services)
    return (chosen if isinstance(chosen, int) else count), False
