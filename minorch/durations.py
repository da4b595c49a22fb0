"""Durations and dates as users write them in TOML, on the command line and in Python.

Durations: ``"45s"``, ``"5m"``, ``"1h30m"``, ``"2d"``, ``"250ms"``, a plain number of seconds,
or a `datetime.timedelta`. ``parse_duration("1h30m") == 5400.0``. Every duration is 0 to 100
years, every date within the years 1900 to 9000: beyond that, date arithmetic at run time
would overflow.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import date, datetime, timedelta, timezone

from .errors import ConfigError

MAX_DURATION = 100 * 365.25 * 86400  # seconds: 100 years, the longest duration any option accepts
FIRST_YEAR, LAST_YEAR = 1900, 9000  # the years a date option may name

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object, *, name: str = "duration") -> float:
    """Seconds as a float; raises ConfigError naming `name` with a hint on bad input."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a duration, not {value!r}", hint='write e.g. "90s", "5m" or "1h30m"')
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        read = _text_seconds(value.strip().replace(" ", ""))
        if read is None:
            raise ConfigError(f"{name} {value!r} is not a duration", hint='write e.g. "45s", "5m", "1h30m" or "2d"')
        seconds = read
    else:
        raise ConfigError(f"{name} must be a duration, not {value!r}", hint='write e.g. "90s", "5m" or "1h30m"')
    if math.isnan(seconds):
        raise ConfigError(f"{name} must be a duration, not {value!r}", hint='write e.g. "90s", "5m" or "1h30m"')
    if seconds < 0:
        raise ConfigError(f"{name} {value!r} is negative", hint="durations are zero or more")
    if seconds > MAX_DURATION:
        raise ConfigError(f"{name} {value!r} is longer than 100 years", hint='write e.g. "30d" or "365d"')
    return seconds


@functools.lru_cache(maxsize=1024)
def _text_seconds(text: str) -> float | None:
    """ "1h30m" -> 5400.0, "90" -> 90.0; None if not a duration. Cached: a project's thousands of
    tasks mostly repeat a few values ("5m", "30s")."""
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        try:
            return float(text)
        except ValueError:
            return None
    return seconds


def format_duration(seconds: float | None) -> str:
    """Short human text: 0.25 -> "250ms", 75 -> "1m15s", 5400 -> "1h30m"."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (sec, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"


def parse_date(value: object, *, name: str = "date", tz: str = "UTC") -> datetime:
    """An aware datetime from "2024-01-15", "2024-01-15T02:30", an ISO string with offset,
    a `date` or a `datetime`; naive values are read in timezone `tz`."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz) if tz != "UTC" else timezone.utc
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{name} {value!r} is not a date", hint="write YYYY-MM-DD or an ISO 8601 time like 2024-01-15T02:30"
            ) from None
    else:
        raise ConfigError(f"{name} {value!r} is not a date", hint="write YYYY-MM-DD")
    if not FIRST_YEAR <= result.year <= LAST_YEAR:
        raise ConfigError(
            f"{name} {value!r} is out of range: years {FIRST_YEAR} to {LAST_YEAR}", hint="write e.g. 2024-01-15"
        )
    if result.tzinfo is None:
        result = result.replace(tzinfo=zone)
    return result
