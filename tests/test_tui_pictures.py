"""The picture screens: a run's Gantt and durations over time, driven with Pilot (a real run's state file)
and checked as snapshots at 80x24 and 120x40 (a state file with fixed times, so nothing moves)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import try_row

from minorch import operations as ops
from minorch.registry import load
from minorch.states import RunState, TaskState
from minorch.trend import column, limit_row, outlier_threshold
from minorch.tui.actions import Target
from minorch.tui.app import make_app
from minorch.tui.feed import Feed
from minorch.tui.picture_screens import DurationScreen, GanttScreen
from minorch.tui.screens import DagScreen, TaskScreen
from minorch.tui.widgets.gantt_chart import GanttChart

START = datetime(2024, 5, 1, tzinfo=timezone.utc)
T0 = START.timestamp()


def screen_text(app) -> str:
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())


async def until(pilot, check, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def drive(project, scenario, size=(100, 30)) -> None:
    settings = project.settings()
    registry = load(settings)

    async def main() -> None:
        app = make_app(settings, registry=registry)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.latest.dags is not None, what="DAG list loaded")
            await scenario(pilot)

    asyncio.run(main())


def attempt(pk: int, task_id: str, try_number: int, start: float, end: float | None, outcome="success", copy=-1):
    return try_row(
        f"{pk}-{task_id}-{copy}-{try_number}",
        pk,
        task_id,
        start,
        map_index=copy,
        try_number=try_number,
        command=f"echo {task_id}",
    ), (end, outcome)


def record(store, pk: int, task_id: str, tries, copy: int = -1, peak_rss: int | None = None) -> None:
    """Start and finish `tries` ((start, end, outcome) relative to T0) of a task and set its final state."""
    for number, (start, end, outcome) in enumerate(tries, 1):
        row, _ = attempt(pk, task_id, number, T0 + start, None, outcome, copy)
        store.start_attempt(row)
        if end is not None:
            store.finish_attempt(
                row.attempt_id,
                end_date=T0 + end,
                duration=end - start,
                exit_code=0 if outcome == "success" else 1,
                signal=None,
                timed_out=False,
                outcome=outcome,
                reason="exited",
                peak_rss=peak_rss,
            )
    last_start, last_end, outcome = tries[-1]
    state = TaskState.RUNNING if last_end is None else TaskState(outcome)
    if copy >= 0:
        store.db.execute(
            "INSERT OR REPLACE INTO task_instances (run_pk, task_id, map_index, state, try_number, start_date, "
            "end_date) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pk, task_id, copy, str(state), len(tries), T0 + tries[0][0], None if last_end is None else T0 + last_end),
        )
        return
    store.set_task_state(
        pk,
        task_id,
        state,
        list(TaskState),
        try_number=len(tries),
        start_date=T0 + tries[0][0],
        end_date=None if last_end is None else T0 + last_end,
    )


# ---------------------------------------------------------------- the Gantt of a real run


def test_the_gantt_of_a_run_with_parallel_tasks_a_retry_and_a_mapped_task(project, picture_run):
    store = project.store()
    tries = store.attempts(picture_run.run.pk)
    store.close()
    origin = picture_run.run.start_date
    wall = max(picture_run.run.end_date, max(a.end_date for a in tries)) - origin

    async def scenario(pilot):
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagScreen) and "finish" in screen_text(pilot.app))
        await pilot.press("w")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, GanttScreen) and "critical path" in screen_text(pilot.app)
        )
        chart = pilot.app.screen.query_one(GanttChart)
        lines = screen_text(pilot.app).splitlines()
        assert "critical path: start → flaky → finish" in lines[1]
        rows = lines[3:8]
        assert [row[1:].split()[0] for row in rows] == ["start", "left", "flaky", "▸", "finish"]
        assert "parts [3 copies]" in rows[3]
        assert [row[0] for row in rows] == ["*", " ", "*", " ", "*"]  # the critical path
        left, width = chart.label_width(), chart.bar_width()
        for row in rows:
            task_id = row[1:].split()[0] if not row[1:].startswith("▸") else "parts"
            bars = row[left : left + width]
            ran = [a for a in tries if a.task_id == task_id]
            if task_id == "parts":  # one span over the copies
                seconds = max(a.end_date for a in ran) - min(a.start_date for a in ran)
            else:
                seconds = sum(a.end_date - a.start_date for a in ran)
            expected = seconds / wall * width
            assert abs(bars.count("█") - expected) <= 1 + len(ran), (task_id, bars, expected)
            first = min(a.start_date for a in ran)
            assert abs(bars.index("█") - (first - origin) / wall * width) <= 1, (task_id, bars)
        flaky = rows[2][left : left + width]
        gap = sorted(a.end_date for a in tries if a.task_id == "flaky")[0]
        second = sorted(a.start_date for a in tries if a.task_id == "flaky")[1]
        assert abs(flaky.count("╌") - (second - gap) / wall * width) <= 2  # the 1 s retry delay
        assert "×2" in rows[2]
        await pilot.press("down", "down", "down", "space")  # unfold parts
        await until(pilot, lambda: "[2]" in screen_text(pilot.app), what="copies unfolded")
        lines = screen_text(pilot.app).splitlines()
        assert [line.split()[0] for line in lines[7:10]] == ["[0]", "[1]", "[2]"]
        await pilot.press("left")
        await until(pilot, lambda: "[2]" not in screen_text(pilot.app), what="copies folded")
        await pilot.press("up", "enter")  # flaky's tries
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="task screen")
        assert pilot.app.screen.subject.task_id == "flaky"

    drive(project, scenario)


def test_a_running_runs_gantt_grows_with_the_clock_without_a_write(project):
    project.write("dags/pics.toml", '[dags.pics.tasks.a]\ncommand = "sleep 60"\n')
    settings = project.settings()
    registry = load(settings)
    store = project.store()
    pk = ops.new_run(store, registry.dags["pics"], START, "manual", {}, T0)
    store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=T0)
    record(store, pk, "a", [(1, None, "success")])
    store.close()
    feed = Feed(settings, registry)
    try:
        feed.watch_picture(gantt=pk)
        first = feed.poll(START + timedelta(seconds=10), 0.0).gantt
        later = feed.poll(START + timedelta(seconds=30), 0.1).gantt
    finally:
        feed.close()
    assert first.live and first.wall == 10 and first.bar("a").busy == 9
    assert later.wall == 30 and later.bar("a").busy == 29


def test_the_gantt_screen_of_a_running_run_is_live(project):
    project.write("dags/pics.toml", '[dags.pics.tasks.a]\ncommand = "sleep 60"\n')
    registry = load(project.settings())
    store = project.store()
    began = time.time() - 2
    pk = ops.new_run(store, registry.dags["pics"], START, "manual", {}, began)
    store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=began)
    record(store, pk, "a", [(began - T0 + 0.5, None, "success")])
    store.close()

    def wall(pilot) -> str:
        return screen_text(pilot.app).splitlines()[1].split(" · ")[0]

    async def scenario(pilot):
        await pilot.app.push_screen(GanttScreen(Target("pics", pk, "manual__2024-05-01T00:00:00+00:00")))
        await until(pilot, lambda: "live: drawn up to now" in screen_text(pilot.app), what="live Gantt")
        first = wall(pilot)
        await until(pilot, lambda: wall(pilot) != first, timeout=3, what="the wall time moves on with no write")
        chart = pilot.app.screen.query_one(GanttChart)
        row = screen_text(pilot.app).splitlines()[3]
        bars = row[chart.label_width() : chart.label_width() + chart.bar_width()]
        assert bars.endswith("█") and bars.strip(" ░█") == ""  # waiting, then the running try up to now

    drive(project, scenario)


# ---------------------------------------------------------------- durations


def test_trend_outliers_columns_and_the_limit_row():
    assert outlier_threshold([1, 1, 1, 1]) is None  # too few to tell
    steady = [10, 10.2, 9.9, 10.1, 10, 10.05]
    assert max(steady) < outlier_threshold(steady)  # jitter is not an outlier
    assert outlier_threshold([10, 11, 9, 10, 12, 10, 30]) < 30
    assert column(4, 8, 2) == [" ", "█"] and column(6, 8, 2) == ["▄", "█"] and column(8, 8, 2) == ["█", "█"]
    assert column(0.001, 8, 2) == [" ", "▁"] and column(None, 8, 2) == [" ", " "]
    assert limit_row(4, 8, 4) == 2 and limit_row(8, 8, 4) == 0 and limit_row(None, 8, 4) is None


HISTORY = """
[dags.nightly]
schedule = "@daily"
[dags.nightly.tasks.load]
command = "load"
sla = "40s"
[dags.nightly.tasks.report]
command = "report"
after = ["load"]
"""
LOAD_SECONDS = [20, 22, 21, 23, 20, 24, 22, 21, 60, 22, 23, 21, 20, 22, 25, 21, 22, 23, 21, 22]


def nightly(project):
    """20 finished nightly runs at fixed times: load takes ~22 s (60 s once: an outlier past its 40 s SLA),
    report 5 s; the newest run failed in report."""
    project.write("dags/nightly.toml", HISTORY)
    settings = project.settings()
    registry = load(settings)
    store = project.store()
    for day, seconds in enumerate(LOAD_SECONDS):
        begin = day * 86400.0
        pk = ops.new_run(store, registry.dags["nightly"], START + timedelta(days=day), "scheduled", {}, T0 + begin)
        store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=T0 + begin)
        record(store, pk, "load", [(begin + 1, begin + 1 + seconds, "success")], peak_rss=(40 + day) * 2**20)
        last = day == len(LOAD_SECONDS) - 1
        report = [(begin + seconds + 2, begin + seconds + 7, "failed" if last else "success")]
        record(store, pk, "report", report, peak_rss=10 * 2**20)
        end = T0 + begin + seconds + 8
        store.set_run_state(pk, RunState.FAILED if last else RunState.SUCCESS, [RunState.RUNNING], now=end)
    store.close()


def test_a_tasks_durations_mark_the_outlier_and_draw_its_sla(project):
    nightly(project)

    async def scenario(pilot):
        await pilot.app.push_screen(DurationScreen("nightly", "load"))
        await until(pilot, lambda: "20 runs · median" in screen_text(pilot.app), what="durations shown")
        text = screen_text(pilot.app)
        assert "median 22.0s" in text and "1 over the SLA" in text
        assert "duration, last 20 runs · ┄ SLA 40.0s · ▼ 1 outlier" in text
        marker = next(line for line in text.splitlines() if "▼" in line and "outlier" not in line)
        assert marker.index("▼") == 10 + 2 * 8  # the ninth run: the 60 s one
        assert "┄" in text and "peak RSS, last 20 runs" in text and "59.0 MiB" in text

    drive(project, scenario)


def test_d_on_the_dag_screen_shows_run_durations_and_on_the_task_screen_the_tasks(project):
    nightly(project)

    async def scenario(pilot):
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagScreen) and "report" in screen_text(pilot.app))
        await pilot.press("d")
        await until(pilot, lambda: "run duration, last 20 runs" in screen_text(pilot.app), what="run durations")
        assert "median 30.0s" in screen_text(pilot.app)  # load + 8 s
        await pilot.press("escape", "enter")  # the newest run's load
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="task screen")
        await pilot.press("d")
        await until(pilot, lambda: "nightly › load › durations" in screen_text(pilot.app), what="task durations")
        await pilot.press("escape", "w")
        await until(pilot, lambda: isinstance(pilot.app.screen, GanttScreen) and "report" in screen_text(pilot.app))

    drive(project, scenario)


# ---------------------------------------------------------------- snapshots


def pictures(project):
    """`nightly` plus one run of `pics` at fixed times: parallel tasks, a retry, three mapped copies."""
    nightly(project)
    from conftest import PICTURES_DAG

    project.write("dags/pics.toml", PICTURES_DAG)
    settings = project.settings()
    registry = load(settings)
    store = project.store()
    pk = ops.new_run(store, registry.dags["pics"], START, "manual", {}, T0)
    store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=T0)
    record(store, pk, "start", [(0.1, 2, "success")])
    record(store, pk, "left", [(2.2, 8, "success")])
    record(store, pk, "flaky", [(2.1, 3, "failed"), (4.2, 6.5, "success")])
    for copy, (begin, end) in enumerate([(2.3, 3.5), (2.4, 5), (3.6, 4.8)]):
        record(store, pk, "parts", [(begin, end, "success")], copy=copy)
    store.set_task_state(pk, "parts", TaskState.SUCCESS, list(TaskState), start_date=T0 + 2.05, end_date=T0 + 5)
    record(store, pk, "finish", [(8.3, 8.6, "success")])
    store.set_run_state(pk, RunState.SUCCESS, [RunState.RUNNING], now=T0 + 8.7)
    store.close()
    return settings, registry, pk


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", ["gantt", "task_durations", "run_durations"])
def test_snapshot(project, snap_compare, screen, size):
    settings, registry, pk = pictures(project)
    app = make_app(settings, registry=registry)

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.latest.dags is not None, what="DAG list loaded")
        if screen == "gantt":
            await app.push_screen(GanttScreen(Target("pics", pk, "manual__2024-05-01T00:00:00+00:00")))
            await until(pilot, lambda: "critical path" in screen_text(app), what="Gantt shown")
            # A screen pushed from here (not by its key) may not have moved the focus yet: give it the chart.
            app.screen.query_one(GanttChart).focus()
            await pilot.pause()
            await pilot.press("down", "down", "down", "space")
            await until(pilot, lambda: "[2]" in screen_text(app), what="copies unfolded")
        else:
            task = "load" if screen == "task_durations" else None
            await app.push_screen(DurationScreen("nightly", task))
            await until(pilot, lambda: "20 runs · median" in screen_text(app), what="durations shown")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
