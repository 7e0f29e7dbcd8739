"""Structured logs for the long-running commands (`serve`, `collect`, `report`).

One line per event: `2026-11-29T14:00:00Z warning delivery-failed report=... error="..."`, or
one JSON object per line with `--log-format json`. Quiet by default: only warnings and errors
are written; `--log-level info` adds one line per action, `debug` more. Messages are stable
event names with fields, never prose with values baked in, so that they can be grepped and
parsed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any, Final

LOGGER: Final = logging.getLogger("tlsrpt")

LEVELS: Final = ("debug", "info", "warning", "error")
FORMATS: Final = ("text", "json")


def log(level: int, event: str, **fields: Any) -> None:
    """Write `event` with its fields when `level` is enabled (cheap when it is not)."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, event, extra={"fields": fields})


def info(event: str, **fields: Any) -> None:
    log(logging.INFO, event, **fields)


def warning(event: str, **fields: Any) -> None:
    log(logging.WARNING, event, **fields)


def error(event: str, **fields: Any) -> None:
    log(logging.ERROR, event, **fields)


def debug(event: str, **fields: Any) -> None:
    log(logging.DEBUG, event, **fields)


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
        text = ",".join(str(v) for v in value)  # units=mailto:a@b,https://c: easy to read
    else:
        text = json.dumps(value, ensure_ascii=False)
    # bare when it cannot be mistaken for a separator; quoted (JSON string rules) otherwise
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """`time level event key=value ...` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts = [_timestamp(record.created), record.levelname.lower(), record.getMessage()]
        parts.extend(f"{key}={_text_value(value)}" for key, value in fields.items())
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        entry = {"time": _timestamp(record.created), "level": record.levelname.lower(),
                 "event": record.getMessage(), **fields}
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "warning", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send the `tlsrpt` logger to `stream` (standard error by default), replacing any
    handler an earlier call installed (tests call `main` many times in one process)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    for old in list(LOGGER.handlers):
        LOGGER.removeHandler(old)
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level.upper())
    LOGGER.propagate = False
