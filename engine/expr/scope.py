"""Which names an expression may use: the variables and named constants of a setting.

Stalwart compiles every setting with a fixed list of variables (spec/expressions.md 10.2) and,
for some settings, named constants (10.3). A name outside the list is a compile error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

#: Stalwart's VARIABLES_MAP (10.1), in id order.
STALWART_VARIABLES: Final = (
    "rcpt", "rcpt_domain", "sender", "sender_domain", "mx", "helo_domain", "authenticated_as",
    "listener", "remote_ip", "remote_port", "local_ip", "local_port", "priority", "protocol",
    "is_tls", "recipients", "retry_num", "notify_num", "expires_in", "last_status", "last_error",
    "url", "url_path", "headers", "method", "asn", "country",
)

#: "All variables", used by Stalwart to compile built-in defaults (10.2).
ALL_VARIABLES: Final = tuple(
    name for name in STALWART_VARIABLES
    if name not in {"recipients", "url", "url_path", "headers", "method"}
)

RCPT_DOMAIN_VARS: Final = ("rcpt_domain",)

SMTP_QUEUE_HOST_VARS: Final = (
    "sender", "sender_domain", "rcpt_domain", "rcpt", "recipients", "mx", "priority",
    "remote_ip", "local_ip", "retry_num", "notify_num", "expires_in", "last_status", "last_error",
)

#: AggregateFrequency constants (10.3), as used by `report.tls.aggregate.send`.
FREQUENCY_CONSTANTS: Final[Mapping[str, int]] = MappingProxyType({
    "never": 0, "disable": 0, "false": 0,
    "hourly": 2, "hour": 2,
    "daily": 3, "day": 3,
    "weekly": 4, "week": 4,
})


@dataclass(frozen=True, slots=True)
class Scope:
    """The names an expression may use: variables, and constants with their Integer values."""

    variables: frozenset[str] = frozenset()
    #: the constants as sorted (name, value) pairs: hashable, so scopes can key caches
    constant_items: tuple[tuple[str, int], ...] = ()
    constants: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}),
                                         compare=False, hash=False)

    @classmethod
    def of(cls, variables: Iterable[str] = (), constants: Mapping[str, int] | None = None) -> Scope:
        items = tuple(sorted((constants or {}).items()))
        return cls(frozenset(variables), items, MappingProxyType(dict(items)))

    def knows(self, name: str) -> bool:
        return name in self.variables or name in self.constants

    def names(self) -> list[str]:
        return sorted(self.variables | set(self.constants))
