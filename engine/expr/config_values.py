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
    """The registrable domain of a host name under the public suffix list, as Stalwart's
    fallback computes it (`mx1.mail.example.org` -> `example.org`, `mx.example.co.uk` ->
    `example.co.uk`); the host name itself when it has none (`localhost`, `co.uk`)."""
    name = hostname.strip(".").lower()
    return _public_suffixes().privatesuffix(name) or name


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # publicsuffixlist carries its own copy of the list (no network); loading it takes about
    # 50 ms, paid once and only by configurations that set neither report.domain nor
    # lookup.default.domain
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


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
