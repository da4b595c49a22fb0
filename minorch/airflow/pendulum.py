"""The few `pendulum` calls Airflow DAG files make for dates, served when pendulum is not installed:
`pendulum.datetime(2024, 1, 1, tz="Europe/Berlin")`, `duration(days=1)`, `timezone(name)`, `now()`,
`today()`, `yesterday()`, `parse(text)`, `time(h, m)` and `UTC`. They return standard datetimes, times and
timedeltas; any other name is a load error that says to install pendulum."""

from __future__ import annotations

from datetime import datetime as _datetime
from datetime import time as _time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")


def timezone(name: str | Any) -> Any:
    return ZoneInfo(name) if isinstance(name, str) else name


def datetime(
    year: int,
    month: int = 1,
    day: int = 1,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    tz: Any = UTC,
    **kw: Any,
) -> _datetime:
    tz = kw.pop("tzinfo", tz)
    return _datetime(year, month, day, hour, minute, second, microsecond, tzinfo=timezone(tz) if tz else None)


def duration(**parts: float) -> timedelta:
    weeks = parts.pop("weeks", 0) + 4 * parts.pop("months", 0) + 52 * parts.pop("years", 0)
    return timedelta(weeks=weeks, **parts)


def now(tz: Any = UTC) -> _datetime:
    return _datetime.now(timezone(tz))


def today(tz: Any = UTC) -> _datetime:
    return now(tz).replace(hour=0, minute=0, second=0, microsecond=0)


def yesterday(tz: Any = UTC) -> _datetime:
    return today(tz) - timedelta(days=1)


def parse(text: str, tz: Any = UTC) -> _datetime:
    value = _datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone(tz))


def time(hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> _time:
    return _time(hour, minute, second, microsecond)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from ..errors import DagError

    raise DagError(f"pendulum.{name} is not among the pendulum calls minorch serves", hint="install pendulum")
