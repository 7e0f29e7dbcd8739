"""Print what the hostile suite measured (time, peak memory) at the end of the run."""

from __future__ import annotations

from typing import Any

from tests.hostile.bounds import MEASURED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASURED:
        return
    terminalreporter.section("hostile inputs: time and peak memory")
    for label, seconds, peak in MEASURED:
        terminalreporter.write_line(f"{label:<60} {seconds:7.2f} s {peak:9.1f} MiB")
