"""Durations at the public edge: timedelta, milliseconds, or strings like "15 min", "2 weeks"."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from durable.errors import InvalidDurationError

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
# Calendar-free lengths: a sleep of "1 month" is always 30 days, "1 year" always 365 days.
MONTH_MS = 30 * DAY_MS
YEAR_MS = 365 * DAY_MS
_UNITS_MS = {
    "ms": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "s": 1000,
    "sec": 1000,
    "secs": 1000,
    "second": 1000,
    "seconds": 1000,
    "m": 60_000,
    "min": 60_000,
    "mins": 60_000,
    "minute": 60_000,
    "minutes": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hrs": 3_600_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "d": DAY_MS,
    "day": DAY_MS,
    "days": DAY_MS,
    "w": WEEK_MS,
    "wk": WEEK_MS,
    "wks": WEEK_MS,
    "week": WEEK_MS,
    "weeks": WEEK_MS,
    "mo": MONTH_MS,
    "month": MONTH_MS,
    "months": MONTH_MS,
    "y": YEAR_MS,
    "yr": YEAR_MS,
    "yrs": YEAR_MS,
    "year": YEAR_MS,
    "years": YEAR_MS,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$")

Duration = timedelta | int | float | str
MAX_MS = 2**53  # the largest whole number Redis scores and Lua hold exactly


def to_ms(value: Duration) -> int:
    """Convert a duration to whole milliseconds (rounded); negative values are rejected."""
    if isinstance(value, bool):
        raise InvalidDurationError(value, "booleans are not durations")
    if isinstance(value, timedelta):
        ms = value.total_seconds() * 1000
    elif isinstance(value, int | float):
        try:
            ms = float(value)
        except OverflowError as exc:
            raise InvalidDurationError(value, "too large") from exc
    elif isinstance(value, str):
        ms = _parse(value)
    else:
        raise InvalidDurationError(value, f"unsupported type {type(value).__name__}")
    if math.isnan(ms) or math.isinf(ms) or ms > MAX_MS:
        raise InvalidDurationError(value, "not a finite number of at most 2**53 ms")
    if ms < 0:
        raise InvalidDurationError(value, "durations cannot be negative")
    return round(ms)


def _parse(text: str) -> float:
    match = _PATTERN.match(text)
    if not match:
        raise InvalidDurationError(text)
    number, unit = match.groups()
    factor = _UNITS_MS.get(unit.lower()) if unit else 1
    if factor is None:
        raise InvalidDurationError(text, f"unknown unit {unit!r}")
    try:
        return float(number) * factor
    except OverflowError as exc:
        raise InvalidDurationError(text, "too large") from exc


def datetime_to_ms(when: datetime) -> int:
    if when.tzinfo is None:
        raise InvalidDurationError(when, "naive datetimes are ambiguous; pass an aware datetime")
    return round(when.timestamp() * 1000)
