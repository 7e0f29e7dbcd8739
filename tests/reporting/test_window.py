"""engine.reporting.window: report windows (spec/reporting.md 3.3) and RFC 3339 bounds (1.2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config.settings import Frequency
from engine.reporting.window import rfc3339, window

MAY_6_2024 = 1714953600        # Monday 2024-05-06T00:00:00Z (the spec's worked example)
MAY_5_2024 = MAY_6_2024 - 86400  # Sunday
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc(t: int) -> datetime:
    return EPOCH + timedelta(seconds=t)


def test_worked_example_daily_window() -> None:
    assert window(Frequency.DAILY, MAY_6_2024 + 12345) == (1714953600, 1715040000)


@pytest.mark.parametrize(("t", "expected"), [
    (MAY_6_2024, (MAY_6_2024, MAY_6_2024 + 3600)),
    (MAY_6_2024 + 3599, (MAY_6_2024, MAY_6_2024 + 3600)),
    (MAY_6_2024 + 3600, (MAY_6_2024 + 3600, MAY_6_2024 + 7200)),
    (0, (0, 3600)),
])
def test_hourly(t: int, expected: tuple[int, int]) -> None:
    assert window(Frequency.HOURLY, t) == expected


@pytest.mark.parametrize(("t", "expected"), [
    (MAY_6_2024, (MAY_6_2024, MAY_6_2024 + 86400)),
    (MAY_6_2024 + 86399, (MAY_6_2024, MAY_6_2024 + 86400)),
    (MAY_6_2024 - 1, (MAY_5_2024, MAY_6_2024)),
    (0, (0, 86400)),
    (86399, (0, 86400)),
])
def test_daily(t: int, expected: tuple[int, int]) -> None:
    assert window(Frequency.DAILY, t) == expected


def test_weekly_across_a_sunday() -> None:
    week = 7 * 86400
    saturday_last_second = MAY_5_2024 - 1
    # the Saturday's last second closes the week that started on Sunday 2024-04-28
    assert window(Frequency.WEEKLY, saturday_last_second) == (MAY_5_2024 - week, MAY_5_2024)
    # the Sunday's first second opens the next one, which also holds the Monday
    assert window(Frequency.WEEKLY, MAY_5_2024) == (MAY_5_2024, MAY_5_2024 + week)
    assert window(Frequency.WEEKLY, MAY_6_2024 + 5000) == (MAY_5_2024, MAY_5_2024 + week)
    assert rfc3339(MAY_5_2024) == "2024-05-05T00:00:00Z"
    assert utc(MAY_5_2024).strftime("%A") == "Sunday"


def test_weekly_at_the_epoch() -> None:
    # 1970-01-01 was a Thursday: its week began on Sunday 1969-12-28, before the epoch
    start, end = window(Frequency.WEEKLY, 0) or (0, 0)
    assert (start, end) == (-4 * 86400, 3 * 86400)
    assert rfc3339(start) == "1969-12-28T00:00:00Z"
    assert rfc3339(end - 1) == "1970-01-03T23:59:59Z"
    assert window(Frequency.WEEKLY, 3 * 86400) == (3 * 86400, 10 * 86400)  # Sunday 01-04


def test_never_has_no_window() -> None:
    assert window(Frequency.NEVER, MAY_6_2024) is None


def test_unknown_frequency_and_bad_time_are_refused() -> None:
    with pytest.raises(ValueError):
        window(1, MAY_6_2024)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        window(Frequency.DAILY, True)
    with pytest.raises(TypeError):
        rfc3339(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("t", "text"), [
    (0, "1970-01-01T00:00:00Z"),
    (MAY_6_2024, "2024-05-06T00:00:00Z"),
    (1715039999, "2024-05-06T23:59:59Z"),
    (951782400, "2000-02-29T00:00:00Z"),
    (253402300799, "9999-12-31T23:59:59Z"),
    (-62135596800, "0001-01-01T00:00:00Z"),
    (-1, "1969-12-31T23:59:59Z"),
])
def test_rfc3339(t: int, text: str) -> None:
    assert rfc3339(t) == text


def test_rfc3339_outside_four_digit_years() -> None:
    with pytest.raises(ValueError):
        rfc3339(253402300800)
    with pytest.raises(ValueError):
        rfc3339(-62135596801)


@given(st.integers(-62135596800, 253402300799))
def test_rfc3339_matches_datetime(t: int) -> None:
    moment = utc(t)
    assert rfc3339(t) == (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
                          f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


@given(st.sampled_from([Frequency.HOURLY, Frequency.DAILY, Frequency.WEEKLY]),
       st.integers(-10**10, 10**11))
def test_window_properties(frequency: Frequency, t: int) -> None:
    found = window(frequency, t)
    assert found is not None
    start, end = found
    length = {Frequency.HOURLY: 3600, Frequency.DAILY: 86400, Frequency.WEEKLY: 604800}
    assert start <= t < end
    assert end - start == length[frequency]
    assert start % (3600 if frequency == Frequency.HOURLY else 86400) == 0
    assert window(frequency, start) == window(frequency, end - 1) == found
    if frequency == Frequency.WEEKLY and t > -62135596800 + 604800:
        assert utc(start).weekday() == 6  # Python's Sunday
