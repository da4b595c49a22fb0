"""The run Gantt: one row per task (a mapped task's copies folded under it), bars on a time axis that fits
the widget's width, the critical path as a band, each row's running time at the right.

Cells come from `gantt_draw.cells`, the same as `minorch gantt` prints: `█` a try running (in its
outcome's colour), `░` waiting to start, `╌` the retry delay. Up/down (`j`/`k`) move the cursor;
`space` (or right/left) folds or unfolds a mapped task's copies; `enter` posts `Chosen` for the task.
Drawn with the line API: the time-axis row stays in place while the rows scroll.
"""

from __future__ import annotations

from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...gantt import RETRY, RUN, Bar, Gantt
from ...gantt_draw import CHARS, LABEL_MAX, axis, cells, label, rows
from .. import fmt
from ..palette import look

CURSOR = Style(reverse=True)
HEADER = Style(color="grey62")
CRITICAL = Style(bgcolor="grey23")  # the band behind a critical-path row's bar
WAITING = Style(color="grey50")
RETRYING = Style(color="gold1")
RIGHT = 9  # cells for the running time at the right


class GanttChart(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("enter", "choose", "Open task"),
        Binding("space", "fold", "Copies"),
        Binding("right,l", "fold(True)", "Unfold", show=False),
        Binding("left,h", "fold(False)", "Fold", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
    ]

    class Chosen(Message):
        def __init__(self, task_id: str) -> None:
            super().__init__()
            self.task_id = task_id

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gantt: Gantt | None = None
        self.expanded: set[str] = set()
        self.listed: list[tuple[Bar, int]] = []
        self.row = 0
        self._axis = Strip.blank(0)
        self._rows: list[Strip] = []

    def show(self, gantt: Gantt) -> None:
        """Draw `gantt`, keeping the cursor on the same task."""
        key = self._cursor_key()
        self.gantt = gantt
        self.listed = rows(gantt, self.expanded)
        keys = [(bar.task_id, bar.map_index) for bar, _ in self.listed]
        self.row = keys.index(key) if key in keys else min(self.row, max(0, len(keys) - 1))
        self._paint()

    def _cursor_key(self) -> tuple[str, int] | None:
        if not self.listed:
            return None
        bar, _ = self.listed[min(self.row, len(self.listed) - 1)]
        return bar.task_id, bar.map_index

    def on_resize(self, event: events.Resize) -> None:
        if self.gantt is not None:
            self._paint()

    def label_width(self) -> int:
        names = [len(label(bar, depth)) + 2 + 2 * bool(bar.copies) for bar, depth in self.listed] or [8]
        return min(LABEL_MAX + 2, max(names)) + 1

    def bar_width(self) -> int:
        return max(10, self.scrollable_content_region.width - self.label_width() - RIGHT)

    def _paint(self) -> None:
        gantt, console = self.gantt, self.app.console
        if gantt is None:
            return

        def strip(text: Text) -> Strip:
            return Strip(list(text.render(console)), text.cell_len)

        left, width = self.label_width(), self.bar_width()
        head = Text(" task".ljust(left), HEADER)
        head.append(axis(gantt, width) if gantt.origin is not None else "", HEADER)
        self._axis = strip(head)
        self._rows = []
        for number, (bar, depth) in enumerate(self.listed):
            name = label(bar, depth)
            if bar.copies:
                name = ("▾ " if bar.task_id in self.expanded else "▸ ") + name
            mark = "*" if bar.critical and not depth else " "
            line = Text(f"{mark}{name}"[: left - 1].ljust(left), "bold" if bar.critical and not depth else "")
            if number == self.row:
                line.stylize(CURSOR, 0, left - 1)
            band = CRITICAL if bar.critical and not depth else Style()
            drawn: list[tuple[str, Style]] = []
            for cell in cells(gantt, bar, width):
                if cell is None:
                    drawn.append((" ", band))
                elif cell.kind == RUN:
                    colour = look(
                        cell.outcome
                        or ("running" if gantt.live and gantt.end is not None and cell.end >= gantt.end else bar.state)
                    )[1]
                    drawn.append((CHARS[RUN], band + Style.parse(colour or "white")))
                else:
                    drawn.append((CHARS[cell.kind], band + (RETRYING if cell.kind == RETRY else WAITING)))
            for style, group in groupby(drawn, key=lambda cell: cell[1]):  # one span per run of a style
                line.append("".join(char for char, _ in group), style)
            took = fmt.duration(bar.busy) if bar.segments else "-"
            tries = f"×{bar.tries}" if bar.tries > 1 else ""
            line.append(f" {took}{tries}".rjust(RIGHT), HEADER)
            self._rows.append(strip(line))
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows) + 1)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._axis.crop_extend(0, width, self.rich_style)
        index = y - 1 + self.scroll_offset.y
        if index < len(self._rows):
            return self._rows[index].crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    def action_move(self, step: int) -> None:
        if not self.listed:
            return
        self.row = max(0, min(len(self.listed) - 1, self.row + step))
        self._paint()
        self.scroll_to_region(Region(0, self.row + 1, 1, 1), animate=False, force=True)

    def action_fold(self, unfold: bool | None = None) -> None:
        """Fold or unfold the copies of the mapped task under the cursor (a copy folds its task)."""
        if not self.listed or self.gantt is None:
            return
        bar, _depth = self.listed[self.row]
        if not bar.copies and bar.map_index < 0:
            return
        task_id = bar.task_id
        if unfold is None:
            unfold = task_id not in self.expanded
        if unfold:
            self.expanded.add(task_id)
        else:
            self.expanded.discard(task_id)
            self.row = next(i for i, (b, d) in enumerate(self.listed) if b.task_id == task_id and d == 0)
        self.show(self.gantt)

    def action_choose(self) -> None:
        if self.listed:
            self.post_message(self.Chosen(self.listed[self.row][0].task_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0 or not self.listed:
            return
        row = offset.y - 1 + self.scroll_offset.y
        if row < len(self.listed):
            if row == self.row:
                self.action_choose()
            else:
                self.action_move(row - self.row)
