"""The service functions of spec 7.8 over InMemoryServices, and their error paths."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from engine.errors import EvalError
from engine.expr.functions import FUNCTIONS
from engine.expr.services import (
    Directory,
    DnsResolver,
    InMemoryServices,
    KeyValueStore,
    Services,
    SqlStore,
)

SERVICE_NAMES = ["is_local_domain", "is_local_address", "key_get", "key_exists", "key_set",
                 "counter_incr", "counter_get", "dns_query", "sql_query"]


def call(services: Services | None, name: str, *args: Any) -> Any:
    function = FUNCTIONS[name]
    assert not function.pure and function.arity == len(args)
    return function.implementation(services, *args)


def typed(value: Any) -> tuple[type, Any]:
    return type(value), value


@pytest.fixture
def memory() -> InMemoryServices:
    return InMemoryServices(
        local_domains=["example.com", "Example.ORG"],
        local_addresses=["john@example.com"],
        keys={"text": "hello", "raw": b"caf\xc3\xa9 \xff", "int": 5, "float": 1.5, "5": "five",
              "flag": True, "empty": ""},
        counters={"hits": 10},
        dns={
            ("example.com", "ipv4"): ["192.0.2.1", "192.0.2.2"],
            ("example.com", "ipv6"): ["2001:db8::1"],
            ("v6only.example", "ipv6"): ["2001:db8::2"],
            ("explicit.example", "ip"): ["198.51.100.7"],
            ("example.com", "mx"): ["mx2.example.com.", "mx1.example.com", "mx3.example.com.."],
            ("example.com", "txt"): "v=spf1 -all",
            ("192.0.2.1", "ptr"): ["host.example.com."],
            ("::1", "ptr"): ["localhost."],
        },
    )


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c REAL, d BLOB, e)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [
        (1, "x", 1.5, b"\xff\xfe", None),
        (2, "y", 2.5, b"ok", None),
        (3, "z", None, None, None),
    ])
    conn.commit()
    yield conn
    conn.close()


# --- directory and key-value store ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "args", "expected"), [
    ("is_local_domain", ("", "example.com"), 1),
    ("is_local_domain", ("unknown-directory", "EXAMPLE.com"), 1),
    ("is_local_domain", ("", "example.org"), 1),
    ("is_local_domain", ("", "other.net"), 0),
    ("is_local_domain", ("", ["example.com"]), 1),
    ("is_local_address", ("", "john@example.com"), 1),
    ("is_local_address", ("", "jane@example.com"), 0),
    ("key_get", ("", "text"), "hello"),
    ("key_get", ("any-store", "raw"), "café \ufffd"),
    ("key_get", ("", "int"), 5),
    ("key_get", ("", "float"), 1.5),
    ("key_get", ("", "flag"), 1),
    ("key_get", ("", 5), "five"),
    ("key_get", ("", "missing"), ""),
    ("key_get", ("", "empty"), ""),
    ("key_exists", ("", "text"), 1),
    ("key_exists", ("", "empty"), 1),
    ("key_exists", ("", "missing"), 0),
    ("counter_get", ("", "hits"), 10),
    ("counter_get", ("", "never"), 0),
])
def test_directory_and_store(memory: InMemoryServices, name: str, args: tuple[Any, ...],
                             expected: Any) -> None:
    assert typed(call(memory.services(), name, *args)) == typed(expected)


def test_key_set_stores_text(memory: InMemoryServices) -> None:
    services = memory.services()
    assert typed(call(services, "key_set", "", "k", 5)) == typed(1)
    assert typed(call(services, "key_get", "", "k")) == typed("5")
    assert call(services, "key_set", "", "list", [1, "a"]) == 1
    assert memory.keys["list"] == "1\r\na"
    assert call(services, "key_set", "", 1.0, 2.5) == 1
    assert memory.keys["1.0"] == "2.5"


@pytest.mark.parametrize(("amount", "step"), [(3, 3), ("2", 2), ("x", 0), (1.9, 1), ("", 0),
                                              ([], 0), (-4, -4), ("+7", 7)])
def test_counter_incr(memory: InMemoryServices, amount: Any, step: int) -> None:
    services = memory.services()
    assert typed(call(services, "counter_incr", "", "hits", amount)) == typed(10 + step)
    assert call(services, "counter_get", "", "hits") == 10 + step
    assert memory.calls[-2] == ("counter_incr", ("", "hits", step))


# --- DNS -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "rtype", "expected"), [
    ("example.com", "ip", ["192.0.2.1", "192.0.2.2"]),
    ("v6only.example", "IP", ["2001:db8::2"]),
    ("explicit.example", "Ip", ["198.51.100.7"]),
    ("example.com", "MX", ["mx2.example.com", "mx1.example.com", "mx3.example.com."]),
    ("example.com", "txt", "v=spf1 -all"),
    ("EXAMPLE.COM.", "TXT", "v=spf1 -all"),
    ("192.0.2.1", "ptr", ["host.example.com."]),
    ("::1", "PTR", ["localhost."]),
    ("example.com", "ipv4", ["192.0.2.1", "192.0.2.2"]),
    ("example.com", "IPv6", ["2001:db8::1"]),
])
def test_dns_query(memory: InMemoryServices, name: str, rtype: str, expected: Any) -> None:
    assert typed(call(memory.services(), "dns_query", name, rtype)) == typed(expected)


@pytest.mark.parametrize("rtype", ["aaaa", "a", "", "spf", "İP", "ip ", ["i", "p"], 4, "cname"])
def test_dns_query_unknown_type_gives_empty_without_lookup(memory: InMemoryServices,
                                                           rtype: Any) -> None:
    assert call(memory.services(), "dns_query", "example.com", rtype) == ""
    assert memory.calls == []
    assert call(None, "dns_query", "example.com", rtype) == ""  # no provider needed either


@pytest.mark.parametrize("name", ["example.com", "", "1.2.3", "fe80::1%eth0", "[::1]", "01.2.3.4"])
def test_dns_query_ptr_of_a_non_address_fails_before_lookup(memory: InMemoryServices,
                                                           name: str) -> None:
    with pytest.raises(EvalError, match="PTR"):
        call(memory.services(), "dns_query", name, "ptr")
    assert memory.calls == []
    with pytest.raises(EvalError, match="PTR"):
        call(None, "dns_query", name, "PTR")


@pytest.mark.parametrize("rtype", ["ip", "mx", "txt", "ipv4", "ipv6"])
def test_dns_query_failed_lookup_is_an_error(memory: InMemoryServices, rtype: str) -> None:
    with pytest.raises(EvalError, match="dns_query") as caught:
        call(memory.services(), "dns_query", "nowhere.example", rtype)
    assert isinstance(caught.value.__cause__, LookupError)


class _Resolver:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def lookup(self, name: str, rtype: str) -> Any:
        return self.answer


@pytest.mark.parametrize(("answer", "rtype", "expected"), [
    (b"v=spf1", "txt", "v=spf1"),
    (b"\xff\xfe", "txt", ""),  # raw TXT data that is not UTF-8
    (["v=spf1 ", "-all"], "txt", "v=spf1 -all"),
    ([b"v=spf1 ", "-all"], "txt", "v=spf1 -all"),
    ([b"\xc3", b"\xa9"], "txt", "é"),  # one UTF-8 character split across two strings
    ("192.0.2.9", "ip", ["192.0.2.9"]),
    (("a.example.",), "mx", ["a.example"]),
])
def test_dns_query_answer_shapes(answer: Any, rtype: str, expected: Any) -> None:
    assert call(Services(dns=_Resolver(answer)), "dns_query", "x.example", rtype) == expected


def test_dns_query_empty_answer_is_an_error() -> None:
    with pytest.raises(EvalError, match="no mx record"):
        call(Services(dns=_Resolver([])), "dns_query", "x.example", "mx")
    with pytest.raises(EvalError, match="dns_query"):
        call(Services(dns=_Resolver(42)), "dns_query", "x.example", "ip")


# --- SQL -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "params", "expected"), [
    ("SELECT a FROM t WHERE a = ?", 1, 1),
    ("select b from t where a = ?", [1], "x"),
    ("SeLeCt c FROM t WHERE b = ?", "y", 2.5),
    ("SELECT d FROM t WHERE a = ?", [1], "\ufffd\ufffd"),
    ("SELECT a, b, c FROM t WHERE a = ?", [1], [1, "x", 1.5]),
    ("SELECT a, c FROM t WHERE a = ?", [3], [3, ""]),
    ("SELECT e FROM t WHERE a = ?", [1], [""]),  # one NULL column: an Array, not ''
    ("SELECT a FROM t WHERE a > ?", [5], ""),
    ("SELECT a FROM t WHERE a < ? ORDER BY a", [3], [[1], [2]]),
    ("SELECT a, b FROM t ORDER BY a", [], [[1, "x"], [2, "y"], [3, "z"]]),
    ("SELECT ? || ?", ["a", [1, 2]], "a1\r\n2"),
    ("SELECT typeof(?), typeof(?), typeof(?)", [1, 1.5, "1"], ["integer", "real", "text"]),
    ("SELECT 9223372036854775807", [], 9223372036854775807),
])
def test_sql_select(connection: sqlite3.Connection, query: str, params: Any,
                    expected: Any) -> None:
    services = InMemoryServices(sql=connection).services()
    assert typed(call(services, "sql_query", "", query, params)) == typed(expected)


def test_sql_other_statements_return_affected_rows(connection: sqlite3.Connection) -> None:
    memory = InMemoryServices(sql=connection)
    services = memory.services()
    assert typed(call(services, "sql_query", "", "INSERT INTO t (a) VALUES (?)", 7)) == typed(1)
    assert call(services, "sql_query", "", "UPDATE t SET b = ? WHERE a < 3", "w") == 2
    assert call(services, "sql_query", "", "DELETE FROM t WHERE a = ?", [99]) == 0
    assert call(services, "sql_query", "", "CREATE TABLE u (x)", []) == 0
    assert call(services, "sql_query", "", "SELECT count(*) FROM t WHERE b = 'w'", []) == 2


@pytest.mark.parametrize(("params", "sent"), [
    (["x", 2, 1.5, [1, 2], ""], ["x", 2, 1.5, "1\r\n2", ""]),
    ("", [""]),  # any non-array value is one parameter, '' included
    (5, [5]),
    (-0.5, [-0.5]),
    ([], []),
    ([[]], [""]),
])
def test_sql_parameters(params: Any, sent: list[Any]) -> None:
    memory = InMemoryServices(sql={"SELECT 1": [(1,)]})
    call(memory.services(), "sql_query", "store-id", "SELECT 1", params)
    assert memory.calls == [("query", ("store-id", "SELECT 1", sent))]
    sent_params: Any = memory.calls[0][1][2]
    assert [type(p) for p in sent_params] == [type(p) for p in sent]  # 1 stays an int, 1.5 a float


@pytest.mark.parametrize(("query", "result", "expected"), [
    ("SELECT x", [], ""),
    ("SELECT x", [()], ""),
    ("SELECT x", [(None,)], [""]),
    ("SELECT x", [(1, None)], [1, ""]),
    ("SELECT x", [(1,), (2,)], [[1], [2]]),
    ("SELECT x", [(True,)], 1),
    ("SELECT x", [(False, 2.0)], [0, 2.0]),
    ("SELECT x", [(b"ab",)], "ab"),
    ("SELECT x", [(bytearray(b"\xc3\xa9"),)], "é"),
    ("SELECT x", [[1, 2]], [1, 2]),
    ("select", [("s",)], "s"),  # exactly six bytes
    ("SELECTx", [("s",)], "s"),  # only the first six bytes count
    ("SELEC", 3, 3),
    (" SELECT x", 4, 4),  # a leading space: not a SELECT
    ("WITH q AS (SELECT 1) SELECT * FROM q", 0, 0),
    ("ſelect x", 1, 1),  # U+017F is not an ASCII 's'
])
def test_sql_result_shapes(query: str, result: Any, expected: Any) -> None:
    services = InMemoryServices(sql={query: result}).services()
    assert typed(call(services, "sql_query", "", query, [])) == typed(expected)


class _FixedSql:
    def __init__(self, result: Any) -> None:
        self.result = result

    def query(self, store: str, sql: str, params: list[Any]) -> Any:
        return self.result


@pytest.mark.parametrize(("query", "result"), [
    ("SELECT x", 5), ("SELECT x", "row"), ("SELECT x", [5]), ("SELECT x", ["ab"]),
    ("UPDATE x", [(1,)]), ("UPDATE x", True), ("UPDATE x", 1.0),
])
def test_sql_unexpected_provider_results(query: str, result: Any) -> None:
    with pytest.raises(EvalError, match="sql_query"):
        call(Services(sql=_FixedSql(result)), "sql_query", "", query, [])


@pytest.mark.parametrize("services_given", [True, False])
def test_sql_empty_query_fails_before_any_store(services_given: bool) -> None:
    memory = InMemoryServices(sql={"": [(1,)]})
    with pytest.raises(EvalError, match="sql_query.*empty"):
        call(memory.services() if services_given else None, "sql_query", "", "", [])
    with pytest.raises(EvalError, match="empty"):
        call(memory.services(), "sql_query", "", [], "x")  # text([]) is '' too
    assert memory.calls == []


def test_sql_failures_are_eval_errors(connection: sqlite3.Connection) -> None:
    services = InMemoryServices(sql=connection).services()
    with pytest.raises(EvalError, match="sql_query") as caught:
        call(services, "sql_query", "", "SELECT nope FROM nowhere", [])
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(EvalError, match="sql_query"):  # '' is one parameter: one too many
        call(services, "sql_query", "", "SELECT 1", "")
    with pytest.raises(EvalError, match="sql_query"):
        call(InMemoryServices().services(), "sql_query", "", "SELECT 1", [])


# --- missing and failing providers ---------------------------------------------------------------

_ARGS: dict[str, tuple[Any, ...]] = {
    "is_local_domain": ("", "example.com"), "is_local_address": ("", "a@example.com"),
    "key_get": ("", "k"), "key_exists": ("", "k"), "key_set": ("", "k", "v"),
    "counter_incr": ("", "k", 1), "counter_get": ("", "k"), "dns_query": ("example.com", "mx"),
    "sql_query": ("", "SELECT 1", []),
}
_PROVIDER_WORDS = {"is_local_domain": "directory", "is_local_address": "directory",
                   "key_get": "in-memory store", "key_exists": "in-memory store",
                   "key_set": "in-memory store", "counter_incr": "in-memory store",
                   "counter_get": "in-memory store", "dns_query": "DNS", "sql_query": "SQL"}


@pytest.mark.parametrize("name", SERVICE_NAMES)
@pytest.mark.parametrize("services", [None, Services()])
def test_missing_provider(name: str, services: Services | None) -> None:
    with pytest.raises(EvalError) as caught:
        call(services, name, *_ARGS[name])
    message = str(caught.value)
    assert f"'{name}'" in message and _PROVIDER_WORDS[name] in message
    assert "none is configured" in message


class _Broken:
    """Every provider method raises."""

    def __getattr__(self, attribute: str) -> Any:
        def fail(*args: Any) -> Any:
            raise RuntimeError(f"backend down in {attribute}")
        return fail


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_provider_exceptions_are_wrapped(name: str) -> None:
    broken = _Broken()
    services = Services(directory=broken, store=broken, dns=broken, sql=broken)
    with pytest.raises(EvalError) as caught:
        call(services, name, *_ARGS[name])
    assert f"'{name}'" in str(caught.value) and "backend down" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


class _Odd:
    """A provider whose answers have the wrong types."""

    def is_local_domain(self, directory: str, domain: str) -> Any:
        return "yes"

    def get(self, store: str, key: str) -> Any:
        return object()

    def counter_get(self, store: str, key: str) -> Any:
        return 1.5

    def counter_incr(self, store: str, key: str, amount: int) -> Any:
        return True


@pytest.mark.parametrize("name", ["is_local_domain", "key_get", "counter_get", "counter_incr"])
def test_provider_results_of_the_wrong_type(name: str) -> None:
    odd = _Odd()
    with pytest.raises(EvalError, match=name):
        call(Services(directory=odd, store=odd), name, *_ARGS[name])  # type: ignore[arg-type]


def test_in_memory_services_implements_the_protocols(memory: InMemoryServices) -> None:
    services = memory.services()
    assert services.directory is memory and services.store is memory
    assert services.dns is memory and services.sql is memory
    for protocol in (Directory, KeyValueStore, DnsResolver, SqlStore):
        assert isinstance(memory, protocol)
    with pytest.raises(AttributeError):
        services.dns = None  # type: ignore[misc]  # frozen


def test_services_pass_text_arguments(memory: InMemoryServices) -> None:
    services = memory.services()
    call(services, "is_local_domain", 7, ["a", "b"])
    call(services, "key_get", 1.0, -3)
    assert memory.calls == [("is_local_domain", ("7", "a\r\nb")), ("get", ("1.0", "-3"))]
