"""Time, injected: the scheduler asks a Clock, tests hand it a FakeClock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


class SystemClock:
    def now(self) -> datetime:
        """Aware UTC wall-clock time: used for decisions (which fire is due)."""
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        """Seconds for pacing and measuring; never jumps."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a few milliseconds at most: the last stretch to a due time), precisely."""
        time.sleep(seconds)


class FakeClock(SystemClock):
    """A clock that moves only when told: `FakeClock(datetime(2024, 1, 15, tzinfo=utc)).advance(60)`."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
