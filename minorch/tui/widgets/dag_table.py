"""The DAG list: one row per DAG with its schedule, next run, latest runs, paused flag and description
(last, so a narrow terminal cuts only that)."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from .. import fmt
from ..actions import ActionKeys, Target, action_bindings
from ..model import LIST_RUNS, DagItem, DagList
from ..palette import glyph
from .rows import cursor_row_key, fill

MIN_ROOM = 16  # cells the description column needs to be shown at all


class DagTable(ActionKeys, DataTable):
    """Enter opens the highlighted DAG (`Opened`); moving posts `Highlighted`. `set_filter` narrows the rows."""

    OFFERS = ("trigger", "pause", "backfill")
    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        *action_bindings(*OFFERS),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    class Opened(Message):
        def __init__(self, dag_id: str) -> None:
            super().__init__()
            self.dag_id = dag_id

    class Highlighted(Message):
        def __init__(self, item: DagItem | None) -> None:
            super().__init__()
            self.item = item

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.dags: DagList | None = None
        self.words: list[str] = []

    def on_mount(self) -> None:
        self.add_column("DAG", key="dag")
        self.add_column("schedule", key="schedule")
        self.add_column("next run", key="next", width=23)
        self.add_column(Text("runs", justify="right"), key="runs", width=LIST_RUNS)
        self.add_column("paused", key="paused", width=6)
        self.add_column("description", key="description")

    def on_resize(self) -> None:
        self._refill()

    def _room(self, rows: list[tuple]) -> int:
        """Cells the other columns leave for the description (0 when they fill the width), once `rows`
        (each row's cells but the description) are in: an auto-width column only ever widens."""
        used = 0
        for index, (key, column) in enumerate(self.columns.items()):
            if key == "description":
                continue
            if column.auto_width:
                widest = max((cell_len(str(row[index])) for row in rows), default=0)
                used += max(column.content_width, widest) + 2 * self.cell_padding
            else:
                used += column.get_render_width(self)
        return max(0, self.scrollable_content_region.width - used - 2 * self.cell_padding)

    def show(self, dags: DagList) -> None:
        self.dags = dags
        self._refill()

    def set_filter(self, text: str) -> None:
        self.words = text.lower().split()
        self._refill()

    def _refill(self) -> None:
        if self.dags is None:
            return
        items = [d for d in self.dags.dags if self._matches(d)]
        rows = [_cells(d) for d in items]
        room = self._room(rows)
        label = Text("description" if room >= MIN_ROOM else "")
        description = self.columns[ColumnKey("description")]
        if description.label != label:  # no header wider than the room it has
            description.label = label
            self.refresh()
        fill(self, [(d.dag_id, (*row, _cut(d.description or "", room))) for d, row in zip(items, rows, strict=True)])
        self.post_message(self.Highlighted(self.current()))

    def _matches(self, item: DagItem) -> bool:
        text = f"{item.dag_id} {item.schedule or ''} {item.description or ''}".lower()
        return all(w in text for w in self.words)

    def current(self) -> DagItem | None:
        key = cursor_row_key(self)
        return self.dags.get(key) if key is not None and self.dags is not None else None

    def target(self) -> Target | None:
        item = self.current()
        return Target(item.dag_id) if item is not None else None

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Highlighted(self.current()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(event.row_key.value))


def _cells(item: DagItem) -> tuple:
    """The row's cells but the description (which gets the room the others leave)."""
    name = Text(item.dag_id, style="bold red" if item.problem else "bold")
    if item.problem:
        name.append(" !", style="bold red")
    runs = Text(justify="right")
    for state in item.recent:
        runs.append_text(glyph(state))
    paused = Text("yes", style="bold yellow") if item.paused else Text("no", style="grey50")
    # Each DAG's next run in its own zone, with the offset, so rows in different zones are not mixed up.
    upcoming = Text("paused", style="yellow") if item.paused else fmt.when(item.next_fire, item.timezone, offset=True)
    return (
        name,
        item.schedule or Text("-", style="grey50"),
        upcoming,
        runs,
        paused,
    )


def _cut(text: str, room: int) -> Text:
    """`text` in `room` cells; nothing when under `MIN_ROOM` (a few letters say less than the status line)."""
    if room < MIN_ROOM:
        return Text("")
    return Text(text if len(text) <= room else text[: room - 1] + "…", style="grey62")
