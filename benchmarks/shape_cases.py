"""The expression shapes of issue-style speed work: each one compiled and hand-written.

Every shape is one typical Stalwart expression and the same logic written by hand in plain
Python, as a function of the same context dict (one call each: the compiled expression's
`evaluate` is the generated function itself). `test_shapes.py` times both in one run and
conftest.py prints their ratio and the geometric mean. `python` is the same logic as one
Python expression of about the same size, the reference of the cold-compile benchmark.

The if/elif block is timed through `Config.resolve` on its fall-through path (every rule
tested, the default returned), beside a hand-written function taking the same two arguments.
Folded constants are reported apart: their time is the call itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: the variables the shapes use (Stalwart's queue variables)
VARIABLES = ("rcpt", "rcpt_domain", "sender", "sender_domain", "retry_num", "is_tls",
             "is_authenticated", "recipients")

#: the implementation labels of this benchmark (conftest.py's summary reads them)
SHAPE_OURS = "shape-ours"
SHAPE_HAND = "shape-hand"
RESOLVE = "resolve"
BLOCK = "block"
FOLDED = "folded"


@dataclass(frozen=True)
class Shape:
    id: str
    source: str
    context: Mapping[str, Any]
    hand: Callable[[Mapping[str, Any]], Any]
    python: str  # the same logic as a Python expression (compile-time reference)


_TLS_RPT = re.compile(r"^tls-reports@")
_POLICY_DOMAINS = frozenset({"example.org", "example.net", "example.com"})


def _and_bare(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("is_tls", "") and not ctx.get("is_authenticated", "") else 0


def _or_mixed(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("retry_num", 0) > 3 or ctx.get("is_tls", "") else 0


def _compare_vars(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("rcpt_domain", "") != ctx.get("sender_domain", "") else 0


def _eq_literal(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("rcpt_domain", "") == "example.org" else 0


def _split_index(ctx: Mapping[str, Any]) -> str:
    parts = ctx.get("sender", "").split("@")
    return parts[1] if len(parts) > 1 else ""


def _arith_compare(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("retry_num", 0) * 2 + 1 > 5 else 0


def _matches(ctx: Mapping[str, Any]) -> int:
    return 1 if _TLS_RPT.search(ctx.get("rcpt", "")) else 0


def _text_functions(ctx: Mapping[str, Any]) -> str:
    return ctx.get("sender", "").strip().lower()


def _contains_array(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("rcpt_domain", "") in _POLICY_DOMAINS else 0


def _concat(ctx: Mapping[str, Any]) -> str:
    return "noreply-tls@" + ctx.get("rcpt_domain", "")


def _starts_count(ctx: Mapping[str, Any]) -> int:
    return 1 if ctx.get("rcpt", "").startswith("tls") and len(ctx.get("recipients", ())) > 1 \
        else 0


def _if_then(ctx: Mapping[str, Any]) -> str:
    return "tls" if ctx.get("is_tls", "") else "plain"


CONTEXT: Mapping[str, Any] = {
    "rcpt": "tls-reports@example.org", "rcpt_domain": "example.org",
    "sender": "  Postmaster@Mail.Example.NET ", "sender_domain": "mail.example.net",
    "retry_num": 2, "is_tls": True, "is_authenticated": False,
    "recipients": ["tls-reports@example.org", "postmaster@example.org"],
}

SHAPES: tuple[Shape, ...] = (
    Shape("and_bare_variables", "is_tls && !is_authenticated", CONTEXT, _and_bare,
          "is_tls and not is_authenticated"),
    Shape("or_comparison_variable", "retry_num > 3 || is_tls", CONTEXT, _or_mixed,
          "retry_num > 3 or is_tls"),
    Shape("compare_two_variables", "rcpt_domain != sender_domain", CONTEXT, _compare_vars,
          "rcpt_domain != sender_domain"),
    Shape("equal_literal", "rcpt_domain == 'example.org'", CONTEXT, _eq_literal,
          "rcpt_domain == 'example.org'"),
    Shape("split_index", "split(sender, '@')[1]", CONTEXT, _split_index,
          "sender.split('@')[1]"),
    Shape("arithmetic_compare", "retry_num * 2 + 1 > 5", CONTEXT, _arith_compare,
          "retry_num * 2 + 1 > 5"),
    Shape("matches", "matches('^tls-reports@', rcpt)", CONTEXT, _matches,
          "re.search('^tls-reports@', rcpt)"),
    Shape("text_functions", "to_lowercase(trim(sender))", CONTEXT, _text_functions,
          "sender.strip().lower()"),
    Shape("contains_array", "contains(['example.org', 'example.net', 'example.com'], "
          "rcpt_domain)", CONTEXT, _contains_array,
          "rcpt_domain in ['example.org', 'example.net', 'example.com']"),
    Shape("concat_variable", "'noreply-tls@' + rcpt_domain", CONTEXT, _concat,
          "'noreply-tls@' + rcpt_domain"),
    Shape("starts_with_and_count", "starts_with(rcpt, 'tls') && count(recipients) > 1",
          CONTEXT, _starts_count, "rcpt.startswith('tls') and len(recipients) > 1"),
    Shape("if_then_variable", "if_then(is_tls, 'tls', 'plain')", CONTEXT, _if_then,
          "'tls' if is_tls else 'plain'"),
)

#: folded constants: their compiled function returns a literal (reported apart)
FOLDED_SHAPES: tuple[tuple[str, str, Any], ...] = (
    ("folded_size", "25 * 1024 * 1024", 26214400),
    ("folded_text", "'noreply-tls@' + 'example.org'", "noreply-tls@example.org"),
)

# --- the if/elif block through Config.resolve ---------------------------------------------

BLOCK_KEY = "report.tls.aggregate.from-name"
BLOCK_DOMAINS = ("bigmail.example", "partner.example", "tiny.example", "shop.example",
                 "a.test", "mx.example.com")
BLOCK_CONFIG = "[report.tls.aggregate]\nfrom-name = [\n" + "".join(
    f"  {{ if = \"rcpt_domain == '{domain}'\", then = \"'Reports for {domain}'\" }},\n"
    for domain in BLOCK_DOMAINS) + "  { else = \"'TLS Aggregate Report'\" },\n]\n"
#: no rule matches: every condition is tested, then the default is returned
BLOCK_CONTEXT: Mapping[str, Any] = {"rcpt_domain": "example.org"}


def hand_block(key: str, ctx: Mapping[str, Any]) -> str:
    """The block above written by hand, taking the same two arguments as `resolve`."""
    domain = ctx.get("rcpt_domain", "")
    if domain == "bigmail.example":
        return "Reports for bigmail.example"
    if domain == "partner.example":
        return "Reports for partner.example"
    if domain == "tiny.example":
        return "Reports for tiny.example"
    if domain == "shop.example":
        return "Reports for shop.example"
    if domain == "a.test":
        return "Reports for a.test"
    if domain == "mx.example.com":
        return "Reports for mx.example.com"
    return "TLS Aggregate Report"
