"""The Assets screen: every asset with its last event and freshness, what each waiting DAG still
needs, the lineage drawn as a graph, and (enter) the selected asset's history. `e` emits an event after a confirmation.

It reads the store in worker threads with its own read-only connection (the UI thread never touches
SQLite), when it opens, whenever the app's feed saw the store change, and after an emit.
"""

from __future__ import annotations

import json
import time
from functools import partial

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Static

from .. import asset_catalog, lineage
from ..errors import MinorchError
from ..store import AssetEvent, Store
from .dialogs import ActionDialog
from .live import LiveScreen
from .widgets.asset_table import AssetTable, when
from .widgets.lineage_view import LineageView


class AssetsScreen(LiveScreen):
    AUTO_FOCUS = "AssetTable"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    class Loaded(Message):
        def __init__(self, rows: list, history: tuple[str, list[AssetEvent]] | None) -> None:
            super().__init__()
            self.rows = rows
            self.history = history

    def __init__(self) -> None:
        super().__init__()
        self.opened: str | None = None  # the asset whose history shows

    def compose(self) -> ComposeResult:
        yield Static(Text("Assets", style="bold"), id="topbar")
        yield AssetTable(id="assets")
        yield Static(id="waits")
        yield Static(id="history")
        yield LineageView()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    def show_update(self, update) -> None:
        """The app's feed saw a change (a new event, a run): read again."""
        self.reload()

    @work(thread=True, exclusive=True, group="assets")
    def reload(self) -> None:
        registry = self.minorch.feed.registry
        if registry is None:
            return
        path = self.minorch.settings.db_path
        store = Store(path, readonly=True) if path.exists() else None
        try:
            rows = asset_catalog.rows(registry, store, time.time())
            history = (self.opened, asset_catalog.history(registry, store, self.opened)) if self.opened else None
        finally:
            if store is not None:
                store.close()
        self.post_message(self.Loaded(rows, history))

    def on_assets_screen_loaded(self, message: Loaded) -> None:
        self.query_one(AssetTable).show(message.rows)
        waits = [w for r in message.rows for w in r.waits]
        self.query_one("#waits", Static).update(Text("\n".join(dict.fromkeys(waits)), style="grey62"))
        registry = self.minorch.feed.registry
        if registry is not None:
            stale = {r.name for r in message.rows if r.stale}
            self.query_one(LineageView).show(lineage.build(registry.dags, registry.assets), stale)
        if message.history is not None:
            name, events = message.history
            lines = [f"history of {name}" + ("" if events else ": no events yet")]
            for e in events:
                by = f"{e.dag_id}.{e.task_id} {e.run_id}" if e.dag_id else "emitted"
                lines.append(f"  {when(e.created_at)}  ds {e.ds}  {by}  {json.dumps(e.extra)[:60]}")
            self.query_one("#history", Static).update(Text("\n".join(lines)))

    def on_asset_table_opened(self, message: AssetTable.Opened) -> None:
        self.opened = message.name
        self.reload()

    def on_asset_table_emit_requested(self, message: AssetTable.EmitRequested) -> None:
        name = message.name
        dialog = ActionDialog(
            f"Emit an event of {name}: DAGs waiting for it run",
            f"asset {name}, for today ({self.minorch.settings.timezone})",
            [],
        )
        self.app.push_screen(dialog, callback=partial(self._confirmed, name))

    def _confirmed(self, name: str, answer: dict | None) -> None:
        if answer is not None:
            self._emit(name)

    @work(thread=True, group="emit")
    def _emit(self, name: str) -> None:
        try:
            event_id = asset_catalog.emit(
                self.minorch.settings, self.minorch.feed.loaded(), name, None, None, time.time()
            )
        except MinorchError as err:
            self.app.call_from_thread(self.app.notify, str(err), severity="error")
            return
        self.app.call_from_thread(self.app.notify, f"asset '{name}': event {event_id} recorded")
        self.opened = name
        self.reload()
