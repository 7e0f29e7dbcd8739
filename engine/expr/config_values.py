"""What `config_get(key)` returns (spec/expressions.md section 9).

Three keys are derived when the configuration is loaded: `server.hostname`, `report.domain`
and `cluster.node-id`. Every other key reads the setting's text as written, `''` when unset.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.errors import EvalError
from engine.expr.values import Value, normalise, parse_int_text

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList


def server_hostname(config: Mapping[str, str]) -> str:
    """`server.hostname` as written, else `lookup.default.hostname` lower-cased, else the
    machine's host name lower-cased, else `localhost`.

    As in Stalwart, a key that is set is used even when it is empty: `server.hostname = ""`
    gives the host name `''` (lint warns, W410); only an absent key falls back."""
    written = config.get("server.hostname")
    if written is not None:
        return written
    fallback = config.get("lookup.default.hostname")
    if fallback is not None:
        return fallback.lower()
    machine = socket.gethostname()
    return machine.lower() if machine else "localhost"


def registrable_domain(hostname: str) -> str:
    """The registrable domain of a host name under the public suffix list, as Stalwart's
    fallback computes it (`mx1.mail.example.org` -> `example.org`, `mx.example.co.uk` ->
    `example.co.uk`); the host name itself when it has none (`localhost`, `co.uk`).

    Stalwart's lookup compares labels case-sensitively with the list's lower-case rules and
    keeps the case of the name: `MX1.Example.org` gives `Example.org`, and in `MX.EXAMPLE.ORG`
    no rule matches `ORG`, so the default rule (the last label is a public suffix) gives
    `EXAMPLE.ORG`. Lint warns about an upper-case host name reaching this fallback (W411).
    """
    name = hostname.strip(".")
    labels = name.split(".")
    # Only the trailing labels written in lower case can match a rule of the list.
    lower = 0
    while lower < len(labels) and labels[len(labels) - 1 - lower] == \
            labels[len(labels) - 1 - lower].lower():
        lower += 1
    if lower == 0:
        suffix_labels = 1  # the default rule `*`
    else:
        tail = ".".join(labels[len(labels) - lower:])
        suffix = _public_suffixes().publicsuffix(tail) or labels[-1]
        suffix_labels = suffix.count(".") + 1
    if len(labels) <= suffix_labels or not all(labels):
        return name
    return ".".join(labels[len(labels) - suffix_labels - 1:])


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # publicsuffixlist carries its own copy of the list (no network); loading it takes about
    # 50 ms, paid once and only by configurations that set neither report.domain nor
    # lookup.default.domain
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def report_domain(config: Mapping[str, str]) -> str:
    """`report.domain` lower-cased, else `lookup.default.domain` lower-cased, else the
    registrable domain of the host name, not lower-cased (Stalwart's order; a key that is set
    is used even when empty)."""
    for key in ("report.domain", "lookup.default.domain"):
        written = config.get(key)
        if written is not None:
            return written.lower()
    return registrable_domain(server_hostname(config))


def node_id(config: Mapping[str, str]) -> int:
    parsed = parse_int_text(config.get("cluster.node-id", "") or "")
    return 1 if parsed is None else parsed


def config_value(config: Mapping[str, str] | None, key: str) -> Value:
    """The value `config_get(key)` sees in `config` (a map of flat keys to their text)."""
    config = config or {}
    if key == "server.hostname":
        return server_hostname(config)
    if key == "report.domain":
        return report_domain(config)
    if key == "cluster.node-id":
        return node_id(config)
    value = config.get(key, "")
    if type(value) is str:
        return value
    try:  # callers should give texts; anything else must still be one of the four kinds
        return normalise(value)
    except TypeError as err:
        raise EvalError(f"config_get('{key}'): {err}") from None
