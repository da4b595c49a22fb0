"""Refilling a DataTable in place: only changed cells are redrawn and the cursor stays on its row."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable


def fill(table: DataTable, rows: Sequence[tuple[str, Sequence]]) -> None:
    """Show `rows` ((row key, cells) in order). Same keys in the same order: update changed cells
    only (a refresh of 100 unchanged rows redraws nothing); else rebuild, keeping the cursor's row."""
    keys = [key for key, _cells in rows]
    if [k.value for k in table.rows] == keys:
        columns = list(table.columns)
        for key, cells in rows:
            for column, old, new in zip(columns, table.get_row(key), cells, strict=False):
                if old != new:
                    table.update_cell(key, column, new, update_width=True)
        return
    cursor = cursor_row_key(table)
    cursor_column = table.cursor_coordinate.column
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if cursor in keys:
        table.move_cursor(row=keys.index(cursor), column=cursor_column)


def cursor_row_key(table: DataTable) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if not table.row_count or not table.is_valid_row_index(table.cursor_row):
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
