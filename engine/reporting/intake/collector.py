"""`tlsrpt collect`: the libtlsrpt datagram socket (spec/reporting.md 8.1) into the event store.

Two processes, so that nothing the collector does can keep the socket from being read:

* the *receiver process* (engine.reporting.intake.receiver; a child started by
  `Collector.run` with the bound socket passed to it) only reads datagrams (`recvmsg_into`,
  dropping any with `MSG_TRUNC`) and forwards them, stamped with their receipt time, to the
  collector over a pipe. Its reading thread
  never waits for the collector: a second thread does the (blocking, lock-releasing) pipe
  writes, and what waits to be written is bounded in bytes; a datagram that does not fit is
  dropped and counted (`queue_overflow`) rather than letting a stalled disk eat the machine's
  memory.
* the *collector* (the calling process and thread, which owns the SQLite connection and sees
  signals) reads the pipe, takes up to `batch_size` datagrams every `batch_interval` seconds
  (sooner when a full batch is waiting), decodes them (engine.reporting.intake.datagram), windows the
  events with the configured frequency and commits them in one transaction.

Why a process and not a thread: libtlsrpt sends with `MSG_DONTWAIT` and forgets the datagram
when the socket is full, and on Linux the socket holds only `net.unix.max_dgram_qlen` (default
10) datagrams. A receiving thread shares the interpreter lock with decoding and SQLite and
waited up to a switch interval for it while the queue overflowed (about 1 % lost at 2,000
datagrams a second); a process of its own has the lock to itself.

Stopping: SIGTERM or SIGINT reach the receiver from the collector (`request_stop`) or directly
(a service manager signals the whole group). The receiver then removes the socket file (no new
datagrams can arrive), reads what the kernel still holds, forwards everything with its final
counters and exits; the collector commits everything up to the end of the pipe. If the
receiver dies any other way the collector logs `receiver-died`, commits what it got and stops
with `receive_error` set (exit status 1): a service manager restarts the pair, and the next
start removes the socket file left behind. A collector killed without warning (SIGKILL) loses
at most the uncommitted batches: every commit is one SQLite transaction, so the store always
holds a prefix of the committed batches; a receiver left alone exits when its pipe breaks.

Not here: command-line parsing and signal handlers (engine.cli.collect_command), datagram
semantics (engine.reporting.intake.datagram).
"""

from __future__ import annotations

import collections
import fcntl
import grp
import os
import pwd
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from engine import log
from engine.errors import EngineError
from engine.reporting.intake.receiver import (CHUNK, COUNTS, COUNTS_BODY, DATAGRAM, FAILED, FRAME,
                                               PIPE_SIZE, POLL, PROGRAM, READY)
from engine.config.config import Config
from engine.config.settings import Frequency
from engine.reporting.intake.datagram import DatagramError, decode_datagram
from engine.reporting.model import Event
from engine.reporting.store.interface import EventStore
from engine.reporting.window import ALIGNED_WINDOW_SECONDS, window

#: spec 10: `collector.max-datagram` default. libtlsrpt's datagrams are a few kilobytes; a
#: delivery with hundreds of MX hosts and details stays far below a megabyte.
DEFAULT_MAX_DATAGRAM: Final = 1 << 20
#: spec 10: `collector.mode` default: the MTA's group may write, nobody else may
DEFAULT_MODE: Final = 0o660
#: datagrams per transaction: large enough that a commit's fixed cost (a WAL append and its
#: lock) is spread thin, small enough that one commit takes milliseconds
DEFAULT_BATCH_SIZE: Final = 1000
#: longest wait (seconds) before a received datagram is committed; also how soon a stop
#: request is noticed by the writer
DEFAULT_BATCH_INTERVAL: Final = 0.2
#: queued datagram bytes before new ones are dropped (a minute of a very busy MTA, ~1.4 KiB
#: per datagram with Python's overhead, while the disk is stalled)
DEFAULT_MAX_QUEUE_BYTES: Final = 256 << 20
#: SO_RCVBUF asked for. On Linux an AF_UNIX datagram queue is limited by the count
#: net.unix.max_dgram_qlen, not by bytes, so this mainly helps other kernels; the granted
#: value is logged either way.
RECEIVE_BUFFER: Final = 8 << 20
#: counters are logged at info level this often (seconds)
STATUS_INTERVAL: Final = 60.0
#: how long the collector waits for a new receiver to report ready (seconds)
_START_PATIENCE: Final = 60.0
_MAX_DGRAM_QLEN: Final = Path("/proc/sys/net/unix/max_dgram_qlen")


class CollectorError(EngineError, OSError):
    """The socket cannot be set up (path in use, not a socket, unknown owner...)."""


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    """Where and how to listen (`collector.*`, spec 10). `owner`/`group` None: unchanged."""

    socket: str
    owner: int | None = None
    group: int | None = None
    mode: int = DEFAULT_MODE
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_interval: float = DEFAULT_BATCH_INTERVAL
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES

    def __post_init__(self) -> None:
        if not self.socket:
            raise ValueError("no socket path (collector.socket or --socket)")
        if not 0 <= self.mode <= 0o777:
            raise ValueError(f"collector.mode must be octal permissions 0-0777, not "
                             f"{self.mode:o}")
        if self.max_datagram < 1:
            raise ValueError("collector.max-datagram must be at least 1 byte")
        if self.batch_size < 1:
            raise ValueError("collector.batch-size must be at least 1")
        if not self.batch_interval > 0:
            raise ValueError("collector.batch-interval must be more than 0 milliseconds")
        if self.max_queue_bytes < self.max_datagram:
            raise ValueError("the queue must hold at least one datagram")


def settings_from_values(values: Mapping[str, str], **given: str | None) -> CollectorSettings:
    """`collector.*` from the flat configuration (texts as loaded from TOML), each overridden by
    the keyword of the same name (command-line flags) when that is not None.

    Keys: `socket`, `owner` and `group` (names or numbers), `mode` (octal: `0660`, `660` or
    `0o660`), `max-datagram` (bytes), `batch-size` (datagrams), `batch-interval`
    (milliseconds). Raises ValueError naming the key.
    """
    def get(name: str) -> str | None:
        flag = given.get(name.replace("-", "_"))
        if flag is not None:
            return flag.strip()
        value = values.get("collector." + name)
        return None if value is None else value.strip()

    def integer(name: str, default: int) -> int:
        text = get(name)
        if text is None or text == "":
            return default
        try:
            return int(text, 10)
        except ValueError:
            raise ValueError(f"collector.{name} must be an integer, not {text!r}") from None

    return CollectorSettings(
        socket=get("socket") or "",
        owner=_user(get("owner")),
        group=_group(get("group")),
        mode=_mode(get("mode")),
        max_datagram=integer("max-datagram", DEFAULT_MAX_DATAGRAM),
        batch_size=integer("batch-size", DEFAULT_BATCH_SIZE),
        batch_interval=integer("batch-interval", int(DEFAULT_BATCH_INTERVAL * 1000)) / 1000,
    )


def _mode(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_MODE
    digits = text[2:] if text[:2].lower() == "0o" else text
    try:
        return int(digits, 8)
    except ValueError:
        raise ValueError(f"collector.mode must be octal such as 0660, not {text!r}") from None


def _user(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise ValueError(f"collector.owner: no user {text!r}") from None


def _group(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise ValueError(f"collector.group: no group {text!r}") from None


# --- the socket --------------------------------------------------------------------------------

class DatagramSocket:
    """A bound AF_UNIX datagram socket that knows its file, so that it removes the file only
    while the file is still its own (another collector may have replaced it)."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.path = settings.socket
        _remove_stale(self.path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            # Bind under a umask that leaves the file private, and only then open it up to the
            # configured owner, group and mode: no moment where anyone else may write to it.
            previous = os.umask(0o177)
            try:
                self.socket.bind(self.path)
            finally:
                os.umask(previous)
            identity = os.lstat(self.path)
            #: (device, inode) of the socket file bound here
            self.identity = (identity.st_dev, identity.st_ino)
            if settings.owner is not None or settings.group is not None:
                os.chown(self.path, -1 if settings.owner is None else settings.owner,
                         -1 if settings.group is None else settings.group)
            os.chmod(self.path, settings.mode)
            self.receive_buffer = _raise_receive_buffer(self.socket)
        except BaseException:
            self.close()
            raise

    def unlink(self) -> None:
        """Remove the socket file if it is still the one bound here."""
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (found.st_dev, found.st_ino) == getattr(self, "identity", None):
            os.unlink(self.path)

    def close(self) -> None:
        self.unlink()
        self.socket.close()


def _remove_stale(path: str) -> None:
    """spec 8.1: a socket file left by a dead collector is removed; a live collector's socket
    or anything that is not a socket is an error (never delete a user's file)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(found.st_mode):
        raise CollectorError(f"{path} exists and is not a socket; not removing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody bound: stale
        log.info("stale-socket-removed", socket=path)
        return
    except OSError as err:
        raise CollectorError(f"{path}: cannot check the existing socket: {err}") from None
    finally:
        probe.close()
    raise CollectorError(f"{path}: another process is listening on this socket")


def _raise_receive_buffer(sock: socket.socket) -> int:
    # SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; fall back quietly.
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            break
        except OSError:
            continue
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def kernel_queue_limit() -> int | None:
    """Linux's net.unix.max_dgram_qlen (datagrams queued per socket), None elsewhere."""
    try:
        return int(_MAX_DGRAM_QLEN.read_text().strip())
    except (OSError, ValueError):
        return None


# --- counters ----------------------------------------------------------------------------------

@dataclass
class Counters:
    """What the collector did. `received`, `bytes`, `truncated` and `queue_overflow` are the
    receiver process's totals as last reported to the collector; the rest are the collector's."""

    received: int = 0
    bytes: int = 0
    truncated: int = 0
    queue_overflow: int = 0
    decoded: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    policies_dropped: int = 0
    warnings: int = 0
    events_stored: int = 0
    events_ignored: int = 0  # frequency `never` for the domain
    events_late: int = 0     # window already reported (the store counts them too)
    batches: int = 0
    store_errors: int = 0

    def fields(self) -> dict[str, object]:
        return {"received": self.received, "bytes": self.bytes, "truncated": self.truncated,
                "queue_overflow": self.queue_overflow, "decoded": self.decoded,
                "dropped": dict(sorted(self.dropped.items())),
                "dropped_total": sum(self.dropped.values()),
                "policies_dropped": self.policies_dropped, "warnings": self.warnings,
                "events_stored": self.events_stored, "events_ignored": self.events_ignored,
                "events_late": self.events_late, "batches": self.batches,
                "store_errors": self.store_errors}


# --- the collector -----------------------------------------------------------------------------

class Collector:
    """Receive on `datagrams` and store into `store` until `request_stop()` (see module doc).

    `config` gives each domain's frequency (`report.tls.aggregate.send`); `reload_config`,
    when set, is called between batches after `request_reload()`.
    """

    def __init__(self, config: Config, store: EventStore, datagrams: DatagramSocket,
                 settings: CollectorSettings, *,
                 reload_config: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.store = store
        self.datagrams = datagrams
        self.settings = settings
        self.counters = Counters()
        self._reload_config = reload_config
        #: datagrams read from the pipe, not yet decoded: (bytes, receipt time)
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque()
        self._pending = bytearray()  # pipe bytes not yet a whole frame
        # Plain flags, not Events: a signal handler sets them, and taking an Event's lock
        # inside a handler can deadlock with the interrupted code holding that same lock.
        self._stop_requested = False
        self._reload_requested = False
        self._ready = False           # the receiver reported for duty
        self._receiver_ended = False  # end of the pipe: the receiver has exited
        self._clean_end = False       # ...after forwarding everything (END or FAILED)
        #: why receiving ended on its own (socket failure, receiver died), None while fine
        self.receive_error: str | None = None
        #: process id of the receiver while `run` runs
        self.receiver_pid: int | None = None
        self._unsaved: list[tuple[Event, int, int]] = []

    # -- control (safe from signal handlers) ---------------------------------------------------

    def request_stop(self) -> None:
        self._stop_requested = True

    def request_reload(self) -> None:
        self._reload_requested = True

    # -- the receiver's pipe -------------------------------------------------------------------

    def _start_receiver(self) -> tuple[subprocess.Popen[bytes], int]:
        """Start the receiver process with the bound socket; return it and the pipe's end.

        A new interpreter (not fork): this process may already run threads and hold an
        SQLite connection, neither of which survives a fork safely."""
        read_fd, write_fd = os.pipe()
        try:
            # no more than the receiver's own bound: that bounds what is in flight to twice it
            fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031),
                        min(PIPE_SIZE, self.settings.max_queue_bytes))
        except OSError:
            pass  # not Linux, or above fs.pipe-max-size: the default capacity works too
        sock_fd = self.datagrams.socket.fileno()
        device, inode = self.datagrams.identity
        root = str(Path(__file__).resolve().parents[2])  # where `engine` is importable from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        try:
            # The same process group: a service manager's or a terminal's signals reach both.
            process = subprocess.Popen(
                [sys.executable, "-c", PROGRAM, str(sock_fd), str(write_fd),
                 self.datagrams.path, str(device), str(inode), str(self.settings.max_datagram),
                 str(self.settings.max_queue_bytes), str(os.getpid())],
                pass_fds=(sock_fd, write_fd), stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the receiver's now: its exit is our end of file
        return process, read_fd

    def _read_pipe(self, fd: int, timeout: float) -> None:
        """Wait up to `timeout` seconds for the pipe, then take what it holds."""
        if not select.select([fd], [], [], max(timeout, 0.0))[0]:
            return
        data = os.read(fd, CHUNK)
        if not data:
            self._receiver_ended = True
            return
        pending = self._pending
        pending += data
        position, header = 0, FRAME.size
        while len(pending) - position >= header:
            kind, received_at, size = FRAME.unpack_from(pending, position)
            if len(pending) - position - header < size:
                break
            body = bytes(pending[position + header:position + header + size])
            position += header + size
            if kind == DATAGRAM:
                self._queue.append((body, int(received_at)))
            elif kind == COUNTS:
                self._take_counts(*COUNTS_BODY.unpack(body))
            elif kind == READY:
                self._ready = True
            else:  # END or FAILED: nothing follows
                self._clean_end = True
                if kind == FAILED:
                    self.receive_error = body.decode(errors="replace")
                    log.error("receive-failed", error=self.receive_error)
        del pending[:position]

    def _take_counts(self, received: int, size: int, truncated: int, overflow: int) -> None:
        counters = self.counters
        if truncated > counters.truncated:
            # spec 8.1: longer than max-datagram; what arrived was a cut JSON text
            log.warning("datagram-dropped", reason="truncated", datagrams=truncated -
                        counters.truncated, max_datagram=self.settings.max_datagram)
        if overflow > counters.queue_overflow and (
                counters.queue_overflow == 0 or overflow // 10_000 > counters.queue_overflow
                // 10_000):
            log.warning("datagram-dropped", reason="queue-overflow", queue_overflow=overflow)
        counters.received, counters.bytes = received, size
        counters.truncated, counters.queue_overflow = truncated, overflow

    # -- the collector (calling thread) --------------------------------------------------------

    def run(self) -> Counters:
        """Receive and store until `request_stop()` or the receiver's end; return the final
        counters."""
        process, pipe = self._start_receiver()
        self.receiver_pid = process.pid
        try:
            self._collect(process, pipe)
        finally:
            os.close(pipe)
            if process.poll() is None:  # only when something above raised
                process.kill()
            process.wait()
            self.receiver_pid = None
        return self.counters

    def _collect(self, process: subprocess.Popen[bytes], pipe: int) -> None:
        started = time.monotonic()
        while not self._ready and not self._receiver_ended:
            if time.monotonic() - started > _START_PATIENCE:
                process.kill()  # then its end of file ends the wait
            self._read_pipe(pipe, POLL)
        if self._ready:
            log.info("collector-started", socket=self.datagrams.path,
                     receive_buffer=self.datagrams.receive_buffer,
                     kernel_max_dgram_qlen=kernel_queue_limit(), receiver_pid=process.pid,
                     batch_size=self.settings.batch_size,
                     batch_interval_ms=round(self.settings.batch_interval * 1000))
        next_status = time.monotonic() + STATUS_INTERVAL
        batch_due = time.monotonic() + self.settings.batch_interval
        while not self._stop_requested and not self._receiver_ended:
            # Read only while less than a batch waits: a backlog stays in the receiver,
            # where it is bounded (and counted when it overflows).
            if len(self._queue) < self.settings.batch_size:
                self._read_pipe(pipe, min(POLL, batch_due - time.monotonic()))
            if self._reload_requested:
                self._reload()
            now = time.monotonic()
            if len(self._queue) >= self.settings.batch_size or now >= batch_due:
                self._write_batch()
                batch_due = time.monotonic() + self.settings.batch_interval
            if now >= next_status:
                next_status = now + STATUS_INTERVAL
                log.info("collector-status", queued=len(self._queue), **self.counters.fields())
        # Stop: the receiver removes the socket file, empties the kernel queue and forwards
        # all of it; read to the end of the pipe, then commit everything.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        while not self._receiver_ended:
            self._read_pipe(pipe, POLL)
        returncode = process.wait()
        if not self._clean_end:
            self.receive_error = f"the receiver process ended with status {returncode}"
            log.error("receiver-died", returncode=returncode)
        while self._queue or self._unsaved:
            if not self._write_batch():
                break  # the store keeps failing: what is left is lost, and counted
        lost = len(self._queue) + len(self._unsaved)
        log.info("collector-stopped", queued_lost=lost, **self.counters.fields())

    def _reload(self) -> None:
        self._reload_requested = False
        if self._reload_config is None:
            return
        try:
            self.config = self._reload_config()
        except Exception as err:  # noqa: BLE001 - any failure keeps the running configuration
            log.warning("config-not-reloaded", error=str(err))
        else:
            log.info("config-reloaded")

    def _write_batch(self) -> bool:
        """Decode and commit up to one batch; False when the store refused it."""
        batch = self._unsaved
        if not batch:
            batch = self._decode(self._take())
        if not batch:
            return True
        try:
            accepted = self.store.add(batch)
        except Exception as err:  # noqa: BLE001 - sqlite3.Error, OSError...: keep the batch
            self.counters.store_errors += 1
            self._unsaved = batch
            log.error("store-write-failed", error=f"{type(err).__name__}: {err}",
                      events=len(batch))
            time.sleep(self.settings.batch_interval)  # do not spin on a broken disk
            return False
        self._unsaved = []
        self.counters.batches += 1
        self.counters.events_stored += accepted
        self.counters.events_late += len(batch) - accepted
        return True

    def _take(self) -> list[tuple[bytes, int]]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(len(queue), self.settings.batch_size))]

    def _decode(self, items: list[tuple[bytes, int]]) -> list[tuple[Event, int, int]]:
        counters = self.counters
        batch: list[tuple[Event, int, int]] = []
        frequencies: dict[str, Frequency] = {}
        for data, received_at in items:
            try:
                decoded = decode_datagram(data, received_at=received_at)
            except DatagramError as err:
                reason = err.reason.value
                counters.dropped[reason] = counters.dropped.get(reason, 0) + 1
                log.warning("datagram-dropped", reason=reason, detail=err.detail,
                            size=len(data))
                continue
            counters.decoded += 1
            counters.policies_dropped += decoded.policies_dropped
            counters.warnings += len(decoded.warnings)
            for warning in decoded.warnings:
                log.info("datagram-warning", warning=warning)
            for event in decoded.events:
                domain = event.report_domain
                frequency = frequencies.get(domain)
                if frequency is None:
                    frequency = frequencies[domain] = self.config.tls_aggregate(domain).send
                size = ALIGNED_WINDOW_SECONDS.get(frequency)
                if size is not None:  # window() inlined for the common frequencies
                    start = event.time - event.time % size
                    batch.append((event, start, start + size))
                    continue
                span = window(frequency, event.time)
                if span is None:
                    counters.events_ignored += 1  # send = never for this domain
                    continue
                batch.append((event, span[0], span[1]))
        return batch
