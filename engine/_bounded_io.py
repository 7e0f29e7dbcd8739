"""Reading untrusted input with a size bound checked while reading, never after.

`read(size=-1)` and `for line in stream` both hold the whole input (or the whole line) in
memory before anyone can look at its length: `tlsrpt eval -` fed from /dev/zero, or a JSON
Lines file with one 300 MiB line, would grow until the kernel kills the process. Here every
read asks for at most the bound plus one byte, so memory stays proportional to the bound.

This module only reads; what an oversize input means (a usage error, a rejected line) is the
caller's decision.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import BinaryIO, Final

#: Largest configuration or test file we read (`lint`, `eval`, `resolve`, `test`, stdin
#: included). Real Stalwart configurations are tens of kilobytes; 16 MiB leaves room for
#: generated ones while keeping parsing and position tracking well under a second per MiB.
MAX_CONFIG_BYTES: Final = 16 << 20

#: Largest line handed on by `bounded_lines`; matches the intake's own line bound
#: (one TLS outcome is a few hundred bytes, a generous event with many MX hosts a few KiB).
MAX_LINE_BYTES: Final = 1 << 20

#: Bytes asked of the stream at a time while skipping the rest of an oversize line.
_CHUNK: Final = 1 << 16


class InputTooLarge(ValueError):
    """The input is longer than its bound; `limit` is that bound in bytes."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} is larger than {limit} bytes")
        self.limit = limit


def read_bounded(stream: BinaryIO, limit: int, what: str = "input") -> bytes:
    """Read the whole of `stream`, refusing it once more than `limit` bytes have arrived."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputTooLarge(what, limit)
    return data


def read_file_bounded(path: str, limit: int = MAX_CONFIG_BYTES, what: str = "file") -> bytes:
    """Read a regular file of at most `limit` bytes.

    Raises OSError when the file cannot be opened or is not a regular file (a FIFO or a device
    would block or never end), InputTooLarge when it is too large.
    """
    # O_NONBLOCK: opening a FIFO for reading waits for a writer; this way the open returns and
    # fstat tells us what it is.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as stream:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise IsADirectoryError(21, "not a regular file", path) if stat.S_ISDIR(mode) \
                else OSError(0, "not a regular file", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return read_bounded(stream, limit, what)


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of `stream` (each with its newline, as iterating a file gives them).

    A line longer than `limit` bytes is handed on cut to its first `limit + 1` bytes, without
    its newline, and the rest of it is read and dropped in chunks: the consumer sees that it
    is too long (and can reject that line alone) while memory stays within the bound.
    """
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        yield line
        # skip to the end of this line
        while True:
            rest = stream.readline(_CHUNK)
            if not rest or rest.endswith(b"\n"):
                break
