"""IP address text syntax as Rust's `std::net` parser accepts it (spec 7.5).

Python's `ipaddress` is not used: it accepts scope zones (`fe80::1%eth0`) and its rules for
leading zeros and group sizes have changed between Python releases. This is a transcription of
Rust's recursive-descent parser (core/src/net/parser.rs), working on ASCII characters only.
"""

from __future__ import annotations

from typing import Final

_DECIMAL: Final = "0123456789"
_HEX: Final = "0123456789abcdefABCDEF"


class _Cursor:
    """A position in the text; every reader either consumes its match or leaves pos alone."""

    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def read_char(self, expected: str) -> bool:
        if self.text.startswith(expected, self.pos):
            self.pos += 1
            return True
        return False

    def read_number(self, digits: str, radix: int, max_digits: int, limit: int,
                    allow_zero_prefix: bool) -> int | None:
        start = self.pos
        value = 0
        count = 0
        text = self.text
        while self.pos < len(text) and text[self.pos] in digits:
            value = value * radix + int(text[self.pos], radix)
            count += 1
            self.pos += 1
            # Rust fails the whole number on an overflow or on one digit too many.
            if count > max_digits or value > limit:
                self.pos = start
                return None
        if count == 0 or (not allow_zero_prefix and count > 1 and text[start] == "0"):
            self.pos = start
            return None
        return value

    def read_ipv4(self) -> list[int] | None:
        start = self.pos
        octets: list[int] = []
        for index in range(4):
            if index > 0 and not self.read_char("."):
                self.pos = start
                return None
            octet = self.read_number(_DECIMAL, 10, 3, 255, allow_zero_prefix=False)
            if octet is None:
                self.pos = start
                return None
            octets.append(octet)
        return octets

    def _read_groups(self, groups: list[int], limit: int) -> tuple[int, bool]:
        """Colon-separated hex groups, possibly ending in a dotted IPv4 tail (two groups)."""
        for index in range(limit):
            if index < limit - 1:
                # The embedded IPv4 form is tried first, as in Rust; it needs two free groups.
                before = self.pos
                if index == 0 or self.read_char(":"):
                    ipv4 = self.read_ipv4()
                    if ipv4 is not None:
                        groups[index] = ipv4[0] << 8 | ipv4[1]
                        groups[index + 1] = ipv4[2] << 8 | ipv4[3]
                        return index + 2, True
                self.pos = before
            before = self.pos
            group = None
            if index == 0 or self.read_char(":"):
                group = self.read_number(_HEX, 16, 4, 0xFFFF, allow_zero_prefix=True)
            if group is None:
                self.pos = before
                return index, False
            groups[index] = group
        return limit, False

    def read_ipv6(self) -> list[int] | None:
        start = self.pos
        head = [0] * 8
        head_size, head_ipv4 = self._read_groups(head, 8)
        if head_size == 8:
            return head
        if head_ipv4 or not (self.read_char(":") and self.read_char(":")):
            # An IPv4 tail before `::`, or fewer than 8 groups without `::`.
            self.pos = start
            return None
        # `::` stands for at least one zero group, so the tail has at most 7 - head_size.
        tail = [0] * 7
        tail_size, _ = self._read_groups(tail, 8 - (head_size + 1))
        head[8 - tail_size:] = tail[:tail_size]
        return head


def parse_ipv4(text: str) -> list[int] | None:
    """The four octets of an IPv4 address text, or None."""
    cursor = _Cursor(text)
    octets = cursor.read_ipv4()
    return octets if octets is not None and cursor.pos == len(text) else None


def parse_ipv6(text: str) -> list[int] | None:
    """The eight 16-bit groups of an IPv6 address text, or None."""
    cursor = _Cursor(text)
    groups = cursor.read_ipv6()
    return groups if groups is not None and cursor.pos == len(text) else None


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
