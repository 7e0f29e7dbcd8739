"""Every diagnostic code the engine can report, in one table.

A code is stable once released: tools filter on it (`--select`, `--ignore`) and documents
link to it. Each entry has a kebab-case name, a default severity, a one-line summary and an
explanation in three parts (what it finds, why it matters, how to fix it) that `tlsrpt lint
--explain CODE` prints and docs/lint.md expands with examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from engine.errors import Severity

ERROR = Severity.ERROR
WARNING = Severity.WARNING


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    fix: str


_RULES: Final = (
    # -- reading the file
    Rule("E001", "toml-syntax", ERROR, "the file is not valid TOML",
         "Nothing in a file that does not parse can be used.",
         "Correct the TOML at the position shown."),
    Rule("E002", "unreadable-file", ERROR, "the file cannot be read, or is not UTF-8",
         "A configuration must be a readable UTF-8 text file.",
         "Check the path and permissions; save the file as UTF-8."),
    Rule("E003", "duplicate-key", ERROR, "two TOML keys flatten to the same setting",
         "Stalwart's flat keys would hold only one of the two values.",
         "Keep one definition of the setting."),
    Rule("W003", "toml-datetime", WARNING, "a TOML date or time as a setting's value",
         "Expressions have no date type: the value is read as the text written, which then "
         "does not compile where an expression is expected.",
         "Quote the value as text: `\"'1979-05-27'\"`."),
    Rule("E004", "stalwart-only-syntax", ERROR,
         "syntax that only Stalwart's own reader accepts (a bare word such as `send = never`)",
         "Standard TOML requires strings in quotes; the file is rejected by every standard "
         "TOML tool, this one included.",
         "Quote the value: `send = \"never\"`."),
    Rule("W005", "stalwart-literal-escapes", WARNING,
         "a literal string '...' with backslashes in an expression setting",
         "Stalwart's reader processes escapes inside '...' (so '\\d' becomes 'd' there), "
         "standard TOML does not: the same file means two different things.",
         "Use a basic string with doubled backslashes (\"\\\\d\") or a multi-line literal "
         "string ('''\\d''')."),
    # -- macros
    Rule("E010", "macro-env-missing", ERROR, "`%{env:NAME}%` names an unset environment variable",
         "The macro is replaced by nothing, so the setting silently loses part of its value.",
         "Set the variable in the environment of the service, or remove the macro."),
    Rule("E011", "macro-file-unreadable", ERROR,
         "`%{file:PATH}%` names a file that cannot be read (missing, not UTF-8, over 1 MiB)",
         "The value is left unexpanded, so a key or secret is missing.",
         "Check the path (relative paths start at the configuration file's folder)."),
    Rule("E012", "macro-cfg-missing", ERROR, "`%{cfg:KEY}%` names a setting that is not set",
         "The macro is replaced by nothing.", "Set the key, or correct its name."),
    Rule("E013", "macro-unterminated", ERROR, "a macro `%{...` has no closing `}%`",
         "Stalwart never finishes expanding such a value.", "Close the macro with `}%`."),
    Rule("E014", "macro-too-large", ERROR,
         "macros expand a value past 1 MiB, or a configuration past 16 MiB in total",
         "Chains of `%{cfg:}%` double a value at each link and a file can include itself; "
         "expanding them would take gigabytes, so the value is left unexpanded.",
         "Break the chain of macros; keep large data out of macros."),
    Rule("W015", "macro-secret-readable", WARNING,
         "a key or password read by `%{file:}%` is in a file every user can read",
         "Any local user (or a compromised service) can read the secret.",
         "Make the file readable by its owner only (`chmod 600`)."),
    # -- expressions
    Rule("E101", "expression-syntax", ERROR, "the expression does not parse",
         "The setting keeps its built-in default (Stalwart logs an error and carries on).",
         "Correct the expression at the caret."),
    Rule("E102", "invalid-literal", ERROR, "a number or duration that is not valid",
         "Stalwart rejects the expression.",
         "Integers are decimal; floats have one dot and no exponent; durations are a whole "
         "number and one unit (ms, s, m, h, d)."),
    Rule("E103", "invalid-regex", ERROR, "a `matches` pattern that is not a valid regex",
         "Stalwart rejects the expression.",
         "Use Rust regex syntax: no backreferences, no look-around."),
    Rule("E104", "too-complex", ERROR, "an expression over the length or nesting limits",
         "Very long or deep expressions are refused to bound the work of loading untrusted "
         "configuration.", "Split it into simpler settings."),
    Rule("E105", "unquoted-text", ERROR, "text written without its inner quotes",
         "`from-name = \"TLS Report\"` is the expression `TLS Report`: two unknown names.",
         "Quote the text inside the TOML string: `from-name = \"'TLS Report'\"`."),
    Rule("E201", "unknown-name", ERROR, "a name that is no variable, constant or function",
         "Stalwart rejects the expression; the setting keeps its default.",
         "Use one of the names the setting allows (see docs/configuration.md), or quote text."),
    Rule("E202", "variable-not-in-scope", ERROR,
         "a variable that exists, but not in this setting",
         "Each setting is evaluated with its own variables; others are unknown there.",
         "Use one of the variables listed in the help."),
    Rule("E203", "unknown-function", ERROR, "a call of a function that does not exist",
         "Stalwart rejects the expression.", "Use the function named in the suggestion."),
    Rule("E204", "wrong-arity", ERROR, "a function called with the wrong number of arguments",
         "Stalwart rejects the expression.", "Give the function its arguments."),
    # -- if/then/else blocks
    Rule("E301", "block-structure", ERROR,
         "a malformed if/then/else block (then without if, missing else, several else...)",
         "Stalwart rejects the block; the setting keeps its default.",
         "Give each entry an `if` and a `then`, and end with one `else`."),
    Rule("W302", "ignored-block-key", WARNING, "a key in an if/then/else entry that is ignored",
         "Only `if`, `then` and `else` count; a misspelt one is silently dropped.",
         "Rename or remove the key."),
    Rule("W303", "constant-condition", WARNING, "a condition that is always true or always false",
         "A rule that always or never applies is usually a mistake.",
         "Test a variable, or drop the rule."),
    Rule("W304", "unreachable-rule", WARNING,
         "a rule after a condition that is always true: it can never apply",
         "Rules are tried in order and the first true one wins.",
         "Move the rule before the always-true one, or remove it."),
    Rule("W305", "duplicate-condition", WARNING, "the same condition twice in one block",
         "The second rule can never apply.", "Remove or change one of them."),
    # -- values
    Rule("E401", "wrong-type", ERROR, "a value of the wrong type for the setting",
         "At run time the setting falls back to its default.",
         "Give a value of the type the setting needs (docs/configuration.md)."),
    Rule("W402", "not-an-email-address", WARNING, "a from address that is not an email address",
         "Receivers reject report messages from invalid addresses.",
         "Write a full address such as 'noreply-tls@example.org'."),
    Rule("W403", "quoted-twice", WARNING, "a text value that still carries quotes",
         "The quotes become part of the value (a From name of 'TLS').",
         "Quote once inside the TOML string: from-name = \"'TLS'\"."),
    Rule("W404", "unknown-setting", WARNING, "a key under report. that no setting has",
         "A misspelt key is ignored, so the intended setting keeps its default.",
         "Use the key named in the suggestion."),
    Rule("W405", "config-get-unset", WARNING, "`config_get` of a key that is not set",
         "It evaluates to '' at run time.", "Set the key, or correct its name."),
    Rule("W410", "empty-host-name", WARNING,
         "an empty `server.hostname`, `report.domain` or `lookup.default.*`",
         "Stalwart uses the empty text, it does not fall back: reports would come from "
         "`noreply-tls@` with an empty submitter.",
         "Set the name (check the environment variable of a macro), or remove the key."),
    Rule("W411", "upper-case-host-name", WARNING,
         "an upper-case host name reaching the public-suffix fallback of `report.domain`",
         "Stalwart's public suffix lookup is case-sensitive and keeps the case: "
         "`MX1.EXAMPLE.ORG` gives `EXAMPLE.ORG`, `MX.EXAMPLE.CO.UK` gives `CO.UK`.",
         "Write the host name in lower case, or set `report.domain`."),
    Rule("W412", "key-get-default", WARNING,
         "a setting that still uses Stalwart's old `key_get('default', ...)` default",
         "Before v0.11.2 the defaults read a lookup store at run time; today's read the host "
         "name and report domain derived at load, and the two differ.",
         "Write `config_get('server.hostname')` or `config_get('report.domain')`, or remove "
         "the key."),
    Rule("W413", "out-of-bounds", WARNING, "a number outside the setting's bounds",
         "The number is clamped to the nearest bound when it is used, so the setting does "
         "not do what it says.", "Give a number within the bounds docs/configuration.md lists."),
    Rule("W414", "duration-unit", WARNING,
         "a duration that is almost surely a unit mistake",
         "Time spans count whole seconds: a bare number over a year is likely milliseconds "
         "(as Stalwart's own durations read), and a span under a second counts as one.",
         "Write the span with its unit: \"3h\", \"1d\", \"90m\"."),
    # -- DKIM signatures
    Rule("E501", "unknown-signature", ERROR, "`sign` names a signature with no `signature.<id>`",
         "Reports would be held: a report is never sent with a missing signature.",
         "Add the `[signature.\"<id>\"]` section, or correct the id."),
    Rule("E502", "incomplete-signature", ERROR,
         "a signature section without private-key, domain or selector",
         "It cannot sign; reports using it are held.", "Add the missing keys."),
    Rule("E503", "bad-signature-key", ERROR, "a signature's private key does not load",
         "It cannot sign; reports using it are held.",
         "Point private-key at a PEM key of the signature's algorithm."),
    Rule("W504", "ed25519-only", WARNING, "reports are signed with Ed25519 keys only",
         "Some large receivers cannot verify Ed25519 signatures yet.",
         "Also sign with an RSA key."),
    Rule("E505", "refused-signature-algorithm", ERROR,
         "a signature algorithm that cannot sign (`rsa-sha1`, an unknown name)",
         "RFC 8301 3.1: rsa-sha1 MUST NOT be used; the configuration does not load.",
         "Use `rsa-sha256` or `ed25519-sha256`."),
    Rule("E506", "weak-signature-key", ERROR, "an RSA signature key under 1024 bits",
         "RFC 8301 3.2: signers MUST use at least 1024 bits and verifiers refuse smaller "
         "keys; the configuration does not load.",
         "Generate a 2048-bit RSA key."),
    Rule("W507", "ignored-signature-key", WARNING,
         "a Stalwart signature key this engine cannot honour (`expire`, `report`, "
         "`third-party`, `third-party-algo`, `set-body-length`)",
         "The signer (dkimpy) writes no x=, r=y, atps= or l=: the key has no effect.",
         "Remove it."),
    Rule("W508", "unknown-signature-key", WARNING, "a key that no signature section has",
         "A misspelt key is ignored, so the intended value is not used.",
         "Use one of private-key, domain, selector, algorithm, canonicalization, headers, "
         "auid."),
    Rule("W520", "submitter-contact-mismatch", WARNING,
         "the contact-info domain differs from the submitter (RFC 8460 §5.3)",
         "RFC 8460 §5.3: the TLS-Report-Submitter must be the domain of contact-info; "
         "receivers (and `tlsrpt analyze`) warn about such reports.",
         "Use a contact address at the submitter, or make the submitter that domain."),
    Rule("W521", "from-address-unsigned", WARNING,
         "no configured DKIM signature covers the from-address domain (RFC 8460 §3)",
         "RFC 8460 §3: a report sent by email carries a DKIM signature of the reporting "
         "domain; a signature of another domain does not vouch for the sender.",
         "Sign with a key of the from-address domain (or a parent), or send from a signing "
         "domain."),
)

RULES: Final[Mapping[str, Rule]] = MappingProxyType({rule.code: rule for rule in _RULES})


def rule(code: str) -> Rule:
    return RULES[code]


def selected(code: str, select: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    """Whether `code` passes `--select`/`--ignore` (codes or prefixes such as `W` or `E2`)."""
    if select and not any(code.startswith(prefix) for prefix in select):
        return False
    return not any(code.startswith(prefix) for prefix in ignore)
