"""`tlsrpt record`: JSON Lines of TLS outcomes into the event store.

Each line is one event in the shape of spec/reporting.md 3.1. A bad line is rejected with its
line number and the reason; the good lines are kept. The window of each event comes from the
frequency that `report.tls.aggregate.send` gives for its domain (or the line's own
`frequency`); `never` and report messages record nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from engine.config.config import Config
from engine.config.settings import Frequency
from engine.reporting.intake import EventError, normalise_event
from engine.reporting.model import Event
from engine.reporting.store import EventStore
from engine.reporting.window import window

#: Longest line accepted: an event is a few hundred bytes; a megabyte is certainly not one.
MAX_LINE_BYTES: Final = 1 << 20
#: Events written per transaction.
BATCH: Final = 1_000
_FREQUENCIES: Final = {"never": Frequency.NEVER, "hourly": Frequency.HOURLY,
                       "daily": Frequency.DAILY, "weekly": Frequency.WEEKLY}


@dataclass
class RecordResult:
    accepted: int = 0
    ignored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def _frequency(config: Config, raw: dict[str, Any], event: Event) -> Frequency:
    given = raw.get("frequency")
    if given is not None:
        if given not in _FREQUENCIES:
            raise EventError("frequency", "must be hourly, daily, weekly or never")
        return _FREQUENCIES[given]
    send = config.tls_aggregate(event.report_domain).send
    return send


def record_lines(config: Config, store: EventStore, lines: Iterable[bytes | str], *,
                 now: int) -> RecordResult:
    """Read events from JSON Lines and store the valid ones (batched)."""
    result = RecordResult()
    batch: list[tuple[Event, int, int]] = []
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            if len(line) > MAX_LINE_BYTES:
                result.rejected.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as err:
                result.rejected.append((number, f"not UTF-8 ({err.reason})"))
                continue
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            result.rejected.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
            continue
        try:
            raw = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            reason = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
            result.rejected.append((number, f"not JSON: {reason}"))
            continue
        if not isinstance(raw, dict):
            result.rejected.append((number, "an event must be a JSON object"))
            continue
        if raw.get("is_report_message") is True:
            result.ignored += 1  # RFC 8460 §3: reports' own deliveries are not reported
            continue
        try:
            event, warnings = normalise_event(raw, now=now)
            frequency = _frequency(config, raw, event)
        except EventError as err:
            result.rejected.append((number, f"{err.path}: {err.reason}"))
            continue
        result.warnings.extend((number, warning) for warning in warnings)
        span = window(frequency, event.time)
        if span is None:
            result.ignored += 1  # send = never for this domain
            continue
        batch.append((event, span[0], span[1]))
        if len(batch) >= BATCH:
            result.accepted += store.add(batch)
            batch = []
    if batch:
        result.accepted += store.add(batch)
    return result
