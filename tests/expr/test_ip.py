"""engine/expr/_ip.py (the `ipaddress` module plus the refused scope zone) against the oracle:
the transcription of Rust's `std::net` parser that the project used before, copied here
unchanged. Hypothesis feeds both address-like texts, mutated real addresses and the known
corner cases; they must agree on every one."""

from __future__ import annotations

import ipaddress
from typing import Final

import pytest
from hypothesis import example, given, settings, strategies as st

from engine.expr._ip import parse_ip, parse_ipv4, parse_ipv6, reverse_name

# --- the oracle: the previous engine/expr/_ip.py, a transcription of Rust's
# core/src/net/parser.rs -----------------------------------------------------------------------

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


def oracle_ipv4(text: str) -> list[int] | None:
    """The four octets of an IPv4 address text, or None."""
    cursor = _Cursor(text)
    octets = cursor.read_ipv4()
    return octets if octets is not None and cursor.pos == len(text) else None


def oracle_ipv6(text: str) -> list[int] | None:
    """The eight 16-bit groups of an IPv6 address text, or None."""
    cursor = _Cursor(text)
    groups = cursor.read_ipv6()
    return groups if groups is not None and cursor.pos == len(text) else None


def oracle_ip(text: str) -> tuple[int, list[int]] | None:
    """(4, octets) or (6, groups) for an address text (IPv4 tried first, as `IpAddr` does)."""
    octets = oracle_ipv4(text)
    if octets is not None:
        return 4, octets
    groups = oracle_ipv6(text)
    return None if groups is None else (6, groups)


# --- the comparison -----------------------------------------------------------------------------

CORNERS: Final = [
    "", ".", ":", "::", ":::", "1.2.3.4", "01.2.3.4", "1.2.3.04", "0.0.0.0", "255.255.255.255",
    "256.1.1.1", "1.2.3", "1.2.3.4.5", "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n",
    "\u0661.2.3.4", "\uff11.2.3.4", "1.2.3.4%eth0", "fe80::1%eth0", "fe80::1%", "::1%1",
    "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::",
    "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "::ffff:1.2.3.4", "::ffff:01.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4", "1.2.3.4::", "::1.2.3.4:5", "12345::", "0000:0000::", "00000::",
    "1::2::3", ":1::2", "1::2:", "FFFF::", "fffff::", "::g", "0x1.2.3.4", "1e1.2.3.4",
    "+1.2.3.4", "-1.2.3.4", "1_0.2.3.4", "١٢٣::", "::\uff11",
]

_ALPHABET: Final = "0123456789abcdefABCDEF:.%x \u0661\uff11"


@st.composite
def _address_texts(draw: st.DrawFn) -> str:
    """A real address written one of the ways people write it."""
    if draw(st.booleans()):
        return str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
    address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    form = draw(st.sampled_from(("compressed", "exploded", "ipv4-tail", "upper")))
    if form == "exploded":
        return address.exploded
    if form == "ipv4-tail":
        head = address.exploded.rsplit(":", 2)[0]
        return f"{head}:{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}"
    return address.compressed.upper() if form == "upper" else address.compressed


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    """An address text with a few characters inserted, removed or replaced."""
    text = draw(_address_texts())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(_ALPHABET))
        change = draw(st.sampled_from(("insert", "delete", "replace")))
        if change == "insert":
            text = text[:at] + char + text[at:]
        elif change == "delete":
            text = text[:at] + text[at + 1:]
        else:
            text = text[:at] + char + text[at + 1:]
    return text


def _agree(text: str) -> None:
    assert parse_ipv4(text) == oracle_ipv4(text), text
    assert parse_ipv6(text) == oracle_ipv6(text), text
    assert parse_ip(text) == oracle_ip(text), text


@pytest.mark.parametrize("text", CORNERS)
def test_corner_cases_agree(text: str) -> None:
    _agree(text)


@settings(max_examples=1500, deadline=None)
@given(_address_texts())
def test_real_addresses_agree(text: str) -> None:
    assert parse_ip(text) is not None
    _agree(text)


@settings(max_examples=3000, deadline=None)
@given(_mutated())
def test_mutated_addresses_agree(text: str) -> None:
    _agree(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(_ALPHABET, max_size=48))
@example("1:2:3:4:5:6:7:8" * 100)
def test_address_like_texts_agree(text: str) -> None:
    _agree(text)


def test_zones_are_refused_though_ipaddress_reads_them() -> None:
    assert ipaddress.ip_address("fe80::1%eth0")  # the difference this module handles
    assert parse_ipv6("fe80::1%eth0") is None and parse_ip("fe80::1%eth0") is None
    assert reverse_name("fe80::1%eth0") == ""


def test_reverse_names() -> None:
    assert reverse_name("192.0.2.1") == "1.2.0.192"
    assert reverse_name("2001:db8::1") == ".".join(reversed(f"{0x20010db8:08x}" + "0" * 23 + "1"))
    assert reverse_name("01.2.3.4") == ""
