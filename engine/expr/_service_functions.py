"""The service functions of spec 7.8, over the providers of `engine.expr.services`.

Each implementation takes the `Services` of the evaluation (or None) first, then the evaluated
arguments. The argument checks Stalwart makes before it contacts any backend (an empty SQL
query, a PTR lookup of a non-address, an unknown DNS record type) come first, so they behave the
same whether or not a provider is configured. Then a missing provider, or any exception from
one, is an `EvalError` naming the function; a provider's exception is chained as the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeVar

from engine.errors import EvalError
from engine.expr._ip import parse_ip
from engine.expr._text_functions import ascii_lower
from engine.expr.values import Value, integer_view, saturate, text

if TYPE_CHECKING:
    from engine.expr.services import DnsResolver, Directory, KeyValueStore, Services, SqlStore

_T = TypeVar("_T")

_DIRECTORY: Final = "a directory provider (Services.directory)"
_STORE: Final = "an in-memory store provider (Services.store)"
_DNS: Final = "a DNS resolver provider (Services.dns)"
_SQL: Final = "an SQL store provider (Services.sql)"
_LIST_TYPES: Final = ("ip", "mx", "ptr", "ipv4", "ipv6")


def _missing(function: str, what: str) -> EvalError:
    return EvalError(f"function '{function}' needs {what}; none is configured")


def _directory(services: Services | None, function: str) -> Directory:
    if services is None or services.directory is None:
        raise _missing(function, _DIRECTORY)
    return services.directory


def _store(services: Services | None, function: str) -> KeyValueStore:
    if services is None or services.store is None:
        raise _missing(function, _STORE)
    return services.store


def _dns(services: Services | None, function: str) -> DnsResolver:
    if services is None or services.dns is None:
        raise _missing(function, _DNS)
    return services.dns


def _sql(services: Services | None, function: str) -> SqlStore:
    if services is None or services.sql is None:
        raise _missing(function, _SQL)
    return services.sql


def _call(function: str, call: Callable[[], _T]) -> _T:
    """Run a provider call; whatever it raises becomes an EvalError naming the function."""
    try:
        return call()
    except Exception as err:  # a backend failure of any kind is an evaluation error (11.1)
        raise EvalError(f"function '{function}' failed: {type(err).__name__}: {err}") from err


def _bad_result(function: str, detail: str) -> EvalError:
    return EvalError(f"function '{function}' failed: the provider returned {detail}")


def _flag(function: str, result: object) -> int:
    if isinstance(result, (bool, int)):
        return 1 if result else 0
    raise _bad_result(function, f"{type(result).__name__} where a boolean was expected")


def _integer(function: str, result: object) -> int:
    if isinstance(result, bool) or not isinstance(result, int):
        raise _bad_result(function, f"{type(result).__name__} where an integer was expected")
    return saturate(int(result))


# --- directory -------------------------------------------------------------------------------

def is_local_domain(services: Services | None, directory: Value, domain: Value) -> Value:
    provider = _directory(services, "is_local_domain")
    directory_id, name = text(directory), text(domain)
    return _flag("is_local_domain",
                 _call("is_local_domain", lambda: provider.is_local_domain(directory_id, name)))


def is_local_address(services: Services | None, directory: Value, address: Value) -> Value:
    provider = _directory(services, "is_local_address")
    directory_id, name = text(directory), text(address)
    return _flag("is_local_address",
                 _call("is_local_address", lambda: provider.is_local_address(directory_id, name)))


# --- in-memory store -------------------------------------------------------------------------

def _stored_value(function: str, stored: object) -> Value:
    """A stored value as a Value: text as String, bytes decoded leniently, numbers as numbers."""
    if stored is None:
        return ""  # a missing key
    if isinstance(stored, str):
        return str(stored)
    if isinstance(stored, (bytes, bytearray, memoryview)):
        return bytes(stored).decode("utf-8", "replace")
    if isinstance(stored, bool):
        return 1 if stored else 0
    if isinstance(stored, int):
        return saturate(int(stored))
    if isinstance(stored, float):
        return float(stored)
    raise _bad_result(function, f"a value of type {type(stored).__name__}")


def key_get(services: Services | None, store: Value, key: Value) -> Value:
    provider = _store(services, "key_get")
    store_id, name = text(store), text(key)
    return _stored_value("key_get", _call("key_get", lambda: provider.get(store_id, name)))


def key_exists(services: Services | None, store: Value, key: Value) -> Value:
    provider = _store(services, "key_exists")
    store_id, name = text(store), text(key)
    return 0 if _call("key_exists", lambda: provider.get(store_id, name)) is None else 1


def key_set(services: Services | None, store: Value, key: Value, value: Value) -> Value:
    provider = _store(services, "key_set")
    store_id, name, stored = text(store), text(key), text(value)
    _call("key_set", lambda: provider.set(store_id, name, stored))
    return 1


def counter_incr(services: Services | None, store: Value, key: Value, amount: Value) -> Value:
    provider = _store(services, "counter_incr")
    store_id, name = text(store), text(key)
    step = integer_view(amount)
    step = 0 if step is None else step
    return _integer("counter_incr",
                    _call("counter_incr", lambda: provider.counter_incr(store_id, name, step)))


def counter_get(services: Services | None, store: Value, key: Value) -> Value:
    provider = _store(services, "counter_get")
    store_id, name = text(store), text(key)
    return _integer("counter_get",
                    _call("counter_get", lambda: provider.counter_get(store_id, name)))


# --- DNS -------------------------------------------------------------------------------------

def dns_query(services: Services | None, name: Value, record_type: Value) -> Value:
    entry = text(name)
    rtype = ascii_lower(text(record_type))
    if rtype not in _LIST_TYPES and rtype != "txt":
        return ""  # an unknown type: no lookup at all, so no provider is needed either
    if rtype == "ptr" and parse_ip(entry) is None:
        raise EvalError(f"function 'dns_query': a PTR lookup needs an IP address, not {entry!r}")
    provider = _dns(services, "dns_query")
    answer: object = _call("dns_query", lambda: provider.lookup(entry, rtype))
    if rtype == "txt":
        return _txt_text(answer)
    items = [answer] if isinstance(answer, str) else answer
    if not isinstance(items, (list, tuple)):
        raise _bad_result("dns_query", f"{type(answer).__name__} for a {rtype} lookup")
    if not items:
        # A resolver reports "no records" as an error; a provider that answers [] means the same.
        raise EvalError(f"function 'dns_query' failed: no {rtype} record for {entry!r}")
    names = [str(item) for item in items]
    if rtype == "mx":
        names = [host[:-1] if host.endswith(".") else host for host in names]  # one dot only
    result: list[Value] = list(names)
    return result


def _txt_text(answer: object) -> Value:
    """The raw TXT data as one String: the record's strings concatenated, `''` if not UTF-8."""
    pieces = answer if isinstance(answer, (list, tuple)) else [answer]
    raw = b"".join(bytes(piece) if isinstance(piece, (bytes, bytearray)) else
                   str(piece).encode("utf-8", "surrogatepass") for piece in pieces)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""


# --- SQL -------------------------------------------------------------------------------------

def _sql_param(value: Value) -> str | int | float:
    # Strings as text, numbers as numbers, a nested array as its text().
    if value.__class__ is str or value.__class__ is int or value.__class__ is float:
        return value
    return text(value)


def _sql_value(value: object) -> Value:
    if value is None:
        return ""  # NULL
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return saturate(int(value))
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")  # a blob, decoded leniently
    # Types Stalwart's stores never hand back (Decimal, dates from a custom provider): as text.
    return str(value)


def _rows(result: object) -> list[tuple[object, ...]]:
    if isinstance(result, (str, bytes)) or not isinstance(result, (list, tuple)):
        raise _bad_result("sql_query", f"{type(result).__name__} for a SELECT instead of rows")
    rows: list[tuple[object, ...]] = []
    for row in result:
        if isinstance(row, (str, bytes)):
            raise _bad_result("sql_query", "a row that is not a sequence of columns")
        try:
            rows.append(tuple(row))
        except TypeError:
            raise _bad_result("sql_query", "a row that is not a sequence of columns") from None
    return rows


def sql_query(services: Services | None, store: Value, query: Value, params: Value) -> Value:
    store_id = text(store)
    sql = text(query)
    if not sql:
        raise EvalError("function 'sql_query' needs a query; the query is empty")
    provider = _sql(services, "sql_query")
    items = params if params.__class__ is list else [params]  # '' too is one parameter
    arguments = [_sql_param(item) for item in items]
    # SELECT is recognised by the first six bytes only, in any ASCII case.
    is_select = sql.encode("utf-8", "surrogatepass")[:6].lower() == b"select"
    result: object = _call("sql_query", lambda: provider.query(store_id, sql, arguments))
    if not is_select:
        return _integer("sql_query", result)
    rows = _rows(result)
    if not rows:
        return ""
    if len(rows) > 1:
        return [[_sql_value(column) for column in row] for row in rows]
    row = rows[0]
    if len(row) == 1 and row[0] is not None:
        return _sql_value(row[0])
    if not row:
        return ""
    return [_sql_value(column) for column in row]  # one NULL column too gives ['']

