"""Report windows (spec/reporting.md 3.3) and the RFC 3339 form of their bounds (1.2).

Pure integer arithmetic on Unix seconds: no time zones, no local clock, no leap seconds
(Unix time has none), so every node computes the same windows.
"""

from __future__ import annotations

from typing import Final

from engine.config.settings import Frequency

HOUR: Final = 3600
DAY: Final = 86400
WEEK: Final = 7 * DAY
#: 1970-01-01 was a Thursday; adding 4 makes day 0 of the week a Sunday
_EPOCH_WEEKDAY_SHIFT: Final = 4
#: window lengths of the frequencies whose windows are aligned multiples of their length, for
#: intake's hot loops, which compute `start = t - t % size` inline instead of calling `window`
ALIGNED_WINDOW_SECONDS: Final = {Frequency.HOURLY: HOUR, Frequency.DAILY: DAY}


def window(frequency: Frequency, t: int) -> tuple[int, int] | None:
    """The half-open window `[start, end)` containing `t`, or None for `never`."""
    if isinstance(t, bool) or not isinstance(t, int):
        # a bool is an int to Python, but a time of `True` is always a caller's bug
        raise TypeError(f"time must be an int, not {type(t).__name__}")
    if frequency == Frequency.NEVER:
        return None
    if frequency == Frequency.HOURLY:
        start = t - t % HOUR
        return start, start + HOUR
    if frequency == Frequency.DAILY:
        start = t - t % DAY
        return start, start + DAY
    if frequency == Frequency.WEEKLY:
        day = t - t % DAY
        weekday = (day // DAY + _EPOCH_WEEKDAY_SHIFT) % 7  # 0 = Sunday
        start = day - weekday * DAY
        return start, start + WEEK
    raise ValueError(f"unknown report frequency {frequency!r}")


def rfc3339(t: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` for Unix time `t` (always UTC, no fraction; spec 1.2).

    Formatted by hand rather than with `strftime`: glibc's `%Y` does not zero-pad years below
    1000, and the output must always be exactly 20 characters.
    """
    if isinstance(t, bool) or not isinstance(t, int):
        raise TypeError(f"time must be an int, not {type(t).__name__}")
    days, seconds = divmod(t, DAY)
    year, month, day = _civil_from_days(days)
    if not 1 <= year <= 9999:
        raise ValueError(f"time {t} is outside the years 0001-9999 of RFC 3339")
    hour, rest = divmod(seconds, HOUR)
    minute, second = divmod(rest, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.

    Howard Hinnant's `civil_from_days`: exact for every integer, no `datetime` range limits
    or platform-dependent `gmtime`.
    """
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day
