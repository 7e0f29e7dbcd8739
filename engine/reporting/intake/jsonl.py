"""`tlsrpt record`: JSON Lines of TLS outcomes into the event store.

Each line is one event in the shape of spec/reporting.md 3.1. A bad line is rejected with its
line number and the reason; the good lines are kept. The window of each event comes from the
frequency that `report.tls.aggregate.send` gives for its domain (or the line's own
`frequency`); `never` and report messages record nothing.

Speed: an MTA writes the same line over and over with only `time` and `event_id` changed (the
same domains, policies, failures, destinations). `LineTemplates` remembers each such line
with those two values cut out, together with what it normalised to; a later line with the
same text around its two values is then an event without parsing its JSON again. A template
is only kept after proving, by parsing a copy with both values changed, that the cut-out
tokens are the top-level `time` and `event_id` and nothing else; any line that does not
match one goes through `json.loads` and `intake.Normaliser`, so the result is the same.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from engine.config.config import Config
from engine.config.settings import Frequency
from engine.reporting.intake.normalise import (MAX_TIME, MEMO_CHARS, MEMO_LIMIT, EventError,
                                      Normaliser, plain_text)
from engine.reporting.model import Event
from engine.reporting.store.interface import EventStore
from engine.reporting.window import ALIGNED_WINDOW_SECONDS, window

#: Longest line accepted: an event is a few hundred bytes; a megabyte is certainly not one.
MAX_LINE_BYTES: Final = 1 << 20
#: Events written per transaction. A batch holds the write lock for a few milliseconds;
#: larger batches mean fewer counter updates (one per report key and batch, not per event).
BATCH: Final = 10_000
#: `progress` is called after every this many lines
PROGRESS_EVERY: Final = 10_000
_FREQUENCIES: Final = {"never": Frequency.NEVER, "hourly": Frequency.HOURLY,
                       "daily": Frequency.DAILY, "weekly": Frequency.WEEKLY}
# The two per-event values, as the documented format writes them: `"event_id":"<id>"` then
# `"time":<integer>`, next to each other (JSON white space allowed between tokens). An id
# without escapes is its own text. Lines written otherwise never match a template: they are
# parsed as usual.
_JSON_SPACE: Final = r"[ \t\n\r]*"
_TOKENS: Final = re.compile(
    rf'"event_id"{_JSON_SPACE}:{_JSON_SPACE}"([^"\\\x00-\x1f]*)"{_JSON_SPACE},'
    rf'{_JSON_SPACE}"time"{_JSON_SPACE}:{_JSON_SPACE}(0|-?[1-9][0-9]*)(?=[ \t\n\r,}}])')

#: digits of MAX_TIME: a longer time token is out of range without converting it
_TIME_DIGITS: Final = len(str(MAX_TIME))

#: a template: the line before and after its id-and-time tokens
_Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Template:
    """What every line of one template stands for, apart from its time and id."""

    event: Event                   # the first line's event (time and id are replaced)
    warnings: tuple[str, ...]
    frequency: Frequency | None    # the line's own `frequency`, or None: the configured one


class LineTemplates:
    """Lines seen before, with `time` and `event_id` cut out (see the module documentation)."""

    def __init__(self, *, limit: int = MEMO_LIMIT, chars: int = MEMO_CHARS) -> None:
        self._limit = limit
        self._chars_limit = chars
        self._chars = 0  # characters held by the keys (lines can be a megabyte each)
        self._templates: dict[_Key, _Template] = {}

    def match(self, line: str) -> tuple[_Template, int, str] | None:
        """(template, time, event_id) when `line` is a known template filled in with a
        valid time and a plain id (one that normalises to itself), else None."""
        tokens = _TOKENS.search(line)
        if tokens is None:
            return None
        start, end = tokens.span()
        template = self._templates.get((line[:start], line[end:]))
        if template is None:
            return None
        digits, event_id = tokens.group(2), tokens.group(1)
        # more digits than MAX_TIME has is out of range (and int() refuses > 4300 digits)
        if len(digits) > _TIME_DIGITS:
            return None
        time = int(digits)
        if not 0 <= time <= MAX_TIME or not plain_text(event_id):
            return None
        return template, time, event_id

    def learn(self, line: str, raw: dict[str, Any], event: Event, warnings: list[str],
              frequency: Frequency | None) -> None:
        """Remember `line`, which parsed to `raw` and normalised to `event`, if its tokens
        provably are the top-level time and id."""
        tokens = _TOKENS.search(line)
        if tokens is None:
            return
        start, end = tokens.span()
        key = (line[:start], line[end:])
        time, event_id = int(tokens.group(2)), tokens.group(1)
        if key in self._templates or raw.get("time") != time \
                or raw.get("event_id") != event_id or event.time != time \
                or event.event_id != event_id:
            return
        # the proof: other values in their place must change the parse in those two only
        other_time, other_id = time + 1, event_id + "x"
        try:
            parsed = json.loads(f'{key[0]}"event_id":"{other_id}","time":{other_time}{key[1]}')
        except ValueError:
            return
        if parsed != {**raw, "time": other_time, "event_id": other_id}:
            return
        size = len(key[0]) + len(key[1])
        if len(self._templates) >= self._limit or self._chars + size > self._chars_limit:
            self._templates.clear()
            self._chars = 0
        self._chars += size
        self._templates[key] = _Template(event, tuple(warnings), frequency)


@dataclass
class RecordLinesResult:
    accepted: int = 0
    ignored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)


def record_lines(config: Config, store: EventStore, lines: Iterable[bytes | str], *,
                 now: int,
                 progress: Callable[[int, RecordLinesResult], None] | None = None) -> RecordLinesResult:
    """Read events from JSON Lines and store the valid ones (batched).

    `progress(lines read, result so far)` is called every PROGRESS_EVERY lines (and not at
    the end: the caller reports the final figures itself)."""
    with _collector_paused():
        return _record(config, store, lines, now, progress)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a bulk load.

    Intake makes no reference cycles (parsed JSON, events, tuples: reference counting frees
    them all), but a batch holds thousands of live events, and their allocations make the
    collector walk the whole heap again and again: about 15% of the ingest time, for nothing.
    The collector is switched back on (if it was on) however the load ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _record(config: Config, store: EventStore, lines: Iterable[bytes | str], now: int,
            progress: Callable[[int, RecordLinesResult], None] | None) -> RecordLinesResult:
    result = RecordLinesResult()
    normalise = Normaliser()
    templates = LineTemplates()
    # the configured frequency of a domain, evaluated once per run rather than per event
    frequencies: dict[str, Frequency] = {}
    batch: list[tuple[Event, int, int]] = []
    for number, line in enumerate(lines, start=1):
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress(number, result)
        if isinstance(line, bytes):
            if len(line) > MAX_LINE_BYTES:
                result.rejected.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
                continue
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as err:
                result.rejected.append((number, f"not UTF-8 ({err.reason})"))
                continue
        if len(line) > MAX_LINE_BYTES:
            result.rejected.append((number, f"line longer than {MAX_LINE_BYTES} bytes"))
            continue
        known = templates.match(line)
        if known is not None:
            template, time, event_id = known
            shared = template.event
            # positional: measurably cheaper than keywords, on the hottest line of intake
            event = Event(time, shared.report_domain, shared.policy, shared.success,
                          shared.failure_details, shared.destinations, event_id)
            given = template.frequency
            if template.warnings:
                result.warnings.extend((number, warning) for warning in template.warnings)
        else:
            try:
                raw = json.loads(line)
            except (ValueError, RecursionError) as err:  # ValueError: JSONDecodeError, and
                # an integer longer than Python converts (4300 digits)
                if not line.strip():
                    continue  # a blank line is no event (checked only here: it is rare)
                reason = (err.msg if isinstance(err, json.JSONDecodeError) else
                          "nested too deeply" if isinstance(err, RecursionError) else
                          str(err).partition(":")[0])
                result.rejected.append((number, f"not JSON: {reason}"))
                continue
            if type(raw) is not dict:
                result.rejected.append((number, "an event must be a JSON object"))
                continue
            if raw.get("is_report_message") is True:
                result.ignored += 1  # RFC 8460 §3: reports' own deliveries are not reported
                continue
            try:
                event, warnings = normalise(raw, now=now)
                given = _given_frequency(raw)
            except EventError as err:
                result.rejected.append((number, f"{err.path}: {err.reason}"))
                continue
            if warnings:
                result.warnings.extend((number, warning) for warning in warnings)
            templates.learn(line, raw, event, warnings, given)
        frequency = given if given is not None else frequencies.get(event.report_domain)
        if frequency is None:
            frequency = frequencies[event.report_domain] = config.tls_aggregate(
                event.report_domain).send
        size = ALIGNED_WINDOW_SECONDS.get(frequency)
        if size is not None:  # window() inlined for the common frequencies
            start = event.time - event.time % size
            batch.append((event, start, start + size))
        else:
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


def _given_frequency(raw: dict[str, Any]) -> Frequency | None:
    """The line's own `frequency`, or None when it has none (the configured one applies)."""
    given = raw.get("frequency")
    if given is None:
        return None
    if type(given) is str and given in _FREQUENCIES:
        return _FREQUENCIES[given]
    raise EventError("frequency", "must be hourly, daily, weekly or never")
