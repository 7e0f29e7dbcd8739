"""The datagram collector (spec/reporting.md 8.1, `tlsrpt collect`) with real parts: AF_UNIX
datagram sockets in tmp_path, SQLite files, and `python -m engine collect` as a subprocess
for the signal and burst tests (the sender is a subprocess too)."""

from __future__ import annotations

import grp
import json
import os
import pwd
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config.config import load_config
from engine.reporting.intake.collector import (Collector, CollectorError, CollectorSettings,
                                      DatagramSocket, settings_from_values)
from engine.reporting.model import Event
from engine.reporting.store.sqlite.events import SqliteEventStore

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "handmade-collector-datagram.json"
CONFIG = '[report.tls.aggregate]\nsend = "daily"\n'
#: generous bound for a subprocess to start or stop; a slow machine only waits longer
PATIENCE = 60.0


def short_socket_path(tmp_path: Path, name: str = "c.sock") -> str:
    # sun_path holds about 108 bytes; pytest's tmp_path can be longer than that
    if len(str(tmp_path / name)) < 100:
        return str(tmp_path / name)
    link = Path("/tmp") / f"tlsrpt-test-{os.getpid()}-{id(tmp_path)}"
    if not link.exists():
        link.symlink_to(tmp_path)
    return str(link / name)


def unique_datagram(sequence: int) -> bytes:
    """One datagram per sequence number: its domain says which it was."""
    domain = f"seq{sequence}.example"
    return json.dumps({"dpv": "1", "d": domain, "pr": f"v=TLSRPTv1;rua=mailto:t@{domain}",
                       "policies": [{"policy-type": 9, "t": 0, "f": 0}]}).encode()


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def event_count(database: Path) -> int:
    if not database.exists():
        return 0
    with SqliteEventStore(database) as store:
        return store.stats()["events"]


def stored_domains(database: Path) -> list[str]:
    """Every domain with events, through the store's interface (windows close by then)."""
    with SqliteEventStore(database) as store:
        return sorted(domain for domain, _, _ in store.due_windows(2**40))


def sender(path: str) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    client.connect(path)
    return client


# --- settings ------------------------------------------------------------------------------

def test_settings_come_from_the_configuration_and_flags_override_them() -> None:
    values = {"collector.socket": "/run/tlsrpt/tlsrpt.sock", "collector.mode": "0620",
              "collector.batch-size": "50", "collector.batch-interval": "20",
              "collector.max-datagram": "4096", "collector.group": str(os.getgid())}
    settings = settings_from_values(values)
    assert settings == CollectorSettings(socket="/run/tlsrpt/tlsrpt.sock", mode=0o620,
                                         group=os.getgid(), batch_size=50,
                                         batch_interval=0.02, max_datagram=4096)
    overridden = settings_from_values(values, socket="/tmp/x.sock", mode="0o600",
                                      batch_size="7", owner=pwd.getpwuid(os.getuid()).pw_name)
    assert (overridden.socket, overridden.mode, overridden.batch_size, overridden.owner) == (
        "/tmp/x.sock", 0o600, 7, os.getuid())
    assert settings_from_values({"collector.socket": "s"}).mode == 0o660


@pytest.mark.parametrize(("values", "message"), [
    ({}, "no socket path"),
    ({"collector.socket": "s", "collector.mode": "0999"}, "collector.mode"),
    ({"collector.socket": "s", "collector.mode": "01777"}, "collector.mode"),
    ({"collector.socket": "s", "collector.batch-size": "0"}, "batch-size"),
    ({"collector.socket": "s", "collector.batch-size": "many"}, "batch-size"),
    ({"collector.socket": "s", "collector.owner": "no-such-user-tlsrpt"}, "no user"),
    ({"collector.socket": "s", "collector.group": "no-such-group-tlsrpt"}, "no group"),
])
def test_bad_settings_are_refused_by_name(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_values(values)


# --- the socket file -----------------------------------------------------------------------

def test_the_socket_gets_the_configured_mode_owner_and_group(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    settings = CollectorSettings(socket=path, owner=os.getuid(), group=os.getgid(),
                                 mode=0o620)
    datagrams = DatagramSocket(settings)
    try:
        found = os.lstat(path)
        assert stat.S_ISSOCK(found.st_mode)
        assert stat.S_IMODE(found.st_mode) == 0o620
        assert (found.st_uid, found.st_gid) == (os.getuid(), os.getgid())
        assert datagrams.receive_buffer > 0
    finally:
        datagrams.close()
    assert not os.path.exists(path)  # closing removes its own file


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(path)
    dead.close()  # the file stays behind, as after a crash
    datagrams = DatagramSocket(CollectorSettings(socket=path))
    try:
        with sender(path) as client:
            client.send(b"x")
        assert datagrams.socket.recv(10) == b"x"
    finally:
        datagrams.close()


def test_a_file_that_is_not_a_socket_is_never_removed(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    Path(path).write_text("precious", encoding="utf-8")
    with pytest.raises(CollectorError, match="not a socket"):
        DatagramSocket(CollectorSettings(socket=path))
    assert Path(path).read_text(encoding="utf-8") == "precious"


def test_a_live_collector_socket_is_not_taken_over(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    first = DatagramSocket(CollectorSettings(socket=path))
    try:
        with pytest.raises(CollectorError, match="another process"):
            DatagramSocket(CollectorSettings(socket=path))
        assert os.path.exists(path)
    finally:
        first.close()


# --- the collector in-process --------------------------------------------------------------

class SlowStore:
    """A real SQLite store whose commits take `delay` seconds (a stalled disk)."""

    def __init__(self, store: SqliteEventStore, delay: float) -> None:
        self.store = store
        self.delay = delay

    def add(self, events: Iterable[tuple[Event, int, int]]) -> int:
        time.sleep(self.delay)
        return self.store.add(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def collect_while(collector: Collector, send: Any, done: Any, what: str) -> Any:
    """Run the collector in this thread (which owns the store's connection, as in the
    command) while another thread sends, waits for `done()` and asks it to stop."""
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            send()
            wait_for(done, what)
        except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(err)
        finally:
            collector.request_stop()

    driver = threading.Thread(target=drive)
    driver.start()
    counters = collector.run()
    driver.join()
    collector.datagrams.close()
    if failures:
        raise failures[0]
    return counters


def test_datagrams_become_events_and_bad_ones_are_counted(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    settings = CollectorSettings(socket=path, max_datagram=4096, batch_interval=0.02)
    config = load_config(CONFIG + '[report.tls]\n')
    oversized = b'{"d": "' + b"a" * 5000 + b'"}'
    with SqliteEventStore(tmp_path / "events.db") as store:
        datagrams = DatagramSocket(settings)
        collector = Collector(config, store, datagrams, settings)
        before = int(time.time())

        def send() -> None:
            with sender(path) as client:
                for data in (FIXTURE.read_bytes(), b"not json",
                             b'{"dpv": "2", "d": "example.org"}', oversized,
                             FIXTURE.read_bytes()):
                    client.send(data)

        counters = collect_while(collector, send,
                                 lambda: collector.counters.events_stored == 4, "four events")
        stats = store.stats()
        windows = store.due_windows(2**40)
    after = int(time.time())
    assert (counters.received, counters.truncated, counters.decoded) == (5, 1, 2)
    assert counters.dropped == {"not-json": 1, "unknown-version": 1}
    assert counters.events_stored == 4 and counters.queue_overflow == 0
    # both datagrams' events (decoding itself is test_datagram.py's), in the daily window of
    # their receipt time (stamped by the receiver process)
    assert stats["events"] == 4
    assert windows in ([("company-y.example", day, day + 86400)]
                       for day in {before // 86400 * 86400, after // 86400 * 86400})


def test_a_domain_with_send_never_records_nothing(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    settings = CollectorSettings(socket=path, batch_interval=0.02)
    config = load_config('[report.tls.aggregate]\nsend = [{if = "rcpt_domain == '
                         '\'company-y.example\'", then = "never"}, {else = "daily"}]\n')
    with SqliteEventStore(tmp_path / "events.db") as store:
        datagrams = DatagramSocket(settings)
        collector = Collector(config, store, datagrams, settings)

        def send() -> None:
            with sender(path) as client:
                client.send(FIXTURE.read_bytes())
                client.send(unique_datagram(1))

        counters = collect_while(collector, send,
                                 lambda: collector.counters.events_stored == 1,
                                 "the other domain's event")
        assert store.stats()["events"] == 1
    assert counters.events_ignored == 2


def test_a_stalled_store_never_stops_the_receiver_and_overflow_is_counted(
        tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    datagram = unique_datagram(0)
    count = 5000
    # the receiver holds about 40 datagrams beyond what the pipe to the collector holds;
    # commits of 100 datagrams take 0.2 s each
    settings = CollectorSettings(socket=path, max_datagram=1024, batch_size=100,
                                 batch_interval=0.01, max_queue_bytes=40 * (len(datagram) + 120))
    with SqliteEventStore(tmp_path / "events.db") as real:
        store = SlowStore(real, 0.2)
        datagrams = DatagramSocket(settings)
        collector = Collector(load_config(CONFIG), store, datagrams, settings)  # type: ignore[arg-type]

        def send() -> None:
            with sender(path) as client:
                for _ in range(count):  # blocking sends: the kernel never drops these
                    client.send(datagram)

        counters = collect_while(collector, send,
                                 lambda: collector.counters.received == count,
                                 "every datagram read")
        stored = real.stats()["events"]  # one event per datagram
    # the receiver read them all while the collector was stuck in slow commits...
    assert counters.received == count
    assert counters.queue_overflow > 0
    # ...and what it could not hold is counted, everything else is stored
    assert stored == counters.events_stored == count - counters.queue_overflow


def test_a_receiver_that_dies_stops_the_collector_with_an_error(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    settings = CollectorSettings(socket=path, batch_interval=0.02)
    with SqliteEventStore(tmp_path / "events.db") as store:
        datagrams = DatagramSocket(settings)
        collector = Collector(load_config(CONFIG), store, datagrams, settings)
        failures: list[BaseException] = []

        def kill_receiver() -> None:
            try:
                with sender(path) as client:
                    client.send(unique_datagram(1))
                wait_for(lambda: collector.counters.events_stored == 1, "the first event")
                assert collector.receiver_pid is not None
                os.kill(collector.receiver_pid, signal.SIGKILL)
            except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread
                failures.append(err)
                collector.request_stop()

        killer = threading.Thread(target=kill_receiver)
        killer.start()
        counters = collector.run()  # returns on its own: nobody asks it to stop
        killer.join()
        datagrams.close()
        if failures:
            raise failures[0]
        assert store.stats()["events"] == 1
    assert counters.received == 1 and counters.events_stored == 1
    assert collector.receive_error is not None and "-9" in collector.receive_error
    assert not os.path.exists(path)  # closing still removes the socket file


# --- the command as a process ----------------------------------------------------------------

#: collectors started by the running test; whatever it leaves running is killed after it
_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_collector_outlives_its_test() -> Iterator[None]:
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:  # the test failed before stopping it
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_collector(tmp_path: Path, path: str, database: Path, *extra: str,
                    log_name: str = "collect.log") -> tuple[subprocess.Popen[bytes], Path]:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(CONFIG, encoding="utf-8")
    log_file = tmp_path / log_name
    with open(log_file, "wb") as log_output:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "collect", str(config), "--socket", path,
             "--db", str(database), "--log-level", "info", "--log-format", "json", *extra],
            stderr=log_output, env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True)
    _STARTED.append(process)
    # the first log line is written once the socket is bound and its mode set
    wait_for(lambda: '"collector-started"' in log_file.read_text(encoding="utf-8")
             or process.poll() is not None, "the collector's socket")
    assert process.poll() is None, log_file.read_text(encoding="utf-8")
    return process, log_file


def final_counters(log_file: Path) -> dict[str, Any]:
    for line in log_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and json.loads(line)["event"] == "collector-stopped":
            return dict(json.loads(line))
    raise AssertionError("no collector-stopped line:\n" + log_file.read_text(encoding="utf-8"))


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "tlsrpt.toml"
    config.write_text(CONFIG, encoding="utf-8")
    regular = tmp_path / "file"
    regular.write_text("keep", encoding="utf-8")
    for extra, message in ((["--db", str(tmp_path / "x.db")], "no socket path"),
                           (["--socket", str(regular)], "not a socket"),
                           (["--socket", str(tmp_path / "s"), "--mode", "9"], "collector.mode")):
        done = subprocess.run([sys.executable, "-m", "engine", "collect", str(config), *extra],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
    assert regular.read_text(encoding="utf-8") == "keep"


def test_sigterm_stores_everything_received_and_exits_0(tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    database = tmp_path / "events.db"
    # a long batch interval: without the flush on SIGTERM nothing would be stored yet
    process, log_file = start_collector(tmp_path, path, database, "--batch-interval", "60000",
                                        "--batch-size", "100000")
    with sender(path) as client:
        for sequence in range(2000):
            client.send(unique_datagram(sequence))
    process.send_signal(signal.SIGTERM)
    assert process.wait(PATIENCE) == 0
    counters = final_counters(log_file)
    assert counters["received"] == 2000 and counters["events_stored"] == 2000
    assert event_count(database) == 2000
    assert len(stored_domains(database)) == 2000
    assert not os.path.exists(path)  # the socket file went with the collector


def test_sigkill_leaves_a_sound_store_holding_a_prefix_of_committed_batches(
        tmp_path: Path) -> None:
    path = short_socket_path(tmp_path)
    database = tmp_path / "events.db"
    process, _ = start_collector(tmp_path, path, database, "--batch-size", "50",
                                 "--batch-interval", "10")
    stop = threading.Event()
    sent: list[int] = []

    def stream() -> None:
        with sender(path) as client:
            sequence = 0
            while not stop.is_set():
                try:
                    client.send(unique_datagram(sequence))
                except OSError:  # the collector is gone
                    return
                sent.append(sequence)
                sequence += 1

    streamer = threading.Thread(target=stream)
    streamer.start()
    wait_for(lambda: event_count(database) >= 500, "some committed batches")
    os.killpg(process.pid, signal.SIGKILL)  # mid-stream, whatever it was doing
    process.wait(PATIENCE)
    stop.set()
    streamer.join()

    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = sorted(int(domain.removeprefix("seq").removesuffix(".example"))
                    for domain in stored_domains(database))
    # a prefix of what was sent: no gaps, and one event per datagram (no duplicates)
    assert stored == list(range(len(stored)))
    assert event_count(database) == len(stored)
    assert 500 <= len(stored) <= len(sent)

    # the next start removes the dead collector's socket file and carries on
    process, log_file = start_collector(tmp_path, path, database, log_name="again.log")
    with sender(path) as client:
        client.send(unique_datagram(10**6))
    process.send_signal(signal.SIGTERM)
    assert process.wait(PATIENCE) == 0
    assert event_count(database) == len(stored) + 1


SENDER = r"""
import json, socket, sys, time
path, count, mode, fixture = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
template = json.loads(open(fixture, "rb").read())
variants = []
for n in range(500):  # 500 recipient domains; one delivery in ten fails its sts policy
    d = f"d{n}.example"
    failed = dict(template, d=d, pr=f"v=TLSRPTv1;rua=mailto:tlsrpt@{d}")
    sts = {k: v for k, v in template["policies"][0].items() if k != "failure-details"}
    passed = dict(failed, policies=[dict(sts, t=0, f=0), template["policies"][1]])
    variants.append((json.dumps(passed).encode(), json.dumps(failed).encode()))
client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
client.connect(path)
flags = socket.MSG_DONTWAIT if mode == "dontwait" else 0
sent = refused = 0
for i in range(count):
    passed, failed = variants[i % 500]
    try:
        client.send(failed if i % 10 == 0 else passed, flags)
        sent += 1
    except BlockingIOError:  # libtlsrpt's fate for a datagram the socket has no room for
        refused += 1
print(json.dumps({"sent": sent, "refused": refused}))
"""


@pytest.mark.parametrize("mode", ["blocking", "dontwait"])
def test_a_burst_of_100000_datagrams(tmp_path: Path, mode: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = short_socket_path(tmp_path)
    database = tmp_path / "events.db"
    process, log_file = start_collector(tmp_path, path, database)
    burst = subprocess.run([sys.executable, "-c", SENDER, path, "100000", mode, str(FIXTURE)],
                           capture_output=True, text=True, check=True)
    figures = json.loads(burst.stdout)
    process.send_signal(signal.SIGTERM)
    assert process.wait(PATIENCE) == 0
    counters = final_counters(log_file)
    with capsys.disabled():
        print(f"\nburst ({mode}): 100000 datagrams, {figures['sent']} accepted by the kernel, "
              f"{counters['received']} received, {figures['refused']} refused (EAGAIN)")
    # every datagram the kernel accepted was read, decoded and stored: two events each
    assert figures["sent"] + figures["refused"] == 100_000
    assert counters["received"] == figures["sent"]
    assert counters["queue_overflow"] == counters["truncated"] == counters["dropped_total"] == 0
    assert counters["events_stored"] == 2 * counters["received"] == event_count(database)
    if mode == "blocking":
        assert figures["sent"] == 100_000  # no loss when the sender may wait
