"""Running a hostile input under a memory bound and a hang guard, and measuring it.

`in_child` runs the `tlsrpt` command in a child process whose address space is capped with
RLIMIT_AS: an unbounded read or expansion ends in MemoryError there instead of swapping the
machine. The timeout only proves that nothing hangs; no test asserts a wall-clock time. Each
run records its elapsed time and peak resident memory in `MEASURED`, which the hostile suite
prints at the end (`pytest -s tests/hostile`) for the record.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

MIB = 1024 * 1024
#: the child's address-space cap: Python, lark and RE2 take ~300 MiB of address space when
#: idle; the cap leaves headroom for real work and none for gigabytes
ADDRESS_SPACE = 1024 * MIB
#: generous: only a hang gets near it
HANG_GUARD = 300.0

T = TypeVar("T")

_PEAK = "\nPEAK_RSS_KIB="
#: the child: the CLI, then its own peak resident memory (ru_maxrss, KiB on Linux) on stderr
_WRAPPER = (
    "import resource, sys\n"
    "from engine.cli import main\n"
    "try:\n"
    "    status = main(sys.argv[1:])\n"
    "finally:\n"
    "    sys.stdout.flush()\n"
    f"    sys.stderr.write({_PEAK!r} + str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "sys.exit(status)\n"
)


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str
    seconds: float
    peak_rss_mib: float


MEASURED: list[tuple[str, float, float]] = []


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def in_child(label: str, args: list[str], *, stdin: IO[bytes] | None = None,
             feed: Callable[[], Iterator[bytes]] | None = None,
             cwd: str | None = None) -> Run:
    """`python -m engine ARGS` under the address-space cap; `feed` writes stdin in chunks from
    a thread (the parent never holds the whole hostile input either)."""
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", _WRAPPER, *args], preexec_fn=_cap,
                             stdin=subprocess.PIPE if feed else stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    writer = None
    if feed is not None:
        def write() -> None:
            assert child.stdin is not None
            try:
                for chunk in feed():
                    child.stdin.write(chunk)
                child.stdin.close()
            except (BrokenPipeError, ValueError):
                pass  # the child refused the input early, which is the point
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
    try:
        out, err = child.communicate(timeout=HANG_GUARD) if feed is None else _drain(child)
    except subprocess.TimeoutExpired:
        child.kill()
        raise AssertionError(f"{label}: still running after {HANG_GUARD} s") from None
    seconds = time.monotonic() - start
    if writer is not None:
        writer.join(HANG_GUARD)
    text, _, peak = err.decode("utf-8", "replace").rpartition(_PEAK)
    run = Run(child.returncode, out.decode("utf-8", "replace"), text, seconds,
              int(peak) / 1024 if peak.strip().isdigit() else float("nan"))
    MEASURED.append((label, seconds, run.peak_rss_mib))
    assert "MemoryError" not in run.err, f"{label}: ran out of the {ADDRESS_SPACE} cap"
    assert "internal error" not in run.err, f"{label}: {run.err[-500:]}"
    return run


def _drain(child: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    assert child.stdout is not None and child.stderr is not None
    result: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: result.__setitem__(n, s.read()),
                                daemon=True)
               for n, s in (("out", child.stdout), ("err", child.stderr))]
    for reader in readers:
        reader.start()
    child.wait(timeout=HANG_GUARD)
    for reader in readers:
        reader.join(HANG_GUARD)
    return result.get("out", b""), result.get("err", b"")


def traced(label: str, work: Callable[[], T], *, peak_mib: float,
           seconds: float = HANG_GUARD) -> T:
    """`work()` in a thread under a hang guard, asserting the tracemalloc peak; records it."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as err:  # noqa: BLE001 - handed back to the test below
            failure.append(err)

    tracemalloc.start()
    start = time.monotonic()
    try:
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(seconds)
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not worker.is_alive(), f"{label}: still running after {seconds} s"
    MEASURED.append((label, elapsed, peak / MIB))
    if failure:
        raise failure[0]
    assert peak < peak_mib * MIB, f"{label}: peak {peak / MIB:.1f} MiB"
    return outcome[0]  # type: ignore[no-any-return]
