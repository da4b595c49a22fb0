"""The grid: runs as columns (oldest left, newest right, as in Airflow) and tasks as rows.

The first row holds the runs' own states; every other cell is one task instance. Column
labels are the runs' day of month, with the hour on a second label row when two runs of the
page share a day (and the minute on a third when they share the hour too), so a column always
names its run's day; the screen's status line names the highlighted run in full. The task column and the
label row stay in place while the cells scroll.

The grid shows one page of runs (`DagDetail.page`); moving left past the oldest run of the
page, or right past its newest, posts `PageWanted` and the cursor lands on the next page's
nearest run once the screen has it. `set_filter` keeps only tasks whose id has every word.

Drawn with the line API: a refresh rebuilds ~20 strips (about 1 ms) where a DataTable
re-rendered every cell (~500, about 40 ms) whenever one changed.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import fmt
from ..actions import ActionKeys, Target, action_bindings
from ..model import DagDetail
from ..palette import look

RUN_ROW = "\x00run"  # row key of the run states (no task id starts with NUL)
CELL = 3  # columns per run
CURSOR = Style(reverse=True)
HEADER = Style(color="grey62")


def _labels(detail: DagDetail) -> list[tuple[str, list[str]]]:
    """Label rows: [(unit, one two-digit label per run), ...]: the day of month, then the hour if
    two runs share a day, then the minute if two share a day and hour."""
    stamps = [fmt.when(r.logical_date, detail.item.timezone) for r in detail.runs]  # "YYYY-MM-DD HH:MM"
    rows = [("day", [s[8:10] for s in stamps])]
    for unit, cut in (("hour", 10), ("minute", 13)):
        if len({s[:cut] for s in stamps}) == len(stamps):
            break
        rows.append((unit, [s[cut + 1 : cut + 3] for s in stamps]))
    return rows


class RunGrid(ActionKeys, ScrollView, can_focus=True):
    """Enter (or a second click) on a cell posts `Chosen`; moving posts `Highlighted`."""

    OFFERS = ("clear", "retry", "mark", "trigger", "backfill", "pause")
    BINDINGS = [
        Binding("enter", "choose", "Open"),
        *action_bindings("clear", "retry", "mark"),
        *action_bindings("trigger", "backfill", "pause", show=False),  # the footer is full; ? and ctrl+p list them
        Binding("down,j", "move(1, 0)", "Down", show=False),
        Binding("up,k", "move(-1, 0)", "Up", show=False),
        Binding("right,l", "move(0, 1)", "Right", show=False),
        Binding("left,h", "move(0, -1)", "Left", show=False),
        Binding("home", "move(0, -1000000)", "Oldest run", show=False),
        Binding("end", "move(0, 1000000)", "Newest run", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, run_pk: int | None, task_id: str | None) -> None:
            super().__init__()
            self.run_pk = run_pk
            self.task_id = task_id

    class Chosen(Message):
        def __init__(self, run_pk: int, task_id: str | None) -> None:
            super().__init__()
            self.run_pk = run_pk
            self.task_id = task_id

    class PageWanted(Message):
        """The cursor went past the page's edge: `step` 1 asks for older runs, -1 for newer."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.detail: DagDetail | None = None
        self.keys: list[str] = []  # row keys: RUN_ROW, then task ids
        self.row = 1  # cursor: index into `keys`
        self.column = -1  # cursor: index into detail.runs (-1: no runs)
        self.label_width = 0  # columns of the task column, which does not scroll
        self.words: list[str] = []  # the task filter
        self.land: int | None = None  # where the cursor goes on a new page: 1 its newest run, -1 its oldest
        self._label_rows: list[tuple[str, list[str]]] = []  # (unit, a label per run) per label row
        self._header: list[tuple[Strip, Strip]] = []  # the label rows, drawn
        self._rows: list[tuple[Strip, Strip]] = []

    def show(self, detail: DagDetail) -> None:
        """Draw `detail`, keeping the cursor on the same run and row (the newest run at first)."""
        shown = self.detail
        new_page = shown is not None and detail.page != shown.page
        before = self._cursor_keys()
        row_key, run_pk = before
        if shown is not None and not new_page and detail.page == 0 and shown.runs and run_pk == shown.runs[-1].pk:
            run_pk = detail.runs[-1].pk if detail.runs else None  # on the newest run: a newer one takes the cursor
        self.detail = detail
        self.keys = [RUN_ROW, *(t for t in detail.task_ids if self._matches(t))]
        pks = [r.pk for r in detail.runs]
        self.row = self.keys.index(row_key) if row_key in self.keys else min(1, len(self.keys) - 1)
        self.column = pks.index(run_pk) if run_pk in pks else len(pks) - 1
        if new_page:
            self.column = 0 if self.land == -1 else len(pks) - 1
            self.land = None
        self._label_rows = _labels(detail)
        self.label_width = max([len(t) + 2 for t in detail.task_ids] + [len(u) + 9 for u, _ in self._label_rows])
        self.virtual_size = Size(self.label_width + CELL * len(pks), len(self.keys) + self.head)
        self._paint()
        if shown is None:  # scroll to the newest run once the widget has its size
            self.call_after_refresh(self._moved, scroll=True)
        elif new_page or before != self._cursor_keys():
            self._moved(scroll=True)

    def set_filter(self, text: str) -> None:
        """Show only the tasks whose id contains every word of `text` (the run row always shows)."""
        self.words = text.lower().split()
        if self.detail is not None:
            self.show(self.detail)

    def _matches(self, task_id: str) -> bool:
        return all(word in task_id.lower() for word in self.words)

    @property
    def head(self) -> int:
        """How many label rows stand above the cells."""
        return max(1, len(self._label_rows))

    def fits(self) -> int:
        """How many runs fit across the widget as it is now (0 before it has a size)."""
        width = self.scrollable_content_region.width
        return max(0, (width - (self.label_width or 20)) // CELL) if width else 0

    def _cursor_keys(self) -> tuple[str | None, int | None]:
        if self.detail is None or not self.keys:
            return None, None
        run = self.detail.runs[self.column] if 0 <= self.column < len(self.detail.runs) else None
        return self.keys[self.row], (run.pk if run else None)

    def _paint(self) -> None:
        detail, console = self.detail, self.app.console
        if detail is None:
            return

        def strip(text: Text) -> Strip:
            return Strip(list(text.render(console)), text.cell_len)

        self._header = []
        for number, (unit, labels) in enumerate(self._label_rows):
            header_cells = Text()
            for index, label in enumerate(labels):
                header_cells.append(f"{label:>2} ", CURSOR if index == self.column else HEADER)
            title = f" task ({unit})" if number == 0 else f" ({unit})"
            self._header.append((strip(Text(title.ljust(self.label_width), HEADER)), strip(header_cells)))
        self._rows = []
        for number, key in enumerate(self.keys):
            name = Text(" run" if key == RUN_ROW else f" {key}", style="bold" if number == self.row else "")
            name.pad_right(self.label_width - name.cell_len)
            cells = Text()
            for index, run in enumerate(detail.runs):
                if key == RUN_ROW:
                    char, colour = look(str(run.state))
                else:
                    ti = detail.tis.get((run.pk, key))
                    char, colour = look(str(ti.state), ti.note) if ti is not None else look(None)
                style = Style.parse(colour) if colour else Style()
                if number == self.row and index == self.column:
                    style += CURSOR
                cells.append(f" {char} ", style)
            self._rows.append((strip(name), strip(cells)))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_y = self.scroll_offset.y
        if y < len(self._header):
            label, cells = self._header[y]
        elif 0 <= y - self.head + scroll_y < len(self._rows):
            label, cells = self._rows[y - self.head + scroll_y]
        else:
            return Strip.blank(width, self.rich_style)
        fixed = min(self.label_width, width)
        start = self._first_cell()
        return Strip.join(
            [
                label.crop_extend(0, fixed, self.rich_style),
                cells.crop_extend(start, start + width - fixed, self.rich_style),
            ]
        )

    def _first_cell(self) -> int:
        """Where the visible cells start: the scroll offset rounded up to whole cells (never cuts the newest run)."""
        return -(-self.scroll_offset.x // CELL) * CELL

    def _moved(self, *, scroll: bool) -> None:
        if scroll and self.keys:
            # The label rows and the task column do not scroll: keep the cursor clear of them.
            region = Region(self.label_width + CELL * max(0, self.column), self.row + self.head, CELL, 1)
            spacing = Spacing(self.head, 0, 0, self.label_width)
            self.scroll_to_region(region, spacing=spacing, animate=False, force=True)
        self.post_message(self.Highlighted(*self.selection()))

    def action_move(self, rows: int, columns: int) -> None:
        if self.detail is None or not self.keys:
            return
        last = len(self.detail.runs) - 1
        if abs(columns) == 1 and self.land is None:
            step = (
                1
                if columns < 0 and self.column == 0 and self.detail.older
                else -1
                if columns > 0 and self.column == last and self.detail.page > 0
                else 0
            )
            if step:
                self.land = step
                self.post_message(self.PageWanted(step))
                return
        self.row = max(0, min(len(self.keys) - 1, self.row + rows))
        if self.detail.runs:
            self.column = max(0, min(len(self.detail.runs) - 1, self.column + columns))
        self._paint()
        self._moved(scroll=True)

    def select_task(self, task_id: str) -> None:
        """Put the cursor on `task_id`'s row, in the same run."""
        if task_id in self.keys:
            self.action_move(self.keys.index(task_id) - self.row, 0)

    def action_choose(self) -> None:
        pk, task_id = self.selection()
        if pk is not None:
            self.post_message(self.Chosen(pk, task_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.detail is None or offset.y < self.head:
            return
        row = offset.y - self.head + self.scroll_offset.y
        column = self.column
        if offset.x >= self.label_width:
            column = (offset.x - self.label_width + self._first_cell()) // CELL
        if row >= len(self.keys) or not 0 <= column < len(self.detail.runs):
            return
        if (row, column) == (self.row, self.column):
            self.action_choose()
            return
        self.action_move(row - self.row, column - self.column)

    def selection(self) -> tuple[int | None, str | None]:
        """(run pk, task id) under the cursor; task None on the run row."""
        row_key, run_pk = self._cursor_keys()
        return run_pk, (None if row_key in (None, RUN_ROW) else row_key)

    def target(self) -> Target | None:
        if self.detail is None:
            return None
        pk, task_id = self.selection()
        run = self.detail.run(pk)
        return Target(self.detail.item.dag_id, pk, run.run_id if run else None, task_id)
