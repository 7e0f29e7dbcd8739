"""The pluggable backends of the service functions (spec 7.8).

Stalwart's service functions talk to its directory, its in-memory (lookup) store, its DNS
resolver and its SQL stores. Here each of those is a small protocol; a `Services` bundle hands
whichever of them a caller has to the evaluator. A function whose provider is missing fails
with an `EvalError`, as it would fail in Stalwart without the backend; so does any exception a
provider raises (the functions in `engine.expr._service_functions` wrap it).

`InMemoryServices` implements all four from plain Python data, for tests, the conformance
harness and dry runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeAlias, Union, runtime_checkable

from engine.domains import DomainError, normalise_domain

#: What a key-value store may hold for a key: text, raw bytes or a number.
StoredValue: TypeAlias = Union[str, bytes, int, float]
#: A bound SQL parameter: Strings as text, Integers and Floats as numbers.
SqlParam: TypeAlias = Union[str, int, float]
#: A SELECT gives rows; any other statement the number of rows it changed.
SqlResult: TypeAlias = Union[list[tuple[object, ...]], int]


@runtime_checkable
class Directory(Protocol):
    """A directory: `directory` is the id given in the expression (`''` = the default one)."""

    def is_local_domain(self, directory: str, domain: str) -> bool: ...

    def is_local_address(self, directory: str, address: str) -> bool: ...


@runtime_checkable
class KeyValueStore(Protocol):
    """Stalwart's in-memory (lookup) store; `store` is the id given in the expression."""

    def get(self, store: str, key: str) -> StoredValue | None: ...

    def set(self, store: str, key: str, value: str) -> None: ...

    def counter_incr(self, store: str, key: str, amount: int) -> int: ...

    def counter_get(self, store: str, key: str) -> int: ...


@runtime_checkable
class DnsResolver(Protocol):
    """`rtype` is lower-case: ip, mx, txt, ptr, ipv4 or ipv6.

    ip: IPv4 addresses, or the IPv6 ones when there is no IPv4 address (Stalwart's
    Ipv4thenIpv6 strategy); mx: exchange names in record order; txt: the raw TXT text; ptr:
    `name` is an IP address text, the answer its names. Raise (LookupError or anything else)
    when the lookup fails or finds no record.
    """

    def lookup(self, name: str, rtype: str) -> list[str] | str: ...


@runtime_checkable
class SqlStore(Protocol):
    """Run `sql` with positional `params` on the store `store` (`''` = the default one)."""

    def query(self, store: str, sql: str, params: list[SqlParam]) -> SqlResult: ...


@dataclass(frozen=True, slots=True)
class Services:
    """The providers an evaluation may use; a None field makes its functions fail."""

    directory: Directory | None = None
    store: KeyValueStore | None = None
    dns: DnsResolver | None = None
    sql: SqlStore | None = None


def _fold(name: str) -> str:
    # Domain names and mailbox addresses are compared ignoring ASCII case; DNS names also
    # ignoring one trailing dot (the root label).
    return name.lower()


def _dns_name(name: str) -> str:
    # A resolver looks names up as A-labels (UTS 46, as dnspython does): `faß.de` and
    # `XN--FA-HIA.de.` are one name. A text that is no domain name (a test's odd key) is only
    # folded, so that it still finds its own answer.
    try:
        return normalise_domain(name)
    except DomainError:
        name = _fold(name)
        return name[:-1] if name.endswith(".") and len(name) > 1 else name


class InMemoryServices:
    """All four providers over Python data.

    There is one directory, one key-value store and one SQL store: every id, `''` and unknown
    ones included, reaches them, just as Stalwart falls back on the default store or directory
    for an unknown id. Domains and addresses match ignoring ASCII case; DNS names match as
    A-labels (`faß.de` is `xn--fa-hia.de`, engine.domains).

    - `local_domains`, `local_addresses`: what the directory knows.
    - `keys`: the key-value store's initial content (text, bytes, int or float values).
    - `counters`: initial counter values (a counter that was never set is 0).
    - `dns`: answers by (name, record type), the type lower-case: a list of strings, or one
      string for `txt`. A name without an answer fails the lookup, as NXDOMAIN would. For `ip`
      without an explicit answer, the `ipv4` answers are used, else the `ipv6` ones.
    - `sql`: a sqlite3 connection (statements run on it; rows come back as tuples; any other
      statement gives its change count), or a mapping from the exact query text to its rows
      (a list of tuples) or to an affected-row count; parameters are then ignored.
    """

    def __init__(
        self,
        *,
        local_domains: Iterable[str] = (),
        local_addresses: Iterable[str] = (),
        keys: Mapping[str, StoredValue] | None = None,
        counters: Mapping[str, int] | None = None,
        dns: Mapping[tuple[str, str], list[str] | str] | None = None,
        sql: sqlite3.Connection | Mapping[str, SqlResult] | None = None,
    ) -> None:
        self.local_domains: set[str] = {_fold(domain) for domain in local_domains}
        self.local_addresses: set[str] = {_fold(address) for address in local_addresses}
        self.keys: dict[str, StoredValue] = dict(keys or {})
        self.counters: dict[str, int] = dict(counters or {})
        self.dns: dict[tuple[str, str], list[str] | str] = {
            (_dns_name(name), rtype.lower()): answer
            for (name, rtype), answer in (dns or {}).items()
        }
        self.sql = sql
        #: Every call made, as (method, arguments), so tests can check what was (not) asked.
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def services(self) -> Services:
        return Services(directory=self, store=self, dns=self, sql=self)

    # Directory
    def is_local_domain(self, directory: str, domain: str) -> bool:
        self.calls.append(("is_local_domain", (directory, domain)))
        return _fold(domain) in self.local_domains

    def is_local_address(self, directory: str, address: str) -> bool:
        self.calls.append(("is_local_address", (directory, address)))
        return _fold(address) in self.local_addresses

    # KeyValueStore
    def get(self, store: str, key: str) -> StoredValue | None:
        self.calls.append(("get", (store, key)))
        return self.keys.get(key)

    def set(self, store: str, key: str, value: str) -> None:
        self.calls.append(("set", (store, key, value)))
        self.keys[key] = value

    def counter_incr(self, store: str, key: str, amount: int) -> int:
        self.calls.append(("counter_incr", (store, key, amount)))
        value = self.counters.get(key, 0) + amount
        self.counters[key] = value
        return value

    def counter_get(self, store: str, key: str) -> int:
        self.calls.append(("counter_get", (store, key)))
        return self.counters.get(key, 0)

    # DnsResolver
    def lookup(self, name: str, rtype: str) -> list[str] | str:
        self.calls.append(("lookup", (name, rtype)))
        folded = _dns_name(name)
        answer = self.dns.get((folded, rtype))
        if answer is None and rtype == "ip":
            answer = self.dns.get((folded, "ipv4")) or self.dns.get((folded, "ipv6"))
        if not answer:
            raise LookupError(f"no {rtype.upper()} record for {name!r}")
        return list(answer) if isinstance(answer, list) else answer

    # SqlStore
    def query(self, store: str, sql: str, params: list[SqlParam]) -> SqlResult:
        self.calls.append(("query", (store, sql, list(params))))
        if self.sql is None:
            raise LookupError("no SQL data configured")
        if isinstance(self.sql, sqlite3.Connection):
            cursor = self.sql.execute(sql, params)
            if cursor.description is not None:
                return [tuple(row) for row in cursor.fetchall()]
            self.sql.commit()
            return max(cursor.rowcount, 0)  # sqlite reports -1 for statements without a count
        if sql not in self.sql:
            raise LookupError(f"no result configured for query {sql!r}")
        result = self.sql[sql]
        return result if isinstance(result, int) else [tuple(row) for row in result]
