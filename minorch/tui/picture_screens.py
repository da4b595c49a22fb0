"""The picture screens: a run's Gantt (`w` on the DAG and task screens) and durations over time (`d`: a
DAG's run durations on the DAG screen, a task's duration and peak memory on the task screen).

Like the other screens they route: they tell the feed what to read (`Feed.watch_picture`) and hand
what it built to their widgets. A running run's Gantt is rebuilt by the feed as the clock moves.
"""

from __future__ import annotations

import statistics

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from ..gantt import Gantt
from ..gantt_draw import LEGEND, summary
from . import fmt
from .actions import Target
from .feed import Update
from .live import LiveScreen
from .model import Durations
from .palette import state_text
from .widgets.duration_chart import DurationChart, format_value
from .widgets.gantt_chart import GanttChart


class GanttScreen(LiveScreen):
    """The Gantt of one run; `enter` on a row opens that task's tries and log."""

    AUTO_FOCUS = "GanttChart"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, subject: Target) -> None:
        super().__init__()
        self.subject = subject  # its dag_id, run_pk and run_id
        self.shown: Gantt | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.subject.dag_id} › {self.subject.run_id} › Gantt", style="bold"), id="topbar")
        yield Static(id="gantt-summary")
        yield GanttChart(id="gantt")
        yield Static(Text(LEGEND, style="grey62"), id="gantt-legend")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.minorch.feed.watch_picture(gantt=self.subject.run_pk)

    def on_unmount(self) -> None:
        self.minorch.feed.unwatch(gantt=self.subject.run_pk)

    def show_update(self, update: Update) -> None:
        chart = update.gantt
        if chart is None or (chart.dag_id, chart.run_id) != (self.subject.dag_id, self.subject.run_id):
            return
        if chart == self.shown:
            return  # another part of the state file changed: nothing to redraw here
        self.shown = chart
        top = Text.assemble((f"{chart.dag_id} › {chart.run_id}", "bold"), "  ", state_text(chart.state))
        if chart.live:
            top.append("  live: drawn up to now", style="grey62")
        self.query_one("#topbar", Static).update(top)
        line = summary(chart) if chart.origin is not None else "nothing has run yet"
        self.query_one("#gantt-summary", Static).update(Text(line))
        self.query_one(GanttChart).show(chart)

    def on_gantt_chart_chosen(self, message: GanttChart.Chosen) -> None:
        from .screens import TaskScreen  # screens.py opens this screen: imported here, when needed

        subject = self.subject
        self.app.push_screen(TaskScreen(Target(subject.dag_id, subject.run_pk, subject.run_id, message.task_id)))


class DurationScreen(LiveScreen):
    """Durations over the newest runs: a DAG's runs (`task_id` None), or a task's tries and peak memory."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, dag_id: str, task_id: str | None = None) -> None:
        super().__init__()
        self.key = (dag_id, task_id)
        self.shown: Durations | None = None

    def compose(self) -> ComposeResult:
        dag_id, task_id = self.key
        title = f"{dag_id} › {task_id} › durations" if task_id else f"{dag_id} › run durations"
        yield Static(Text(title, style="bold"), id="topbar")
        yield Static(id="duration-summary")
        yield DurationChart(id="duration-chart")
        yield DurationChart(id="rss-chart")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#rss-chart").display = self.key[1] is not None
        self.minorch.feed.watch_picture(durations=self.key)

    def on_unmount(self) -> None:
        self.minorch.feed.unwatch(durations=self.key)

    def show_update(self, update: Update) -> None:
        found = update.durations
        if found is None or (found.dag_id, found.task_id) != self.key or found == self.shown:
            return
        self.shown = found
        self.query_one("#duration-chart", DurationChart).show(found.duration, found.timezone)
        if found.rss is not None:
            self.query_one("#rss-chart", DurationChart).show(found.rss, found.timezone)
        values = found.duration.values
        if not values:
            text = Text("no finished runs yet", style="grey62")
        else:
            ordered = sorted(values)
            p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            text = Text(
                f"{len(values)} runs · median {fmt.duration(statistics.median(values))} · p95 {fmt.duration(p95)} "
                f"· newest {format_value(values[-1], 'seconds')}"
            )
            if found.duration.limit is not None:
                over = sum(1 for v in values if v > found.duration.limit)
                text.append(f" · {over} over the SLA", style="red" if over else "")
        self.query_one("#duration-summary", Static).update(text)
