"""Durations over time as data: one value per run (a task's duration or peak memory, a run's wall time),
which of them are outliers, and how a value fills a column of block characters. Pure; the TUI draws it.

An *outlier* is a value far above the others: more than three scaled median absolute deviations above
the median (a robust spread that one slow run does not inflate), and at least half the median above
it, so that a steady series with tiny jitter has none. With fewer than five values nothing is marked.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

EIGHTHS = " ▁▂▃▄▅▆▇█"  # a cell filled by 0/8 .. 8/8 from the bottom
MIN_POINTS = 5  # fewer values than this: no outliers marked


@dataclass(frozen=True)
class Point:
    """One run: its logical date (ISO), its state (the task's, or the run's), and the value (None: none yet)."""

    logical_date: str
    state: str
    value: float | None


@dataclass(frozen=True)
class Trend:
    """A series of runs, oldest first. `limit`: a line to draw across (a task's SLA), or None."""

    title: str
    unit: str  # "seconds" or "bytes"
    points: tuple[Point, ...]
    limit: float | None = None

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points if p.value is not None]

    @property
    def outliers(self) -> frozenset[int]:
        """Indexes into `points` of the outliers (see the module docstring)."""
        high = outlier_threshold(self.values)
        if high is None:
            return frozenset()
        return frozenset(i for i, p in enumerate(self.points) if p.value is not None and p.value > high)

    def top(self) -> float:
        """The value the chart's full height stands for: the largest value or the limit, whichever is higher."""
        return max([*self.values, self.limit or 0.0]) or 1.0


def outlier_threshold(values: Sequence[float]) -> float | None:
    """Values above this are outliers; None when there are too few values to tell."""
    if len(values) < MIN_POINTS:
        return None
    median = statistics.median(values)
    spread = 1.4826 * statistics.median(abs(v - median) for v in values)
    return median + max(3 * spread, 0.5 * median)


def column(value: float | None, top: float, height: int) -> list[str]:
    """The `height` cells of one bar, top to bottom, filled in eighths of a cell: `value / top` of the
    column's height. A value above zero always shows at least one eighth."""
    if value is None or top <= 0 or height <= 0:
        return [" "] * height
    eighths = round(min(1.0, value / top) * height * 8)
    if value > 0:
        eighths = max(1, eighths)
    return [EIGHTHS[max(0, min(8, eighths - 8 * (height - 1 - row)))] for row in range(height)]


def limit_row(limit: float | None, top: float, height: int) -> int | None:
    """The row (0 = top) a horizontal line at `limit` is drawn on, or None when there is no limit."""
    if limit is None or top <= 0 or height <= 0:
        return None
    return max(0, min(height - 1, height - 1 - int(limit / top * height - 1e-9)))
