"""`tlsrpt lint`: every check over one configuration file, returning diagnostics.

The loader's own diagnostics (TOML, macros, expressions, block structure) are collected
without stopping at the first, then the checks that need the whole file run: value types
known at lint time, unknown keys, rules that can never apply, `config_get` of unset keys and
the DKIM signatures. Checks never raise on bad input; they report it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Final

from engine.config.config import CompiledSetting, compile_setting, config_reads, convert
from engine.config.durations import MILLISECONDS_PER_SECOND, is_duration_word, seconds_of
from engine.config.reference import bounds_text as _bounds
from engine.config.load import FlatConfig, load_toml, read_config_file
from engine.config.macros import expand_macros
from engine.config.settings import SETTINGS, ResultType, SettingSpec, expression_settings, find
from engine.config.signatures import (ALGORITHM_SPELLINGS, SignatureKeyError, load_private_key,
                                      section_problems, signature_ids)
from engine.errors import Diagnostic, Severity, Span
from engine.expr import ast
from engine.expr.fold import Folder, Unfoldable
from engine.expr.scope import STALWART_VARIABLES
from engine.expr.syntax import duration_value
from engine.expr.values import Value, integer_view
from engine.expr.config_values import registrable_domain, server_hostname
from engine.expr.functions import FUNCTIONS

ERROR = Severity.ERROR
WARNING = Severity.WARNING

# `report.<x>` sections Stalwart (or this project) defines besides the registered keys.
_KNOWN_REPORT_SECTIONS: Final = frozenset({
    "analysis", "dkim", "dmarc", "dsn", "spf", "tls", "relay", "store"})
_SPECIAL_CONFIG_KEYS: Final = frozenset({"server.hostname", "report.domain", "cluster.node-id"})
_BARE_VALUE: Final = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+(?:\s*\.\s*[A-Za-z0-9_\"'-]+)*)\s*=\s*"
                                r"([^\s\"'\[{#][^#]*?)\s*(?:#.*)?$")
_PLAIN_WORDS: Final = re.compile(r"[A-Za-z][\w.,!?&()' -]*")


def lint_file(path: str | Path, environ: Mapping[str, str] | None = None) -> tuple[
        list[Diagnostic], str]:
    """Lint a file; returns the diagnostics in file order and the text read."""
    flat = read_config_file(path)
    return lint_read_file(flat, path, environ), flat.text


def lint_read_file(flat: FlatConfig, path: str | Path,
                   environ: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Lint a file already read with `read_config_file` from `path` (for callers that also
    need `flat.unreadable`); the diagnostics in file order."""
    if flat.unreadable:
        return list(flat.diagnostics)
    return _lint(flat, environ, str(Path(path).resolve().parent))


def lint_text(text: str, file: str | None = None,
              environ: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """Lint configuration text (`file` names it in diagnostics)."""
    return _lint(load_toml(text, file), environ, None)


def _lint(flat: FlatConfig, environ: Mapping[str, str] | None,
          base_dir: str | None) -> list[Diagnostic]:
    if flat.diagnostics and any(d.code == "E001" for d in flat.diagnostics):
        return [_explain_toml_error(d, flat.text) for d in flat.diagnostics]
    found = list(flat.diagnostics)
    expanded = expand_macros(flat, environ=environ, base_dir=base_dir)
    found.extend(expanded.diagnostics)
    values = expanded.values
    sorted_keys = list(values)
    compiled: dict[str, CompiledSetting] = {}
    for spec in expression_settings():
        problems: list[Diagnostic] = []
        setting = compile_setting(spec.key, spec, flat, values, sorted_keys, problems,
                                  changed=expanded.changed)
        found.extend(_unquoted_text(spec, flat, d) for d in problems)
        if setting is not None:
            compiled[spec.key] = setting
    found.extend(_literal_escapes(flat))
    found.extend(_unknown_settings(flat))
    # What config_get reads: the derived keys macro-expanded, as the loaded Config reads them.
    reads = config_reads(flat.values, values)
    for key, setting in compiled.items():
        found_spec = find(key)
        assert found_spec is not None  # compiled holds registered settings only
        spec = found_spec
        found.extend(_check_rules(flat, setting, reads))
        found.extend(_check_values(flat, spec, setting, reads))
        found.extend(_check_config_get(flat, setting))
    found.extend(_check_signatures(flat, values, compiled, reads))
    found.extend(_check_derived(flat, reads))
    found.extend(_check_rfc8460(flat, values, reads, compiled))
    found.extend(_check_key_get(flat, compiled))
    return sorted(found, key=_order)


def _order(diagnostic: Diagnostic) -> tuple[int, int, str]:
    span = diagnostic.span
    return (span.start if span else -1, span.end if span else -1, diagnostic.code)


def _at(flat: FlatConfig, key: str, value: bool = True) -> Span | None:
    origin = flat.origins.get(key)
    if origin is None:
        return flat.tables.get(key)
    return origin.value_span if value else origin.key_span


def _diagnostic(flat: FlatConfig, code: str, severity: Severity, message: str, key: str,
                span: Span | None = None, help: str | None = None,
                suggestion: str | None = None) -> Diagnostic:
    return Diagnostic(code, severity, message, span or _at(flat, key), flat.file, key, help,
                      suggestion)


# --- reading -------------------------------------------------------------------------------

def _explain_toml_error(diagnostic: Diagnostic, text: str) -> Diagnostic:
    """Point out the TOML errors that come from Stalwart's own, more lenient reader."""
    if diagnostic.span is None:
        return diagnostic
    lines = text.splitlines()
    line = lines[diagnostic.span.line - 1] if diagnostic.span.line <= len(lines) else ""
    bare = _BARE_VALUE.match(line)
    if bare and not _is_toml_value(bare.group(2)):
        word = bare.group(2)
        column = line.index(word, bare.end(1)) + 1
        start = diagnostic.span.start - (diagnostic.span.column - column)
        return Diagnostic(
            "E004", ERROR, f"`{word}` is a bare word: only Stalwart's own reader accepts "
                           "unquoted values", Span.in_text(text, start, start + len(word)),
            diagnostic.file, None, "standard TOML needs quotes around text values",
            f'"{word}"')
    if "Illegal character '\\n'" in diagnostic.message or "line break" in diagnostic.message:
        return replace(diagnostic, code="E004", help="a line break inside a \"...\" string is "
                       "accepted only by Stalwart's reader; use a multi-line string "
                       "\"\"\"...\"\"\" or '''...'''")
    return diagnostic


def _is_toml_value(text: str) -> bool:
    import tomli
    try:
        tomli.loads(f"x = {text}")
    except tomli.TOMLDecodeError:
        return False
    return True


def _unquoted_text(spec: SettingSpec, flat: FlatConfig, diagnostic: Diagnostic) -> Diagnostic:
    """`from-name = "TLS Report"`: an expression error that is really text without quotes."""
    if spec.result is not ResultType.TEXT or diagnostic.code not in ("E101", "E201"):
        return diagnostic
    source = flat.values.get(diagnostic.key or "", "")
    if not _PLAIN_WORDS.fullmatch(source) or source in STALWART_VARIABLES:
        return diagnostic
    quoted = "'" + source.replace("'", "\\'") + "'"
    span = _at(flat, diagnostic.key or "")
    return Diagnostic("E105", ERROR, f"`{source}` is read as an expression, not as text",
                      span, flat.file, diagnostic.key,
                      "text values are quoted twice: once for TOML, once for the expression",
                      f'"{quoted}"')


def _literal_escapes(flat: FlatConfig) -> list[Diagnostic]:
    found = []
    for key, origin in flat.origins.items():
        token = flat.text[origin.value_span.start:origin.value_span.end]
        if not token.startswith("'") or token.startswith("'''") or "\\" not in token:
            continue
        base = key.split(".")
        if not any(spec.is_expression and (key == spec.key or key.startswith(spec.key + "."))
                   for spec in SETTINGS) or base[0] == "signature":
            continue
        found.append(_diagnostic(
            flat, "W005", WARNING, "backslashes in a '...' string mean something else to "
            "Stalwart's reader", key, origin.value_span,
            "Stalwart processes escapes inside '...' ('\\d' becomes 'd'); use \"\\\\d\" or "
            "'''...''' so both readers see the same expression"))
    return found


def _unknown_settings(flat: FlatConfig) -> list[Diagnostic]:
    known = [spec.key for spec in SETTINGS if "*" not in spec.key]
    found = []
    reported: set[str] = set()
    for key in flat.values:
        parts = key.split(".")
        if parts[0] != "report" or len(parts) < 2:
            continue
        if any(key == name or key.startswith(name + ".") for name in known):
            continue
        if key.startswith("report.tls.aggregate."):
            setting = ".".join(parts[:4])
        elif len(parts) == 2 or parts[1] not in _KNOWN_REPORT_SECTIONS:
            setting = ".".join(parts[:2])
        else:
            continue
        if setting in reported:
            continue  # one finding per setting, not one per entry of its block
        reported.add(setting)
        close = difflib.get_close_matches(setting, known, n=1, cutoff=0.7)
        span = flat.tables.get(setting) if setting != key else None
        span = span or _at(flat, key, False)
        written = flat.text[span.start:span.end] if span else ""
        wrong, right = setting.rsplit(".", 1)[-1], close[0].rsplit(".", 1)[-1] if close else ""
        fixed = written[:written.rfind(wrong)] + right + written[written.rfind(wrong) + len(
            wrong):] if close and wrong in written else None
        found.append(_diagnostic(
            flat, "W404", WARNING, f"unknown setting `{setting}`", key, span,
            None if close else "see docs/configuration.md for the settings", fixed))
    return found


# --- values and rules -------------------------------------------------------------------------

def _constant(node: ast.Node, config: Mapping[str, str]) -> tuple[bool, Value]:
    if any(isinstance(part, (ast.Capture, ast.Match)) for part in ast.walk(node)):
        return False, ""
    try:
        return True, Folder(config).constant(node)
    except Unfoldable:
        return False, ""


def _result_keys(setting: CompiledSetting) -> list[str]:
    block = setting.block
    if block is None:
        return []
    if block.single is not None:
        return [block.key]
    return [rule.value_key for rule in block.rules] + [block.default_key or block.key]


def _check_rules(flat: FlatConfig, setting: CompiledSetting, reads: Mapping[str, str]
                 ) -> list[Diagnostic]:
    if setting.block is None or not setting.block.rules:
        return []
    found = []
    seen: dict[str, str] = {}
    always_true: str | None = None
    for (condition, _), rule in zip(setting.rules, setting.block.rules):
        if always_true is not None:
            found.append(_diagnostic(
                flat, "W304", WARNING, "this rule can never apply", rule.condition_key,
                _at(flat, rule.condition_key, False),
                f"the condition at {always_true} is always true"))
            continue
        normalised = " ".join(rule.condition.split())
        if normalised in seen:
            found.append(_diagnostic(
                flat, "W305", WARNING, "the same condition as an earlier rule",
                rule.condition_key, help=f"first written at {seen[normalised]}"))
            continue
        place = _place(flat, rule.condition_key)
        seen[normalised] = place
        is_constant, value = _constant(condition, reads)
        if is_constant:
            truth = bool(value)
            found.append(_diagnostic(
                flat, "W303", WARNING, f"this condition is always {'true' if truth else 'false'}",
                rule.condition_key))
            if truth:
                always_true = place
    return found


def _place(flat: FlatConfig, key: str) -> str:
    span = _at(flat, key)
    return f"line {span.line}" if span else key


def _check_values(flat: FlatConfig, spec: SettingSpec, setting: CompiledSetting,
                  reads: Mapping[str, str]) -> list[Diagnostic]:
    found = []
    results = [value for _, value in setting.rules] + (
        [setting.default] if setting.default is not None else [])
    for key, node in zip(_result_keys(setting), results):
        is_constant, value = _constant(node, reads)
        if not is_constant:
            continue
        converted, problem = convert(spec, value)
        if problem is None and spec.result is ResultType.SIZE and isinstance(value, int) \
                and value < 0:
            problem = f"a size must not be negative (got {value}; Stalwart reads it as no limit)"
        if problem is not None:
            found.append(_diagnostic(flat, "E401", ERROR, f"{spec.key}: {problem}", key))
            continue
        found.extend(_check_number(flat, spec, node, value, converted, key))
        if isinstance(converted, str) and len(converted) >= 2 and converted[0] == \
                converted[-1] and converted[0] in "'\"":
            found.append(_diagnostic(
                flat, "W403", WARNING, f"the value {converted} still carries its quotes", key,
                suggestion=None, help="quote text once inside the TOML string"))
        elif spec.key.endswith(".from-address") and isinstance(converted, str) and \
                not FUNCTIONS["is_email"].implementation(converted):
            found.append(_diagnostic(
                flat, "W402", WARNING, f"`{converted}` is not an email address", key))
    return found


#: a bare duration above a year of seconds, or above a month and a whole number of thousands,
#: is surely a count of milliseconds (Stalwart's own duration settings read a bare number as
#: milliseconds: `3h` there is 10800000)
_YEAR_SECONDS: Final = 365 * 86400
_MONTH_SECONDS: Final = 30 * 86400


#: the largest unit that divides a span exactly names it in a suggestion (`10800` -> `3h`)
_SPAN_UNITS: Final = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _looks_like_milliseconds(number: int) -> bool:
    return number > _YEAR_SECONDS or (
        number > _MONTH_SECONDS and number % MILLISECONDS_PER_SECOND == 0)


def _check_number(flat: FlatConfig, spec: SettingSpec, node: ast.Node, value: Value,
                  converted: object, key: str) -> list[Diagnostic]:
    """W413 (a number outside the registered bounds) and W414 (a likely unit mistake)."""
    if spec.result not in (ResultType.INTEGER, ResultType.DURATION):
        return []
    found = []
    if spec.result is ResultType.DURATION:
        for part in ast.walk(node):
            if is_duration_word(part) and isinstance(part, ast.Literal) and part.name \
                    and (duration_value(part.name) or 0) < MILLISECONDS_PER_SECOND:
                found.append(_diagnostic(
                    flat, "W414", WARNING, f"`{part.name}` is shorter than a second: "
                    f"{spec.key} counts whole seconds, so it means 1 second", key,
                    help="write the span in seconds or larger units", suggestion="\"1s\""))
        if isinstance(node, ast.Literal) and node.name is None and isinstance(value, int) \
                and _looks_like_milliseconds(value):
            seconds = max(value // MILLISECONDS_PER_SECOND, 1)
            word = next(f"{seconds // size}{unit}" for unit, size in _SPAN_UNITS
                        if seconds % size == 0)
            found.append(_diagnostic(
                flat, "W414", WARNING, f"{value} seconds is {value // 86400} days: a bare number of "
                f"{spec.key} is seconds, not milliseconds", key,
                help=f"for {value} milliseconds write \"{word}\"", suggestion=f"\"{word}\""))
    raw = seconds_of(value) if spec.result is ResultType.DURATION else integer_view(value)
    if raw is not None and raw != converted:
        found.append(_diagnostic(
            flat, "W413", WARNING, f"{spec.key}: {raw} is outside {_bounds(spec)}; "
            f"{converted} is used", key, suggestion=str(converted)))
    return found


def _pieces(setting: CompiledSetting) -> list[tuple[str, ast.Node]]:
    """Every expression the file writes for a setting, with the flat key it is written at."""
    block = setting.block
    if block is None:
        return []
    if block.single is not None:
        return [(block.key, setting.default)] if setting.default is not None else []
    pieces: list[tuple[str, ast.Node]] = []
    for rule, (condition, value) in zip(block.rules, setting.rules):
        pieces += [(rule.condition_key, condition), (rule.value_key, value)]
    if setting.default is not None:
        pieces.append((block.default_key or block.key, setting.default))
    return pieces


def _check_config_get(flat: FlatConfig, setting: CompiledSetting) -> list[Diagnostic]:
    found = []
    for key, node in _pieces(setting):
        for part in ast.walk(node):
            if isinstance(part, ast.Setting) and part.key not in flat.values and \
                    part.key not in _SPECIAL_CONFIG_KEYS:
                found.append(_diagnostic(
                    flat, "W405", WARNING, f"config_get('{part.key}') reads a key that is not "
                    "set: it gives ''", key))
    return found


# --- the derived host name and report domain ---------------------------------------------------

def _check_derived(flat: FlatConfig, reads: Mapping[str, str]) -> list[Diagnostic]:
    """What `config_get('server.hostname')` and `config_get('report.domain')` become, checked
    where Stalwart's rules give a value the author surely did not mean."""
    found = []
    host_key = next((key for key in ("server.hostname", "lookup.default.hostname")
                     if key in reads), None)
    domain_key = next((key for key in ("report.domain", "lookup.default.domain")
                       if key in reads), None)
    for key in (host_key, domain_key):
        if key is not None and not reads[key].strip():
            macro = " (after its macros are expanded)" if "%{" in flat.values.get(key, "") \
                else ""
            found.append(_diagnostic(
                flat, "W410", WARNING, f"`{key}` is empty{macro}: Stalwart uses the empty "
                "text, it does not fall back", key,
                help="set it to the name, or remove the key to get the fallback"))
    if domain_key is None and host_key == "server.hostname":
        host = server_hostname(reads)
        if host != host.lower():
            domain = registrable_domain(host)
            found.append(_diagnostic(
                flat, "W411", WARNING, f"`server.hostname` {_shown(flat, host_key, host)} has "
                "upper-case letters, and the report domain falls back to its registrable domain"
                f"{_shown(flat, host_key, domain, ' ')}: Stalwart's public suffix lookup is "
                "case-sensitive and keeps the case", host_key,
                help="write the host name in lower case, or set `report.domain`",
                suggestion=None if "%{" in flat.values[host_key] else f'"{host.lower()}"'))
    return found


# --- RFC 8460 rules a configuration can break -----------------------------------------------------

def _constants_of(setting: CompiledSetting | None, reads: Mapping[str, str]
                  ) -> list[tuple[str, Value]] | None:
    """Each (flat key, value) a setting can produce, when every one is known at lint time and
    does not depend on the host name of the machine lint runs on."""
    if setting is None or setting.default is None:
        return None
    machine = "server.hostname" not in reads and "lookup.default.hostname" not in reads
    if machine:
        derived = {"server.hostname"} | ({"report.domain"} if "report.domain" not in reads
                                         and "lookup.default.domain" not in reads else set())
        nodes = [node for pair in setting.rules for node in pair] + [setting.default]
        if any(isinstance(part, ast.Setting) and part.key in derived
               for node in nodes for part in ast.walk(node)):
            return None
    keys = _result_keys(setting) or [setting.key]
    results = [value for _, value in setting.rules] + [setting.default]
    found = []
    for key, node in zip(keys, results):
        is_constant, value = _constant(node, reads)
        if not is_constant:
            return None
        found.append((key, value))
    return found


def _domain_of(address: Value) -> str | None:
    if not isinstance(address, str) or "@" not in address:
        return None
    return address.rpartition("@")[2].strip().rstrip(".").lower() or None


def _check_rfc8460(flat: FlatConfig, values: Mapping[str, str], reads: Mapping[str, str],
                   compiled: Mapping[str, CompiledSetting]) -> list[Diagnostic]:
    found = []
    submitters = _constants_of(compiled.get("report.submitter"), reads)
    contacts = _constants_of(compiled.get("report.tls.aggregate.contact-info"), reads)
    if submitters and contacts and len({str(v) for _, v in submitters}) == 1:
        submitter = str(submitters[0][1]).strip().rstrip(".")
        for key, contact in contacts:
            domain = _domain_of(contact)
            if domain is not None and domain != submitter.lower():
                found.append(_diagnostic(
                    flat, "W520", WARNING, f"the contact-info domain `{domain}` differs from "
                    f"the submitter `{submitter}`: RFC 8460 §5.3 requires the "
                    "TLS-Report-Submitter to be the domain of contact-info", key,
                    help=f"use a contact address at {submitter}, or set report.submitter to "
                         f"'{domain}'"))
    sections = signature_ids(values)
    signs = _constants_of(compiled.get("report.tls.aggregate.sign"), reads)
    addresses = _constants_of(compiled.get("report.tls.aggregate.from-address"), reads)
    if not signs or not addresses:
        return found
    signing: set[str] = set()
    for _, value in signs:
        ids, problem = convert(find("report.tls.aggregate.sign"), value)  # type: ignore[arg-type]
        if problem is None:
            signing.update(sections[i].get("domain", "").strip().rstrip(".").lower()
                           for i in ids if i in sections)
    signing.discard("")
    if not signing:
        return found  # no signature at all: E501 or the empty `sign` say it
    for key, address in addresses:
        domain = _domain_of(address)
        if domain is None:
            continue
        if not any(domain == d or domain.endswith("." + d) for d in signing):
            found.append(_diagnostic(
                flat, "W521", WARNING, f"no configured DKIM signature covers the from-address "
                f"domain `{domain}` (signing domains: {', '.join(sorted(signing))}): RFC 8460 "
                "§3 wants a report sent by email signed by the reporting domain", key,
                help=f"add a signature with domain = \"{domain}\" (or a parent domain) to "
                     "`sign`, or send from an address at a signing domain"))
    return found


def _shown(flat: FlatConfig, key: str, text: str, before: str = "") -> str:
    # never print what an env/file macro expanded to
    return "" if "%{" in flat.values.get(key, "") else f"{before}`{text}`"


def _check_key_get(flat: FlatConfig, compiled: Mapping[str, CompiledSetting]
                   ) -> list[Diagnostic]:
    """`key_get('default', 'hostname')` and `key_get('default', 'domain')`: the defaults of
    Stalwart before v0.11.2, still found in exported configurations. They read a lookup store
    (at run time, and '' when it has no such key), where today's defaults read the host name
    and report domain derived at load."""
    found = []
    replacement = {"hostname": "config_get('server.hostname')",
                   "domain": "config_get('report.domain')"}
    for setting in compiled.values():
        for key, node in _pieces(setting):
            for part in ast.walk(node):
                if not (isinstance(part, ast.Call) and part.function == "key_get"):
                    continue
                words = [argument.value if isinstance(argument, ast.Literal) else None
                         for argument in part.arguments]
                if len(words) != 2 or words[0] != "default" or words[1] not in replacement:
                    continue
                found.append(_diagnostic(
                    flat, "W412", WARNING, f"`key_get('default', '{words[1]}')` is Stalwart's "
                    "default from before v0.11.2: it reads a lookup store at run time, not "
                    f"the {'host name' if words[1] == 'hostname' else 'report domain'} "
                    "derived at load", key,
                    help=f"write {replacement[words[1]]} (today's default), or remove the "
                         "key to get the default"))
    return found


def _check_signatures(flat: FlatConfig, values: Mapping[str, str],
                      compiled: Mapping[str, CompiledSetting],
                      reads: Mapping[str, str]) -> list[Diagnostic]:
    found = [_diagnostic(flat, problem.code, ERROR if problem.is_error else WARNING,
                         problem.message, problem.key, _at(flat, problem.key, False),
                         problem.help) for problem in section_problems(values)]
    sections = signature_ids(values)
    for identifier, fields in sections.items():
        anchor = f"signature.{identifier}"
        first_key = next(key for key in flat.values if key.startswith(anchor + "."))
        missing = [name for name in ("private-key", "domain", "selector") if not fields.get(name)]
        if missing:
            found.append(_diagnostic(
                flat, "E502", ERROR, f"signature `{identifier}` has no {', '.join(missing)}",
                first_key, flat.tables.get(anchor) or _at(flat, first_key, False)))
            continue
        if "%{" in fields["private-key"]:
            continue  # a macro that did not expand: E010-E013 already say why
        algorithm = ALGORITHM_SPELLINGS.get(fields.get("algorithm", "rsa-sha256").strip().lower())
        if algorithm is None:
            continue  # E505 says it, at `algorithm`
        try:
            load_private_key(fields["private-key"], algorithm)
        except SignatureKeyError as err:
            reason = " ".join(str(err).split())  # library messages may span lines
            found.append(_diagnostic(
                flat, "E503", ERROR, f"signature `{identifier}`: {reason}",
                anchor + ".private-key"))
    sign = compiled.get("report.tls.aggregate.sign")
    if sign is None or sign.block is None:
        return found
    keys = _result_keys(sign)
    results = [value for _, value in sign.rules] + [sign.default] if sign.default else []
    for key, node in zip(keys, results):
        is_constant, value = _constant(node, reads)
        if not is_constant:
            continue
        ids, problem = convert(find("report.tls.aggregate.sign"), value)  # type: ignore[arg-type]
        if problem is not None:
            continue  # E401 already says it
        algorithms = []
        for identifier in ids:
            if identifier not in sections:
                close = difflib.get_close_matches(identifier, list(sections), n=1)
                span = _at(flat, key)
                token = flat.text[span.start:span.end] if span else ""
                fixed = token.replace(identifier, close[0], 1) if close and identifier in \
                    token else None
                found.append(_diagnostic(
                    flat, "E501", ERROR, f"`sign` names `{identifier}`, but there is no "
                    f"[signature.\"{identifier}\"] section", key, suggestion=fixed))
            else:
                algorithms.append(sections[identifier].get("algorithm", "rsa-sha256"))
        if algorithms and all(name.startswith("ed25519") for name in algorithms):
            found.append(_diagnostic(
                flat, "W504", WARNING, "reports are signed with Ed25519 keys only", key,
                help="add an RSA signature: some large receivers cannot verify Ed25519"))
    return found
