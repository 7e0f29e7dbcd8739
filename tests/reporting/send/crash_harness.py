"""`python -m tests.reporting.send.crash_harness STEP SECONDS ARGS...`: the `tlsrpt` command
line (ARGS), with the scheduler's crash-test checkpoint set so that the pass writes
`paused at STEP` to standard error and sleeps SECONDS the first time it reaches STEP.
test_crash.py kills the process there: a real process, stopped at a known step."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable

from engine.cli import main
from engine.reporting.send import scheduler

PAUSED: str = "paused at"


def pause_once_at(step: str, seconds: float) -> Callable[[str], None]:
    reached: set[str] = set()

    def checkpoint(name: str) -> None:
        if name != step or name in reached:
            return
        reached.add(name)
        print(f"{PAUSED} {name}", file=sys.stderr, flush=True)
        time.sleep(seconds)

    return checkpoint


if __name__ == "__main__":
    step, seconds, *arguments = sys.argv[1:]
    assert step in scheduler.CHECKPOINT_STEPS, step
    # The command line imports run_once when a command runs, so it gets this one.
    scheduler.run_once = functools.partial(  # type: ignore[assignment]
        scheduler.run_once, checkpoint=pause_once_at(step, float(seconds)))
    sys.exit(main(arguments))
