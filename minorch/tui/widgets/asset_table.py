"""The asset list: one row per asset with its last event, freshness, producers and consumers.
Enter posts `Opened` (the screen shows the asset's history); `e` posts `EmitRequested`."""

from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ...asset_catalog import AssetRow


def when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


class AssetTable(DataTable):
    BINDINGS = [
        Binding("enter", "select_cursor", "History"),
        Binding("e", "emit", "Emit event"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class Opened(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class EmitRequested(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.rows_shown: list[AssetRow] = []

    def on_mount(self) -> None:
        for label in ("asset", "last event", "ds", "fresh", "produced by", "consumed by"):
            self.add_column(label, key=label)

    def show(self, rows: list[AssetRow]) -> None:
        """Replace the rows, keeping the cursor on the same asset."""
        current = self.selected()
        self.rows_shown = rows
        self.clear()
        for row in rows:
            fresh = Text("STALE", style="bold red") if row.stale else Text("fresh" if row.fresh_within else "-")
            self.add_row(
                Text(row.name, style="bold"),
                when(row.last.created_at) if row.last else Text("never", style="grey62"),
                (row.last.ds or "-") if row.last else "",
                fresh,
                ", ".join(row.producers) or Text("(external)", style="grey62"),
                ", ".join(row.consumers) or "-",
                key=row.name,
            )
        names = [r.name for r in rows]
        if current in names:
            self.move_cursor(row=names.index(current))

    def selected(self) -> str | None:
        if not self.rows_shown or self.cursor_row >= len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row].name

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.Opened(event.row_key.value))

    def action_emit(self) -> None:
        name = self.selected()
        if name is not None:
            self.post_message(self.EmitRequested(name))
