"""The three screens: DAG list -> one DAG (grid and graph) -> one task instance (tries and log). From the
DAG and task screens, `w` opens a run's Gantt and `d` durations over time (picture_screens.py).

Screens route: they pass the feed's models to their widgets, tell the feed what they
show, and open the next screen when a widget says so. Actions and data reading live
elsewhere (`actions.py`, `perform.py`, `feed.py`).
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ContentSwitcher, Footer, Input, Static

from . import fmt
from .actions import Target
from .feed import Update
from .live import LiveScreen
from .model import GRID_RUNS, MIN_PAGE, DagDetail, DagItem, TaskDetail
from .palette import legend, look_of, state_text
from .picture_screens import DurationScreen, GanttScreen
from .widgets.attempt_table import AttemptTable
from .widgets.dag_table import DagTable
from .widgets.log_view import LogView
from .widgets.run_grid import RunGrid
from .widgets.task_graph import TaskGraph
from .widgets.text_input import TextInput


def _dag_line(item: DagItem) -> Text:
    text = Text.assemble((item.dag_id, "bold"), "  ", (item.schedule or "manual only", "cyan"))
    text.append(f"  next {fmt.when(item.next_fire, item.timezone)} {item.timezone}" if item.next_fire else "")
    if item.paused:
        text.append("  PAUSED", style="bold yellow")
    if item.problem:
        text.append(f"  {item.problem}", style="bold red")
    return text


class DagListScreen(LiveScreen):
    AUTO_FOCUS = "DagTable"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("minorch: loading DAG files…", id="topbar")
        yield TextInput(placeholder="filter: words in the DAG id, schedule or description", id="filter", compact=True)
        yield DagTable(id="dags")
        yield Static(id="errors")
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_update(self.minorch.latest)

    def show_update(self, update: Update) -> None:
        if update.dags is None:
            return
        dags = update.dags
        self.query_one(DagTable).show(dags)
        errors = self.query_one("#errors", Static)
        errors.display = bool(dags.errors)
        errors.update(Text("\n".join(f"✗ {e}" for e in dags.errors), style="red"))
        top = Text.assemble(("minorch", "bold"), f"  {len(dags.dags)} DAG{'s' * (len(dags.dags) != 1)}")
        if self.minorch.settings.env_name:
            top.append(f"  env {self.minorch.settings.env_name}", style="bold magenta")
        if dags.errors:
            count = len(dags.errors)
            top.append(f"  {count} file{'s' * (count != 1)} failed to load", style="bold red")
        if self.minorch.runs_scheduler:
            top.append("  scheduler running here, q stops it", style="grey62")
        elif self.minorch.feed.scheduler:
            top.append("  scheduler running", style="grey62")
        else:
            top.append("  no scheduler running", style="yellow")
        self.query_one("#topbar", Static).update(top)

    def on_dag_table_highlighted(self, message: DagTable.Highlighted) -> None:
        item = message.item
        line = Text("")
        if item is None and self.minorch.latest.dags is not None and not self.minorch.latest.dags.dags:
            line = Text(
                "no DAGs yet: add TOML or Python files to the DAG folders named in minorch.toml", style="yellow"
            )
        elif item is not None:
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


class DagScreen(LiveScreen):
    """One DAG: its grid or graph of one page of runs, a line with the page and the states' legend,
    and the status of the selected run and task. `[` / `]` page to older / newer runs, `/` filters tasks."""

    AUTO_FOCUS = "RunGrid"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("g", "switch", "Grid/graph"),
        Binding("w", "gantt", "Gantt"),
        Binding("d", "durations", "Trend"),
        Binding("slash", "filter", "Filter", show=False),
        Binding("left_square_bracket", "page(1)", "Older runs", show=False),
        Binding("right_square_bracket", "page(-1)", "Newer runs", show=False),
    ]

    def __init__(self, dag_id: str) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.detail: DagDetail | None = None
        self.run_pk: int | None = None
        self.task_id: str | None = None
        self.page = 0
        self.per_page = GRID_RUNS

    def compose(self) -> ComposeResult:
        yield Static(Text(self.dag_id, style="bold"), id="topbar")
        yield TextInput(placeholder="filter: words in the task id (escape clears)", id="filter", compact=True)
        with ContentSwitcher(initial="grid", id="views"):
            yield RunGrid(id="grid")
            yield TaskGraph(id="graph")
        yield Static(id="legend")
        yield Static(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.minorch.feed.watch_dag(self.dag_id, self.page, self.per_page)
        self.show_update(self.minorch.latest)

    def on_unmount(self) -> None:
        self.minorch.feed.unwatch(dag_id=self.dag_id)

    def on_screen_resume(self) -> None:
        self.minorch.feed.wake()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit)
        if self.detail is not None:
            self.call_after_refresh(self._legend)

    def _fit(self) -> None:
        """Ask for as many runs as fit across the grid, so the page line counts the runs one sees."""
        fits = self.query_one(RunGrid).fits()
        per_page = max(MIN_PAGE, fits) if fits else GRID_RUNS
        if per_page != self.per_page:
            self.per_page = per_page
            self.minorch.feed.watch_dag(self.dag_id, self.page, self.per_page)

    def show_update(self, update: Update) -> None:
        if update.dag is None or update.dag.item.dag_id != self.dag_id:
            return
        if (update.dag.page, update.dag.per_page) != (self.page, self.per_page):
            return  # an answer to an earlier request; the one asked for follows
        self.detail = update.dag
        self.query_one("#topbar", Static).update(_dag_line(self.detail.item))
        self.query_one(RunGrid).show(self.detail)
        self.query_one(TaskGraph).show(self.detail, self.run_pk)
        self._legend()
        self._status()

    def _legend(self) -> None:
        """Which runs the page holds and how to page, then the look of every state on it."""
        detail = self.detail
        if detail is None:
            return
        runs = detail.runs
        if runs:
            first = detail.page * detail.per_page
            if detail.page > 0:
                which = f"runs {first + 1}-{first + len(runs)} from the newest"
            elif detail.older:
                which = f"newest {len(runs)} runs"
            else:
                which = f"all {len(runs)} run{'s' * (len(runs) != 1)}"
            dates = fmt.span(runs[0].logical_date, runs[-1].logical_date, detail.item.timezone)
            text = Text.assemble((which, "bold"), f", {dates}")
            keys = [("[ older", detail.older), ("] newer", detail.page > 0)]
            text.append("".join(f" · {key}" for key, ok in keys if ok), style="grey62")
            looks = {str(r.state) for r in runs} | {look_of(str(ti.state), ti.note) or "" for ti in detail.tis.values()}
            text.append("    ")
            width = self.query_one("#legend", Static).content_region.width
            text.append_text(legend(looks, width=width, start=text.cell_len))
        elif detail.page > 0:  # pruned since the page was asked for
            text = Text("no runs this far back · ] newer", style="grey62")
        else:
            text = Text("no runs yet: t triggers one, b backfills a range of dates", style="grey62")
        self.query_one("#legend", Static).update(text)

    def _status(self) -> None:
        detail = self.detail
        run = detail.run(self.run_pk) if detail else None
        task_id = self.task_id
        if detail is None or run is None:
            text = Text("")
        else:
            text = Text.assemble(
                fmt.when(run.logical_date, detail.item.timezone), " ", run.run_type, " ", state_text(str(run.state))
            )
            if run.pk in detail.triggered_by:
                text.append(f" (by {', '.join(detail.triggered_by[run.pk])})", style="cyan")
            ti = detail.tis.get((run.pk, task_id)) if task_id else None
            if task_id is not None and ti is not None:
                text.append_text(
                    Text.assemble(
                        "  │  ",
                        (task_id, "bold"),
                        " ",
                        state_text(str(ti.state), ti.note),
                        f"  try {ti.try_number}" if ti.try_number else "",
                        (f"  {ti.note}" if ti.note else "", "grey62"),
                    )
                )
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

    def on_run_grid_page_wanted(self, message: RunGrid.PageWanted) -> None:
        self.action_page(message.step)

    def action_page(self, step: int) -> None:
        """`step` 1: the page of older runs, -1: newer; the cursor lands on the run nearest the old page."""
        detail = self.detail
        if detail is None or (step > 0 and not detail.older) or (step < 0 and self.page == 0):
            self.query_one(RunGrid).land = None
            self.notify("no older runs" if step > 0 else "these are the newest runs", timeout=2)
            return
        self.query_one(RunGrid).land = step
        self.page += step
        self.minorch.feed.watch_dag(self.dag_id, self.page, self.per_page)

    def action_gantt(self) -> None:
        """The Gantt of the run under the cursor."""
        run = self.detail.run(self.run_pk) if self.detail else None
        if run is None:
            self.notify("no run selected", timeout=2)
            return
        self.app.push_screen(GanttScreen(Target(self.dag_id, run.pk, run.run_id, None)))

    def action_durations(self) -> None:
        """The DAG's run durations over its newest runs."""
        self.app.push_screen(DurationScreen(self.dag_id))

    def action_switch(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "graph" if switcher.current == "grid" else "grid"
        if switcher.current == "graph":
            self.query_one(TaskGraph).select(self.task_id)
        else:
            if self.task_id is not None:
                self.query_one(RunGrid).select_task(self.task_id)
        self.query_one(f"#{switcher.current}").focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_back(self) -> None:
        """Escape: first clears the task filter, then goes back to the DAG list."""
        box = self.query_one("#filter", Input)
        if box.display or box.value:
            box.value = ""
            box.display = False
            self.query_one(f"#{self.query_one(ContentSwitcher).current}").focus()
            return
        self.app.pop_screen()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(RunGrid).set_filter(event.value)
        self.query_one(TaskGraph).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.query_one(f"#{self.query_one(ContentSwitcher).current}").focus()


class TaskScreen(LiveScreen):
    AUTO_FOCUS = "AttemptTable"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "gantt", "Gantt"),
        Binding("d", "durations", "Trend"),
        # The log's keys work wherever the focus is (the tries table has it first).
        Binding("G", "log('follow_end')", "Log end", show=False),
        Binding("g", "log('top')", "Log top", show=False),
        Binding("f", "log('toggle_follow')", "Follow log"),
    ]

    def __init__(self, subject: Target) -> None:
        super().__init__()
        if subject.run_pk is None or subject.task_id is None:
            raise ValueError("a task screen shows one task of one run")
        self.subject = subject
        self.key = (subject.run_pk, subject.task_id)
        self.detail: TaskDetail | None = None
        self.attempt_id: str | None = None  # the try chosen; None: the newest

    def compose(self) -> ComposeResult:
        yield Static(Text(self.subject.describe(), style="bold"), id="topbar")
        yield Static(id="note")
        yield AttemptTable(self.subject, id="tries")
        yield Static(id="command")
        yield LogView(self.subject, id="log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.minorch.feed.watch_task(self.key)

    def on_unmount(self) -> None:
        self.minorch.feed.unwatch(task=self.key)

    def show_update(self, update: Update) -> None:
        task = update.task
        if task is not None and (task.run.pk, task.task_id) == self.key:
            self.detail = task
            self.query_one(AttemptTable).show(task)
            self._describe()
            self.query_one(LogView).set_placeholder(self._no_log())
        if update.log is not None and self.detail is not None:
            self.query_one(LogView).show(update.log, empty=self._no_log())

    def _no_log(self) -> str:
        """What the log pane says when there is no output to show."""
        if self.detail is None:
            return "(no try yet)"
        attempt = self.detail.attempt(self.attempt_id)
        if attempt is None:
            ti = self.detail.ti
            return f"(no try: {ti.note})" if ti is not None and ti.note else "(no try yet)"
        return "(no output yet)" if attempt.end_date is None else "(no output)"

    def _describe(self) -> None:
        task = self.detail
        if task is None:
            return
        ti = task.ti
        top = Text.assemble((task.dag_id, "bold"), " › ", task.run.run_id, " › ", (task.task_id, "bold"))
        self.query_one("#topbar", Static).update(top)
        # The state and why: "◷ up_for_reschedule  waiting for a file matching ... (next poke at ...)".
        note = state_text(str(ti.state) if ti else None, ti.note if ti else None)
        if ti is not None and ti.note:
            note.append(f"  {ti.note}")
        if ti is not None and ti.next_try_at and str(ti.state) in ("up_for_retry", "up_for_reschedule"):
            what = "next poke" if str(ti.state) == "up_for_reschedule" else "next try"
            note.append(f"  ({what} at {fmt.when(ti.next_try_at, task.timezone, seconds=True)})", style="grey62")
        self.query_one("#note", Static).update(note)
        attempt = task.attempt(self.attempt_id)
        if attempt is not None:
            ran = attempt.command or task.template or ""
            item = task.input_of(attempt)
            copy = (
                f" of copy {attempt.map_index}" + (f" (input {item})" if item else "") if attempt.map_index >= 0 else ""
            )
            command = Text.assemble((f"try {attempt.try_number}{copy} ran: ", "grey62"), ran)
        elif task.poked:
            command = Text.assemble(
                ("no process: the scheduler checks this sensor itself; it waits for ", "grey62"), task.template or "-"
            )
        else:
            command = Text.assemble(("not run yet; it runs: ", "grey62"), task.template or "-")
        # The result belongs to the latest try: a chosen earlier (failed) try shows its own outcome instead.
        if task.result is not None and (attempt is None or attempt is task.attempt(None)):
            command.append_text(Text.assemble(("\nreturned: ", "grey62"), task.result))
        elif attempt is not None and attempt.end_date is not None and attempt is not task.attempt(None):
            command.append_text(Text.assemble(("\nthis try: ", "grey62"), attempt.reason or attempt.outcome or "-"))
        self.query_one("#command", Static).update(command)

    def action_log(self, name: str) -> None:
        getattr(self.query_one(LogView), f"action_{name}")()

    def action_gantt(self) -> None:
        """The Gantt of this task's run."""
        subject = self.subject
        self.app.push_screen(GanttScreen(Target(subject.dag_id, subject.run_pk, subject.run_id, None)))

    def action_durations(self) -> None:
        """This task's duration and peak memory over the DAG's newest runs."""
        self.app.push_screen(DurationScreen(self.subject.dag_id, self.subject.task_id))

    def on_attempt_table_try_chosen(self, message: AttemptTable.TryChosen) -> None:
        chosen = self.query_one(AttemptTable).chosen
        if chosen != self.attempt_id:
            self.attempt_id = chosen
            self.minorch.feed.watch_task(self.key, chosen)
        if self.detail is not None:
            self._describe()
