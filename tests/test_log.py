"""engine.log: one line per event, key=value or JSON, quiet by default, and values that can
always be told apart from the separators around them."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest

from engine import log

#: key=value, the value bare (no space, quote or backslash) or a JSON string
FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "\\]+)')


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    log.configure("info", "text", out)
    yield out
    log.configure()  # back to the default: warnings and errors on standard error


def test_text_lines_are_time_level_event_then_fields(stream: io.StringIO) -> None:
    log.info("delivery-done", report="r1", attempt=2, ok=True, units=["mailto:a@b", "https://c"])
    time_, level, event, *fields = stream.getvalue().rstrip("\n").split(" ")
    assert time_.endswith("Z") and "T" in time_
    assert (level, event) == ("info", "delivery-done")
    assert fields == ["report=r1", "attempt=2", "ok=true", "units=mailto:a@b,https://c"]


def test_values_with_separators_are_quoted_so_a_line_splits_back(stream: io.StringIO) -> None:
    awkward = 'a b="c" \\ d'
    log.warning("delivery-retry", error=awkward, empty="", tab="x\ty", nested={"a": [1, 2]})
    line = stream.getvalue().rstrip("\n")
    fields = dict(FIELD.findall(line.split(" ", 3)[3]))
    assert " ".join(f"{key}={value}" for key, value in fields.items()) == line.split(" ", 3)[3]
    assert json.loads(fields["error"]) == awkward
    assert json.loads(fields["empty"]) == ""
    assert json.loads(fields["tab"]) == "x\ty"
    assert json.loads(json.loads(fields["nested"])) == {"a": [1, 2]}


def test_json_lines_carry_the_fields_typed() -> None:
    out = io.StringIO()
    log.configure("info", "json", out)
    try:
        log.error("report-purged", report="r1", attempts=3, units=["mailto:a@b"])
    finally:
        log.configure()
    entry = json.loads(out.getvalue())
    assert entry["level"] == "error" and entry["event"] == "report-purged"
    assert (entry["report"], entry["attempts"], entry["units"]) == ("r1", 3, ["mailto:a@b"])


def test_quiet_by_default_and_below_the_level_nothing_is_built() -> None:
    out = io.StringIO()
    log.configure(stream=out)

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("formatted although the level is off")

    try:
        log.info("report-rendered", report=Exploding())
        log.debug("detail", value=Exploding())
        log.warning("report-held", report="r1")
    finally:
        log.configure()
    assert out.getvalue().count("\n") == 1 and " warning report-held report=r1" in out.getvalue()


def test_configure_replaces_the_handler_instead_of_adding_one() -> None:
    first, second = io.StringIO(), io.StringIO()
    log.configure("info", "text", first)
    log.configure("info", "text", second)
    try:
        log.info("once")
    finally:
        log.configure()
    assert first.getvalue() == "" and second.getvalue().count("\n") == 1
