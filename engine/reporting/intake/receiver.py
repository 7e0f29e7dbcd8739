"""The receiver process of `tlsrpt collect` (engine.reporting.intake.collector explains the pair).

It only reads the datagram socket and forwards each datagram, stamped with its receipt time,
to the collector over a pipe, as frames: FRAME (kind, time, body length) and the body. Its
reading thread never waits for the collector: a second thread does the blocking pipe writes,
and what waits for them is bounded in bytes. It holds no configuration and no database: those
are the collector's.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import struct
import threading
import time
from typing import Final, NamedTuple

#: the receiver polls its stop flag (and whether the collector is still there) this often, and
#: the collector its stop flag (seconds)
POLL: Final = 0.1
#: per-datagram memory beyond the datagram's bytes (bytes object, frame header, deque slot),
#: so that the receiver's bound is about real memory
_ITEM_OVERHEAD: Final = 120
#: receiver -> collector frames: kind, receipt time (time.time()), length of the body
FRAME: Final = struct.Struct("=BdI")
DATAGRAM, COUNTS, READY, END, FAILED = range(5)
#: body of a COUNTS frame: the receiver's totals received, bytes, truncated, queue_overflow
COUNTS_BODY: Final = struct.Struct("=QQQQ")
#: pipe capacity asked for (Linux): more slack between the processes, fewer system calls
PIPE_SIZE: Final = 1 << 20
#: most bytes the receiver hands to one write, and the collector takes from one read
CHUNK: Final = 1 << 20
#: how long the receiver's forwarder lets frames gather before a write (seconds)
_FORWARD_DELAY: Final = 0.002

#: the receiver process's program
PROGRAM: Final = ("import sys; from engine.reporting.intake.receiver import receiver_main; "
                            "sys.exit(receiver_main(sys.argv[1:]))")

class _ReceiverArgs(NamedTuple):
    """What the collector tells the receiver process (as command-line arguments)."""

    socket_fd: int
    pipe_fd: int
    path: str
    device: int
    inode: int
    max_datagram: int
    max_queue_bytes: int
    collector_pid: int


def receiver_main(argv: list[str]) -> int:
    """Entry point of the receiver process (see `PROGRAM`)."""
    args = _ReceiverArgs(int(argv[0]), int(argv[1]), argv[2], *(int(a) for a in argv[3:]))
    return _Receiver(args).run()


class _Receiver:
    """Reads the socket in the main thread and forwards frames to the collector from a second
    thread, so that a full pipe (the collector busy committing) never stops the reading."""

    def __init__(self, args: _ReceiverArgs) -> None:
        self.args = args
        self.socket = socket.socket(fileno=args.socket_fd)
        self.received = self.bytes = self.truncated = self.overflow = 0
        # frames waiting for the forwarder; the bytes bound is kept with two counters of one
        # writer each (reader: _queued_in, forwarder: _queued_out), so no lock is needed
        self.queue: collections.deque[bytes] = collections.deque()
        self._queued_in = self._queued_out = 0
        self._wake = threading.Event()
        self._stop = False          # plain flag: set from a signal handler
        self._reading_done = False

    def run(self) -> int:
        def stop(signum: int, frame: object) -> None:
            self._stop = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)  # Ctrl-C reaches the whole process group
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloading is the collector's business
        self._queue_frame(READY, b"")
        forwarder = threading.Thread(target=self._forward, name="tlsrpt-collect-forwarder",
                                     daemon=True)
        forwarder.start()
        end = (END, b"")
        try:
            self._read()
        except OSError as err:  # the socket itself failed: nothing more can be received
            end = (FAILED, str(err).encode())
        finally:
            self._unlink()
        self._queue_frame(*end)
        self._reading_done = True
        self._wake.set()
        forwarder.join()
        return 0

    def _read(self) -> None:
        sock = self.socket
        buffer = bytearray(self.args.max_datagram)
        view = memoryview(buffer)
        sock.settimeout(POLL)
        while not self._stop:
            try:
                size, _, flags, _ = sock.recvmsg_into([buffer])
            except TimeoutError:
                if os.getppid() != self.args.collector_pid:
                    return  # the collector is gone (SIGKILL): nobody to forward to
                continue
            self._accept(view, size, flags)
        # Stop: no new datagram can reach a removed file; then empty the kernel queue.
        self._unlink()
        sock.setblocking(False)
        while True:
            try:
                size, _, flags, _ = sock.recvmsg_into([buffer])
            except (BlockingIOError, InterruptedError):
                return
            self._accept(view, size, flags)

    def _accept(self, view: memoryview, size: int, flags: int) -> None:
        self.received += 1
        self.bytes += size
        if flags & socket.MSG_TRUNC:
            self.truncated += 1  # spec 8.1: longer than max-datagram, a cut JSON text
            return
        cost = size + _ITEM_OVERHEAD
        if self._queued_in - self._queued_out + cost > self.args.max_queue_bytes:
            self.overflow += 1
            return
        self._queued_in += cost
        self.queue.append(FRAME.pack(DATAGRAM, time.time(), size) + view[:size])
        if not self._wake.is_set():
            self._wake.set()

    def _queue_frame(self, kind: int, body: bytes) -> None:
        self.queue.append(FRAME.pack(kind, time.time(), len(body)) + body)
        self._queued_in += len(body) + _ITEM_OVERHEAD
        self._wake.set()

    def _forward(self) -> None:
        """Write queued frames, each write followed by the counters, until the reader is done.
        A broken pipe (the collector is gone) stops the reader too."""
        queue = self.queue
        counts_header = FRAME.pack(COUNTS, 0.0, COUNTS_BODY.size)
        try:
            while True:
                self._wake.wait()
                # Let a few more datagrams arrive first: fewer writes, and fewer wake-ups of
                # the collector, leave the CPUs to the reader (and to the MTA).
                time.sleep(_FORWARD_DELAY)
                self._wake.clear()
                done = self._reading_done  # before emptying: its last frames are queued
                while queue:
                    parts, size = [], 0
                    while queue and size < CHUNK:
                        frame = queue.popleft()
                        parts.append(frame)
                        size += len(frame)
                    self._queued_out += size - len(parts) * (FRAME.size - _ITEM_OVERHEAD)
                    parts.append(counts_header + COUNTS_BODY.pack(
                        self.received, self.bytes, self.truncated, self.overflow))
                    _write_all(self.args.pipe_fd, b"".join(parts))
                if done:
                    return
        except OSError:
            self._stop = True
        finally:
            os.close(self.args.pipe_fd)

    def _unlink(self) -> None:
        """Remove the socket file if it is still the one the collector bound."""
        try:
            found = os.lstat(self.args.path)
        except FileNotFoundError:
            return
        if (found.st_dev, found.st_ino) == (self.args.device, self.args.inode):
            os.unlink(self.args.path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
