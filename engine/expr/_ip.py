"""IP address text syntax as Rust's `std::net` parser accepts it (spec 7.5), read with the
standard `ipaddress` module.

On `str` input, `ipaddress` (Python 3.9.5 and later; this project needs 3.11) accepts the same
texts as Rust: IPv4 as exactly four decimal octets of at most three digits without leading
zeros, IPv6 as at most eight hex groups of at most four digits with one `::` and an optional
dotted IPv4 tail. The one difference is the scope zone: `ipaddress` reads `fe80::1%eth0`,
Rust refuses any `%`, so such texts are refused here before `ipaddress` sees them.
tests/expr/test_ip.py checks the two against a transcription of Rust's parser.
"""

from __future__ import annotations

import ipaddress
from typing import Final

#: the longest address text: eight four-digit groups ending in a dotted IPv4 tail
_MAX_TEXT: Final = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")


def parse_ipv4(text: str) -> list[int] | None:
    """The four octets of an IPv4 address text, or None."""
    if len(text) > _MAX_TEXT:  # ipaddress splits the whole text first: keep that bounded
        return None
    try:
        return list(ipaddress.IPv4Address(text).packed)
    except ValueError:
        return None


def parse_ipv6(text: str) -> list[int] | None:
    """The eight 16-bit groups of an IPv6 address text, or None."""
    if "%" in text or len(text) > _MAX_TEXT:  # Rust has no scope zones (`fe80::1%eth0`)
        return None
    try:
        packed = ipaddress.IPv6Address(text).packed
    except ValueError:
        return None
    return [packed[index] << 8 | packed[index + 1] for index in range(0, 16, 2)]


def parse_ip(text: str) -> tuple[int, list[int]] | None:
    """(4, octets) or (6, groups) for an address text (IPv4 tried first, as `IpAddr` does)."""
    octets = parse_ipv4(text)
    if octets is not None:
        return 4, octets
    groups = parse_ipv6(text)
    return None if groups is None else (6, groups)


def reverse_name(text: str) -> str:
    """mail-auth's `to_reverse_name`, without the `in-addr.arpa` / `ip6.arpa` suffix; `''` if
    the text is not an address."""
    parsed = parse_ip(text)
    if parsed is None:
        return ""
    family, parts = parsed
    if family == 4:
        return ".".join(str(octet) for octet in reversed(parts))
    nibbles = "".join(f"{group:04x}" for group in parts)
    return ".".join(reversed(nibbles))
