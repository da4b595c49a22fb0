"""The grid: runs as columns (oldest left, newest right, as in Airflow) and tasks as rows.

The first row holds the runs' own states; every other cell is one task instance. Column
labels are the runs' day of month (or hour, or minute, whichever tells neighbours apart);
the screen's status line names the highlighted run in full.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from .. import fmt
from ..actions import ActionKeys, Target, action_bindings
from ..model import DagDetail
from ..palette import STATE_LOOK, UNKNOWN
from .rows import fill

RUN_ROW = "\x00run"  # row key of the run states (no task id starts with NUL)


def _cell(state: object | None) -> Text:
    if state is None:
        return Text("")
    char, colour = STATE_LOOK.get(str(state), UNKNOWN)
    return Text(char, style=colour, justify="center")


def _labels(detail: DagDetail) -> tuple[str, list[str]]:
    """(unit, one two-digit label per run): the coarsest of day/hour/minute that differs between runs."""
    stamps = [fmt.when(r.logical_date, detail.item.timezone) for r in detail.runs]  # "YYYY-MM-DD HH:MM"
    for unit, cut in (("day", 10), ("hour", 13), ("minute", 16)):
        if len({s[:cut] for s in stamps}) == len(stamps):
            return unit, [s[cut - 2:cut] for s in stamps]
    return "minute", [s[14:16] for s in stamps]


class RunGrid(ActionKeys, DataTable):
    """Enter on a task cell posts `Chosen`; moving posts `Highlighted`. The task column stands for the newest run."""

    OFFERS = ("clear", "retry", "mark", "trigger", "backfill", "pause")
    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        *action_bindings("clear", "retry", "mark"),
        *action_bindings("trigger", "backfill", "pause", show=False),  # the footer is full; ? and ctrl+p list them
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("h", "cursor_left", "Left", show=False),
        Binding("l", "cursor_right", "Right", show=False),
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

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="cell", fixed_columns=1, cell_padding=0, zebra_stripes=False, **kwargs)
        self.detail: DagDetail | None = None

    def show(self, detail: DagDetail) -> None:
        old, self.detail = self.detail, detail
        runs = [str(r.pk) for r in detail.runs]
        rows = [(RUN_ROW, (Text(" run", style="bold"), *(_cell(r.state) for r in detail.runs)))]
        for tid in detail.task_ids:
            cells = [_cell(ti.state) if (ti := detail.tis.get((r.pk, tid))) else _cell(None) for r in detail.runs]
            rows.append((tid, (Text(f" {tid} "), *cells)))
        if old is not None and [k.value for k in self.columns][1:] == runs and old.task_ids == detail.task_ids:
            fill(self, rows)
            return
        first = old is None or not self.row_count
        row_key, column_key = self._cursor_keys()
        self.clear(columns=True)
        unit, labels = _labels(detail)
        width = max([len(t) + 2 for t in detail.task_ids] + [len(unit) + 9])
        self.add_column(Text(f" task ({unit})"), key="task", width=width)
        for key, label in zip(runs, labels):
            self.add_column(Text(label, justify="center"), key=key, width=3)
        for key, cells in rows:
            self.add_row(*cells, key=key)
        keys = [k for k, _ in rows]
        if first or row_key not in keys:
            row_key = keys[1] if len(keys) > 1 else keys[0]
        column = runs.index(column_key) + 1 if column_key in runs else len(runs)
        self.move_cursor(row=keys.index(row_key), column=column)

    def _cursor_keys(self) -> tuple[str | None, str | None]:
        if not self.row_count:
            return None, None
        key = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.row_key.value, key.column_key.value

    def selection(self) -> tuple[int | None, str | None]:
        """(run pk, task id) under the cursor; task None on the run row; the newest run on the task column."""
        if self.detail is None or not self.row_count:
            return None, None
        row_key, column_key = self._cursor_keys()
        run = self.detail.run(int(column_key)) if column_key not in (None, "task") else self.detail.latest
        return (run.pk if run else None), (None if row_key == RUN_ROW else row_key)

    def target(self) -> Target | None:
        if self.detail is None:
            return None
        pk, task_id = self.selection()
        run = self.detail.run(pk)
        return Target(self.detail.item.dag_id, pk, run.run_id if run else None, task_id)

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(*self.selection()))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        pk, task_id = self.selection()
        if pk is not None:
            self.post_message(self.Chosen(pk, task_id))
