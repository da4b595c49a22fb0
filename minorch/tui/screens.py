"""The three screens: DAG list -> one DAG (grid and graph) -> one task instance (tries and log).

Screens route: they pass the feed's models to their widgets, tell the feed what they
show, and open the next screen when a widget says so. Actions and data reading live
elsewhere (`actions.py`, `perform.py`, `feed.py`).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, Static

from . import fmt
from .actions import Target
from .feed import Update
from .model import DagDetail, DagItem, TaskDetail
from .palette import state_text
from .widgets.attempt_table import AttemptTable
from .widgets.dag_table import DagTable
from .widgets.log_view import LogView
from .widgets.run_grid import RunGrid
from .widgets.task_graph import TaskGraph
from .widgets.text_input import TextInput


def _dag_line(item: DagItem) -> Text:
    text = Text.assemble((item.dag_id, "bold"), "  ", (item.schedule or "manual only", "cyan"))
    text.append(f"  next {fmt.when(item.next_fire, item.timezone)}" if item.next_fire else "")
    if item.paused:
        text.append("  PAUSED", style="bold yellow")
    if item.problem:
        text.append(f"  {item.problem}", style="bold red")
    return text


class DagListScreen(Screen):
    AUTO_FOCUS = "DagTable"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("minorch: loading DAG files…", id="topbar")
        yield TextInput(placeholder="filter: words in the DAG id, schedule or description", id="filter")
        yield DagTable(id="dags")
        yield Static(id="errors")
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_update(self.app.latest)

    def show_update(self, update: Update) -> None:
        if update.dags is None:
            return
        dags = update.dags
        self.query_one(DagTable).show(dags)
        errors = self.query_one("#errors", Static)
        errors.display = bool(dags.errors)
        errors.update(Text("\n".join(f"✗ {e}" for e in dags.errors), style="red"))
        running = {True: "scheduler running", False: "no scheduler running"}
        top = Text.assemble(("minorch", "bold"), f"  {len(dags.dags)} DAGs")
        if dags.errors:
            top.append(f"  {len(dags.errors)} files failed to load", style="bold red")
        top.append(f"  {running[self.app.feed.scheduler]}", style="grey62" if self.app.feed.scheduler else "yellow")
        self.query_one("#topbar", Static).update(top)

    def on_dag_table_highlighted(self, message: DagTable.Highlighted) -> None:
        item = message.item
        line = Text("")
        if item is not None:
            line = Text.assemble((item.description or "", ""), f"  {item.tasks} tasks" if item.tasks else "")
            if item.problem:
                line = Text(item.problem, style="bold red")
        self.query_one("#status", Static).update(line)

    def on_dag_table_opened(self, message: DagTable.Opened) -> None:
        self.app.push_screen(DagScreen(message.dag_id))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one(DagTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(DagTable).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.query_one(DagTable).focus()


class DagScreen(Screen):
    AUTO_FOCUS = "RunGrid"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("g", "switch", "Grid/graph"),
    ]

    def __init__(self, dag_id: str) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.detail: DagDetail | None = None
        self.run_pk: int | None = None
        self.task_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.dag_id, style="bold"), id="topbar")
        with ContentSwitcher(initial="grid", id="views"):
            yield RunGrid(id="grid")
            yield TaskGraph(id="graph")
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.feed.watch_dag(self.dag_id)
        self.show_update(self.app.latest)

    def on_unmount(self) -> None:
        self.app.feed.unwatch(dag_id=self.dag_id)

    def on_screen_resume(self) -> None:
        self.app.feed.wake()

    def show_update(self, update: Update) -> None:
        if update.dag is None or update.dag.item.dag_id != self.dag_id:
            return
        self.detail = update.dag
        self.query_one("#topbar", Static).update(_dag_line(self.detail.item))
        self.query_one(RunGrid).show(self.detail)
        self.query_one(TaskGraph).show(self.detail, self.run_pk)
        self._status()

    def _status(self) -> None:
        detail = self.detail
        run = detail.run(self.run_pk) if detail else None
        if run is None:
            text = Text("no runs yet: t triggers one", style="grey62")
        else:
            text = Text.assemble(fmt.when(run.logical_date, detail.item.timezone), " ", run.run_type, " ",
                                 state_text(str(run.state)))
            ti = detail.tis.get((run.pk, self.task_id)) if self.task_id else None
            if ti is not None:
                text.append_text(Text.assemble("  │  ", (self.task_id, "bold"), " ", state_text(str(ti.state)),
                                               f"  try {ti.try_number}" if ti.try_number else "",
                                               (f"  {ti.note}" if ti.note else "", "grey62")))
        self.query_one("#status", Static).update(text)

    def on_run_grid_highlighted(self, message: RunGrid.Highlighted) -> None:
        self.run_pk, self.task_id = message.run_pk, message.task_id
        if self.detail is not None:
            self.query_one(TaskGraph).show(self.detail, self.run_pk)
            self._status()

    def on_task_graph_highlighted(self, message: TaskGraph.Highlighted) -> None:
        self.task_id = message.task_id
        self._status()

    def on_run_grid_chosen(self, message: RunGrid.Chosen) -> None:
        if message.task_id is None:
            self.notify("pick a task's cell to see its tries and log", timeout=3)
            return
        self._open(message.run_pk, message.task_id)

    def on_task_graph_chosen(self, message: TaskGraph.Chosen) -> None:
        self._open(message.run_pk, message.task_id)

    def _open(self, run_pk: int, task_id: str) -> None:
        run = self.detail.run(run_pk) if self.detail else None
        self.app.push_screen(TaskScreen(Target(self.dag_id, run_pk, run.run_id if run else None, task_id)))

    def action_switch(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "graph" if switcher.current == "grid" else "grid"
        if switcher.current == "graph":
            self.query_one(TaskGraph).select(self.task_id)
        else:
            if self.task_id is not None:
                self.query_one(RunGrid).select_task(self.task_id)
        self.query_one(f"#{switcher.current}").focus()


class TaskScreen(Screen):
    AUTO_FOCUS = "AttemptTable"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, subject: Target) -> None:
        super().__init__()
        self.subject = subject
        self.detail: TaskDetail | None = None
        self.try_number: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.subject.describe(), style="bold"), id="topbar")
        yield AttemptTable(self.subject, id="tries")
        yield Static(id="command")
        yield LogView(self.subject, id="log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.feed.watch_task((self.subject.run_pk, self.subject.task_id))

    def on_unmount(self) -> None:
        self.app.feed.unwatch(task=(self.subject.run_pk, self.subject.task_id))

    def show_update(self, update: Update) -> None:
        task = update.task
        if task is not None and (task.run.pk, task.task_id) == (self.subject.run_pk, self.subject.task_id):
            self.detail = task
            self.query_one(AttemptTable).show(task)
            self._describe()
        if update.log is not None and self.detail is not None:
            empty = "(no try yet)" if update.log.path is None else "(no output yet)"
            self.query_one(LogView).show(update.log, empty=empty)

    def _describe(self) -> None:
        task, ti = self.detail, self.detail.ti
        top = Text.assemble((task.dag_id, "bold"), " › ", task.run.run_id, " › ", (task.task_id, "bold"), "  ",
                            state_text(str(ti.state) if ti else None))
        if ti is not None and ti.note:
            top.append(f"  {ti.note}", style="grey62")
        self.query_one("#topbar", Static).update(top)
        attempt = task.attempt(self.try_number)
        if attempt is not None:
            ran = attempt.command or task.template or ""
            command = Text.assemble((f"try {attempt.try_number} ran: ", "grey62"), ran)
        else:
            command = Text.assemble(("not run yet; command: ", "grey62"), task.template or "-")
        self.query_one("#command", Static).update(command)

    def on_attempt_table_try_chosen(self, message: AttemptTable.TryChosen) -> None:
        chosen = self.query_one(AttemptTable).chosen
        if chosen != self.try_number:
            self.try_number = chosen
            self.app.feed.watch_task((self.subject.run_pk, self.subject.task_id), chosen)
        if self.detail is not None:
            self._describe()
