"""Running the analysis on hostile input under a hang guard and a memory bound."""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

from engine.reporting.analysis.analyze import Analysis, analyze_bytes

MIB = 1024 * 1024


def guarded(data: bytes, *, seconds: float = 60.0, peak_mib: float = 64.0,
            **options: Any) -> Analysis:
    """analyze_bytes in a thread with a hang guard (a join with a timeout, not a timing
    assertion), asserting the traced memory peak; the input is built before tracing starts."""
    outcome: list[Analysis] = []
    tracemalloc.start()
    try:
        worker = threading.Thread(target=lambda: outcome.append(analyze_bytes(data, **options)),
                                  daemon=True)
        worker.start()
        worker.join(seconds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not worker.is_alive(), f"analysis still running after {seconds} s"
    assert peak < peak_mib * MIB, f"peak {peak / MIB:.1f} MiB"
    return outcome[0]
