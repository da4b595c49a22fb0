"""A task instance's tries: one row each, oldest first; moving the cursor picks the try whose log shows.
Once a try ran on another host (the Dask executor), a host column names each try's worker.

A mapped task's tries are those of all its copies: the try column says "[2] 1" for try 1 of copy 2,
and the reason column starts with the item that copy got (`input "orders"`).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from ...store import Attempt
from .. import fmt
from ..actions import ActionKeys, Target, action_bindings
from ..model import TaskDetail
from ..palette import state_text
from .rows import cursor_row_key, fill


class AttemptTable(ActionKeys, DataTable):
    """Posts `TryChosen(attempt id)` when the cursor moves. `subject` is set by the screen."""

    OFFERS = ("clear", "mark", "retry")
    BINDINGS = [
        *action_bindings(*OFFERS),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class TryChosen(Message):
        def __init__(self, attempt_id: str) -> None:
            super().__init__()
            self.attempt_id = attempt_id

    def __init__(self, subject: Target, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.subject = subject
        self.chosen: str | None = None  # attempt id; None follows the newest try

    def on_mount(self) -> None:
        for label in ("try", "outcome", "started", "duration", "exit", "peak RSS", "CPU", "reason"):
            self.add_column(label, key=label)

    def show(self, detail: TaskDetail) -> None:
        if any(a.host for a in detail.attempts) and "host" not in self.columns:
            self.clear()  # a try ran on another host (Dask): the column appears, after the reason
            self.add_column("host", key="host")
        hosts = "host" in self.columns
        rows = []
        for a in detail.attempts:
            outcome = state_text(a.outcome) if a.outcome else state_text("running")
            exit_code = f"signal {a.signal}" if a.signal else ("-" if a.exit_code is None else str(a.exit_code))
            label = f"[{a.map_index}] {a.try_number}" if a.map_index >= 0 else str(a.try_number)
            cells = (
                Text(label, justify="right"),
                outcome,
                fmt.when(a.start_date, detail.timezone, seconds=True),
                *(
                    Text(value, justify="right")
                    for value in (fmt.duration(a.duration), exit_code, fmt.size(a.peak_rss), fmt.duration(a.cpu_time))
                ),
                _reason(a, detail.input_of(a)),
                *([a.host or "-"] if hosts else []),
            )
            rows.append((a.attempt_id, cells))
        fill(self, rows)
        if self.chosen is None and rows:
            self.move_cursor(row=len(rows) - 1)

    def target(self) -> Target | None:
        return self.subject

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = cursor_row_key(self)
        if key is None:
            return
        # The cursor on the newest try keeps following new tries; anywhere else it stays put.
        self.chosen = None if key == list(self.rows)[-1].value else key
        self.post_message(self.TryChosen(key))


def _reason(attempt: Attempt, item: str | None) -> Text:
    """The try's reason, but no "exited with code 0" beside every success; a copy's input first."""
    reason = "" if attempt.exit_code == 0 and attempt.reason == "exited with code 0" else attempt.reason or ""
    if item is None:
        return Text(reason)
    return Text.assemble((f"input {item}", "grey62"), "  " if reason else "", reason)
