"""A bar chart of one value per run (a task's duration or peak memory, a run's duration), newest right,
drawn with block characters in eighths of a cell (see `trend.column`).

Bars take their state's colour; an outlier's bar is yellow with `▼` above it; a limit (a task's SLA) is a
red `┄` line where no bar covers it. The left column gives the scale, the bottom row the first and last
logical dates shown. As many of the newest runs show as fit the width.
"""

from __future__ import annotations

from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ...trend import Trend, column, limit_row
from .. import fmt
from ..palette import look

AXIS = Style(color="grey62")
OUTLIER = Style(color="yellow", bold=True)
LIMIT = Style(color="red")
SCALE = 8  # cells of the scale column


def format_value(value: float, unit: str) -> str:
    return fmt.size(int(value)) if unit == "bytes" else fmt.duration(value)


class DurationChart(Widget):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.trend: Trend | None = None
        self.timezone = "UTC"

    def show(self, trend: Trend, timezone: str) -> None:
        self.trend, self.timezone = trend, timezone
        self.refresh()

    def render(self) -> Text:
        trend = self.trend
        width, height = self.content_region.width, self.content_region.height
        bars = height - 3  # a title, a marker row and a date row around them
        if trend is None or bars < 1 or width < SCALE + 4:
            return Text("")
        room = width - SCALE - 1
        step = 2 if room >= 2 * len(trend.points) else 1
        shown = trend.points[-(room // step) :] if trend.points else ()
        first = len(trend.points) - len(shown)
        outliers = {i - first for i in trend.outliers if i >= first}
        top = max([p.value for p in shown if p.value is not None] + [trend.limit or 0.0]) or 1.0
        line_at = limit_row(trend.limit, top, bars)
        columns = [column(p.value, top, bars) for p in shown]
        out = Text(no_wrap=True, overflow="crop")
        title = f"{trend.title}, last {len(shown)} runs"
        if trend.limit is not None:
            title += f" · ┄ SLA {format_value(trend.limit, trend.unit)}"
        if outliers:
            title += f" · ▼ {len(outliers)} outlier{'s' * (len(outliers) != 1)}"
        out.append(title[:width] + "\n", "bold")
        out.append(" " * (SCALE + 1))
        for i in range(len(shown)):
            out.append("▼" if i in outliers else " ", OUTLIER)
            out.append(" " * (step - 1))
        out.append("\n")
        for row in range(bars):
            scale = ""
            if row == 0:
                scale = format_value(top, trend.unit)
            elif row == bars // 2 and bars > 2:
                scale = format_value(top * (bars - row) / bars, trend.unit)
            elif row == bars - 1 and bars > 1:
                scale = "0"
            out.append(scale.rjust(SCALE)[:SCALE] + "│", AXIS)
            cells: list[tuple[str, Style]] = []
            for i, (point, drawn) in enumerate(zip(shown, columns, strict=True)):
                char = drawn[row]
                if char == " " and row == line_at:
                    cells.append(("┄" * step, LIMIT))
                    continue
                style = OUTLIER if i in outliers else Style.parse(look(point.state)[1] or "white")
                gap = "┄" if row == line_at else " "
                cells.append((char + gap * (step - 1), style if gap == " " else LIMIT))
            for style, group in groupby(cells, key=lambda cell: cell[1]):  # one span per run of a style
                out.append("".join(text for text, _ in group), style)
            out.append("\n")
        dates = Text(" " * (SCALE + 1), AXIS)
        if shown:
            left = fmt.when(shown[0].logical_date, self.timezone)
            right = fmt.when(shown[-1].logical_date, self.timezone)
            span = len(shown) * step
            dates.append(left if len(left) + len(right) + 1 > span else left.ljust(span - len(right)) + right, AXIS)
        out.append_text(dates)
        return out
