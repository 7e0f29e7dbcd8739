"""The benchmark cases: one expression in three versions (ours, hand-written, simpleeval).

Shared by test_expressions.py (evaluation) and test_compile.py (compile time). Each case holds:

- `source`: the expression in Stalwart's configuration language, compiled by our engine;
- `context`: realistic TLS-reporting / MTA queue values, chosen so that the whole expression
  is evaluated (no `&&`/`||` short cut skips most of the work);
- `hand`: the same logic written by hand in plain Python, taking the same context dict;
- `simple_source`, `simple_class`, `simple_functions`: the same logic for simpleeval, in its
  Python-like syntax, with the context as `names` and plain Python helpers as functions.

The three versions must compute the same value for the case's context; the benchmarks check it
before timing anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simpleeval import EvalWithCompoundTypes, SimpleEval

#: Implementation labels, shared by the tests and conftest.py's summary.
OURS = "ours"
HAND = "hand"
SIMPLE = "simpleeval"
BASELINE = "baseline"  # an empty function: the cost of pytest-benchmark's loop and one call
COMPILE = "compile"

#: The variables every case may use (a subset of Stalwart's queue/host variables, spec 10.1).
VARIABLES = ("rcpt", "rcpt_domain", "sender", "sender_domain", "retry_num", "expires_in",
             "recipients")


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    source: str
    context: Mapping[str, Any]
    hand: Callable[[Mapping[str, Any]], Any]
    simple_source: str
    simple_class: type[SimpleEval] = SimpleEval
    simple_functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)


# --- helpers a simpleeval integrator would register as functions ---------------------------

def _email_part(address: str, part: str) -> str:
    """email_part for a plain string: split at the last '@', trim the requested side."""
    local, at, domain = address.rpartition("@")
    if not at:
        return ""
    if part == "local":
        return local.strip()
    if part == "domain":
        return domain.strip()
    return ""


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _matches(pattern: str, subject: str) -> re.Match[str] | None:
    """Search with a pattern compiled once (the first time it is seen)."""
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled.search(subject)


def _group(match: re.Match[str] | None, number: int, default: str) -> str:
    """Group `number` of a match, or `default` when there was no match."""
    if match is None:
        return default
    return match.group(number) or ""


# --- hand-written versions -------------------------------------------------------------------

def hand_concat(ctx: Mapping[str, Any]) -> str:
    return "noreply-tls@" + ctx.get("rcpt_domain", "")


def hand_logic(ctx: Mapping[str, Any]) -> int:
    if ctx.get("rcpt_domain", "") == "example.org" and ctx.get("retry_num", 0) > 3:
        return 1
    return 1 if ctx.get("sender_domain", "") == "example.net" else 0


def hand_string_functions(ctx: Mapping[str, Any]) -> str:
    head, at, _ = ctx.get("sender", "").strip().rpartition("@")
    local = head.strip().lower() if at else ""
    _, at, tail = ctx.get("rcpt", "").rpartition("@")
    domain = tail.strip() if at else ""
    return local + "@" + domain


_ADDRESS = re.compile(r"^([^@]+)@(.+)$")


def hand_regex(ctx: Mapping[str, Any]) -> str:
    match = _ADDRESS.search(ctx.get("rcpt", ""))
    return match[2] if match else "none"


def hand_arithmetic(ctx: Mapping[str, Any]) -> float:
    return (ctx.get("retry_num", 0) * 2 + 1) / 3 - ctx.get("expires_in", 0)


_POLICY_DOMAINS = frozenset({"example.org", "example.net", "example.com"})


def hand_membership(ctx: Mapping[str, Any]) -> int:
    if ctx.get("rcpt_domain", "") not in _POLICY_DOMAINS:
        return 0
    recipients = ctx.get("recipients")
    return 1 if recipients and recipients[0] != "" else 0


def hand_suffix_count(ctx: Mapping[str, Any]) -> int:
    if not ctx.get("rcpt_domain", "").endswith(".org"):
        return 0
    return 1 if len(ctx.get("recipients", ())) > 1 else 0


# --- the cases -------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    Case(
        id="a_concat",
        description="concatenation with a variable",
        source="'noreply-tls@' + rcpt_domain",
        context={"rcpt_domain": "example.org"},
        hand=hand_concat,
        simple_source="'noreply-tls@' + rcpt_domain",
    ),
    Case(
        id="b_logic",
        description="comparisons combined with && and ||",
        source="rcpt_domain == 'example.org' && retry_num > 3 || sender_domain == 'example.net'",
        # retry_num <= 3: the && is false, so the || has to evaluate its right side too.
        context={"rcpt_domain": "example.org", "retry_num": 2, "sender_domain": "example.net"},
        hand=hand_logic,
        simple_source=(
            "rcpt_domain == 'example.org' and retry_num > 3 or sender_domain == 'example.net'"),
    ),
    Case(
        id="c_string_functions",
        description="string functions (trim, email_part, to_lowercase) and concatenation",
        source="to_lowercase(email_part(trim(sender), 'local')) + '@' + email_part(rcpt, 'domain')",
        context={"sender": "  Postmaster@Mail.Example.NET ", "rcpt": "tls-reports@example.org"},
        hand=hand_string_functions,
        simple_source=(
            "to_lowercase(email_part(trim(sender), 'local')) + '@' + email_part(rcpt, 'domain')"),
        simple_functions={"to_lowercase": str.lower, "trim": str.strip,
                          "email_part": _email_part},
    ),
    Case(
        id="d_regex_capture",
        description="regex with captures, then use of $2",
        source="if_then(matches('^([^@]+)@(.+)$', rcpt), $2, 'none')",
        context={"rcpt": "tls-reports@example.org"},
        hand=hand_regex,
        simple_source="group(matches('^([^@]+)@(.+)$', rcpt), 2, 'none')",
        simple_functions={"matches": _matches, "group": _group},
    ),
    Case(
        id="e_arithmetic",
        description="integer and float arithmetic",
        source="(retry_num * 2 + 1) / 3 - expires_in",
        context={"retry_num": 2, "expires_in": 432000},
        hand=hand_arithmetic,
        simple_source="(retry_num * 2 + 1) / 3 - expires_in",
    ),
    Case(
        id="f_array_membership",
        description="array literal membership and indexing",
        source=("contains(['example.org', 'example.net', 'example.com'], rcpt_domain) "
                "&& recipients[0] != ''"),
        context={"rcpt_domain": "example.net",
                 "recipients": ["tls-reports@example.net", "postmaster@example.net"]},
        hand=hand_membership,
        simple_source=("rcpt_domain in ['example.org', 'example.net', 'example.com'] "
                       "and recipients[0] != ''"),
        simple_class=EvalWithCompoundTypes,
    ),
    Case(
        id="g_suffix_count",
        description="ends_with and count of an array variable",
        source="ends_with(rcpt_domain, '.org') && count(recipients) > 1",
        context={"rcpt_domain": "example.org",
                 "recipients": ["tls-reports@example.org", "postmaster@example.org"]},
        hand=hand_suffix_count,
        simple_source="ends_with(rcpt_domain, '.org') and count(recipients) > 1",
        simple_functions={"ends_with": str.endswith, "count": len},
    ),
)

CASE_IDS = tuple(case.id for case in CASES)
