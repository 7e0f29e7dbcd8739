"""What `config_get(key)` returns (spec/expressions.md section 9).

Three keys are derived when the configuration is loaded: `server.hostname`, `report.domain`
and `cluster.node-id`. Every other key reads the setting's text as written, `''` when unset.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from engine.errors import EvalError
from engine.expr.values import Value, normalise, parse_int_text


def server_hostname(config: Mapping[str, str]) -> str:
    """`server.hostname` as written, else `lookup.default.hostname` lower-cased, else the
    machine's host name lower-cased, else `localhost`."""
    written = config.get("server.hostname")
    if written:
        return written
    fallback = config.get("lookup.default.hostname")
    if fallback:
        return fallback.lower()
    machine = socket.gethostname()
    return machine.lower() if machine else "localhost"


def registrable_domain(hostname: str) -> str:
    """The domain a host name belongs to: the name without its first label when it has three
    labels or more (`mx.example.org` -> `example.org`).

    Stalwart consults the public suffix list here; without it, a host under a two-label public
    suffix (`mx.example.co.uk`) gives `example.co.uk` only when it has four labels. Operators
    with such names set `report.domain` explicitly (lint reminds them).
    """
    labels = hostname.strip(".").split(".")
    return ".".join(labels[1:]) if len(labels) >= 3 else hostname


def report_domain(config: Mapping[str, str]) -> str:
    """`report.domain` lower-cased, else `lookup.default.domain` lower-cased, else the domain of
    the host name."""
    for key in ("report.domain", "lookup.default.domain"):
        written = config.get(key)
        if written:
            return written.lower()
    return registrable_domain(server_hostname(config)).lower()


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
