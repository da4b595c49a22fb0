"""Short text forms of times, durations and sizes, as the screens print them."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def when(moment: float | str | None, tz: str = "UTC", *, seconds: bool = False, offset: bool = False) -> str:
    """A time (epoch seconds or ISO text) in the zone `tz`: "2024-05-01 12:05", or with `seconds`
    the shorter "05-01 12:05:03" (for tries, whose year is rarely in doubt); `offset` adds the
    zone's UTC offset: "2024-05-01 12:05 +02:00".

    ISO text is how the store names logical dates; epoch seconds are how it stamps starts and ends.
    """
    if moment is None or moment == "":
        return "-"
    stamp = datetime.fromisoformat(moment) if isinstance(moment, str) else datetime.fromtimestamp(moment, timezone.utc)
    local = stamp.astimezone(ZoneInfo(tz))
    text = local.strftime("%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if offset:
        zone = local.strftime("%z")
        text += f" {zone[:3]}:{zone[3:]}"
    return text


def span(first: str, last: str, tz: str = "UTC") -> str:
    """Two logical dates (ISO text) as a range in `tz`, as short as it stays clear:
    "2024-01-17 .. 2024-02-10" when both are midnights, else "2024-05-06 10:00 .. 12:30" on
    one day, else both in full. One date alone when they are the same."""
    a, b = when(first, tz), when(last, tz)
    if a == b:
        return a[:10] if a.endswith(" 00:00") else a
    if a.endswith(" 00:00") and b.endswith(" 00:00"):
        return f"{a[:10]} .. {b[:10]}"
    return f"{a} .. {b[11:]}" if a[:10] == b[:10] else f"{a} .. {b}"


def duration(seconds: float | None) -> str:
    """Seconds as "3ms", "4.20s", "12.3s", "4m05s", "2h03m"; "-" when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size(count: int | None) -> str:
    """Bytes as "812 B", "12.3 MiB"; "-" when unknown."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError(count)
