"""The terminal UI, driven with Textual's Pilot against real state files and DAG files.

Runs and tries are written through the store and `minorch.operations`, as a scheduler
would; every action test checks the state file afterwards. Waiting is for a condition
(the worker's refresh, an action's write), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import try_row

from minorch import operations as ops
from minorch.config import load_settings
from minorch.lock import SchedulerLock
from minorch.registry import load
from minorch.states import RunState, TaskState
from minorch.store import Store
from minorch.tui.actions import ACTIONS
from minorch.tui.app import make_app
from minorch.tui.dialogs import StopDialog
from minorch.tui.feed import Feed
from minorch.tui.layout import layout
from minorch.tui.model import dag_detail, dag_list
from minorch.tui.palette import look
from minorch.tui.screens import DagListScreen, DagScreen, TaskScreen
from minorch.tui.widgets.run_grid import RunGrid

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=timezone.utc)
STAMP = NOW.timestamp()

ETL = """
[dags.etl]
schedule = "@daily"
description = "orders: extract, transform, test, publish"

[dags.etl.tasks.extract]
command = "echo extract {{ ds }}"
[dags.etl.tasks.transform]
command = "echo transform"
after = ["extract"]
[dags.etl.tasks.report]
command = "echo report"
after = ["extract"]
[dags.etl.tasks.test]
command = "exit 1"
after = ["transform"]
[dags.etl.tasks.publish]
command = "echo publish"
after = ["test", "report"]

[dags.hello]
schedule = "*/5 * * * *"
[dags.hello.tasks.greet]
command = "echo hello"
"""
BROKEN = """
[dags.broken.tasks.a]
command = "true"
after = ["b"]
"""
FINAL = {
    "extract": "success",
    "transform": "success",
    "report": "success",
    "test": "failed",
    "publish": "upstream_failed",
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def project(tmp_path: Path):
    """A project with DAGs etl (5 tasks) and hello, one broken DAG file, and three failed etl runs
    (May 1-3) whose `test` task has a try with a log file."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\nstate_dir = "state"\ndag_folders = ["dags"]\n')
    (tmp_path / "dags" / "etl.toml").write_text(ETL)
    (tmp_path / "dags" / "broken.toml").write_text(BROKEN)
    settings = load_settings(tmp_path / "minorch.toml")
    registry = load(settings)
    store = Store(settings.db_path)
    dag = registry.dags["etl"]
    for day in (1, 2, 3):
        pk = ops.new_run(store, dag, datetime(2024, 5, day, tzinfo=timezone.utc), "scheduled", {}, STAMP)
        store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=STAMP)
        for tid, state in FINAL.items():
            store.set_task_state(pk, tid, TaskState(state), [TaskState.NONE], try_number=1, end_date=STAMP)
        log = settings.log_dir / f"run{pk}" / "test" / "1.log"
        log.parent.mkdir(parents=True)
        log.write_text(f"testing day {day}\nassertion failed: 3 rows missing\n")
        store.start_attempt(try_row(f"a{pk}", pk, "test", STAMP, log_path=str(log), command="exit 1"))
        store.finish_attempt(
            f"a{pk}",
            end_date=STAMP + 2,
            duration=2.0,
            exit_code=1,
            signal=None,
            timed_out=False,
            outcome="failed",
            reason="exited with code 1",
            peak_rss=3 * 2**20,
        )
        store.set_run_state(pk, RunState.FAILED, [RunState.RUNNING], now=STAMP)
    store.close()
    return settings, registry


def newest_run(settings, dag_id: str = "etl"):
    store = Store(settings.db_path)
    try:
        return store.runs(dag_id, limit=1)[0]
    finally:
        store.close()


def states(settings, run_pk: int) -> dict[str, str]:
    store = Store(settings.db_path)
    try:
        return {tid: ti.state.value for tid, ti in store.task_instances([run_pk])[run_pk].items()}
    finally:
        store.close()


def screen_text(app) -> str:
    """The screen as a person sees it, without colours."""
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())


async def until(pilot, check, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def drive(project, scenario, size=(100, 30), runs_scheduler=False):
    """Run `scenario(pilot, settings)` against the app once the DAG list shows."""
    settings, registry = project

    async def main() -> None:
        app = make_app(settings, registry=registry, runs_scheduler=runs_scheduler)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: "etl" in screen_text(app), what="DAG list shown")
            await scenario(pilot, settings)

    asyncio.run(main())


async def open_etl(pilot) -> None:
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, DagScreen) and "publish" in screen_text(pilot.app),
        what="etl grid shown",
    )


async def answer_dialog(pilot, **values: str) -> None:
    """Fill the open dialog's text fields (set directly: typing costs ~80 ms a key in Pilot) and press enter."""
    await until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ActionDialog", what="dialog open")
    for name, value in values.items():
        pilot.app.screen.query_one(f"#field-{name}").value = value
    await pilot.press("enter")


def add_daily_runs(settings, registry, first_day: int, days: int) -> None:
    """Finished etl runs (every task success) for `days` days of April, from `first_day`."""
    store = Store(settings.db_path)
    for day in range(first_day, first_day + days):
        pk = ops.new_run(
            store, registry.dags["etl"], datetime(2024, 4, day, tzinfo=timezone.utc), "scheduled", {}, STAMP
        )
        store.set_run_state(pk, RunState.SUCCESS, [RunState.QUEUED], now=STAMP)
    store.close()


def grid_header(app) -> list[str]:
    return next(line for line in screen_text(app).splitlines() if "task (day)" in line).split()[2:]


def select_task(pilot, task_id: str) -> None:
    """Put the grid's cursor on `task_id` in the newest run (the arrow keys are tested on their own)."""
    pilot.app.screen.query_one(RunGrid).select_task(task_id)


# ---------------------------------------------------------------- screens


def test_the_dag_list_shows_schedules_recent_runs_and_load_errors(project):
    async def scenario(pilot, settings):
        # Textual widens an auto-width column a frame after the rows come: until then a longer
        # schedule shows cut to the header's width.
        await until(
            pilot,
            lambda: all(part in screen_text(pilot.app) for part in ("orders:", "broken.toml", "*/5 * * * *")),
            what="status line of the first DAG, the load errors and every schedule in full",
        )
        text = screen_text(pilot.app)
        etl = next(line for line in text.splitlines() if line.startswith(" etl"))
        assert "@daily" in etl and "✗✗✗" in etl and "no" in etl
        assert "*/5 * * * *" in text
        assert "broken.toml" in text and "'b'" in text
        assert "orders: extract, transform, test, publish" in text

    drive(project, scenario)


def test_a_description_too_long_for_the_list_is_cut_with_an_ellipsis_from_the_first_draw(project):
    async def scenario(pilot, settings):
        etl = next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" etl"))
        assert etl.endswith("…") and "orders:" in etl and len(etl) <= 92

    drive(project, scenario, size=(92, 30))


def test_the_grid_has_runs_as_columns_newest_last_tasks_as_rows_and_opens_a_clicked_cell(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        lines = screen_text(pilot.app).splitlines()
        header = next(line for line in lines if "task (day)" in line)
        assert header.split()[-3:] == ["01", "02", "03"]
        test_row = next(line for line in lines if line.startswith(" test "))
        assert test_row.split()[1:] == ["✗", "✗", "✗"]
        publish_row = next(line for line in lines if line.startswith(" publish"))
        assert publish_row.split()[1:] == ["▲", "▲", "▲"]
        # the status line names the selected run (drawn once the grid has placed its cursor)
        await until(pilot, lambda: "scheduled ✗ failed" in screen_text(pilot.app), what="the selected run's status")
        grid = pilot.app.screen.query_one(RunGrid)
        column = 1 + grid.label_width + 3 * 0  # the oldest run's cell of the second task row
        await pilot.click(RunGrid, offset=(column, 3))
        assert grid.selection() == (newest_run(settings).pk - 2, "transform")
        await pilot.click(RunGrid, offset=(column, 3))
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="a second click opens the task")

    drive(project, scenario)


def test_g_shows_the_graph_with_edges_and_states_where_j_and_enter_open_a_task(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("g")
        await until(pilot, lambda: "▸" in screen_text(pilot.app), what="graph shown")
        text = screen_text(pilot.app)
        assert "■ extract ──┬─▸ ■ transform ───▸ ✗ test ──┬─▸ ▲ publish" in text
        assert "└─▸ ■ report" in text
        await pilot.press("j", "j", "enter")  # reading order: extract, transform, report
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="task screen")
        assert pilot.app.screen.subject.task_id == "report"

    drive(project, scenario)


GROUPED = """
[dags.a_grouped.groups.extract]
[dags.a_grouped.tasks.start]
command = "true"
[dags.a_grouped.tasks.orders]
group = "extract"
command = "true"
after = ["start"]
[dags.a_grouped.tasks.customers]
group = "extract"
command = "true"
after = ["orders"]
[dags.a_grouped.tasks.load]
command = "true"
after = ["extract"]
"""


def test_the_graph_draws_a_task_group_as_a_box_named_after_it(project):
    settings, _ = project
    (settings.root / "dags" / "grouped.toml").write_text(GROUPED)
    registry = load(settings)

    async def scenario(pilot, settings):
        await pilot.press("enter")  # the first DAG in the list: a_grouped
        await until(pilot, lambda: isinstance(pilot.app.screen, DagScreen), what="DAG screen")
        await pilot.press("g")
        await until(pilot, lambda: "▸" in screen_text(pilot.app), what="graph shown")
        lines = screen_text(pilot.app).splitlines()
        top = next(i for i, line in enumerate(lines) if "╭─ extract ─" in line)
        assert " ".join(lines[top + 1].split()) == "start ───▸│ extract.orders ───▸ extract.customers │───▸ load"
        assert "╰──" in lines[top + 2] and lines[top + 2].index("╰") == lines[top].index("╭")

    drive((settings, registry), scenario, size=(120, 30))


def test_a_group_is_boxed_only_when_no_other_task_falls_inside_its_box():
    groups = {"g.b": "g", "g.c": "g", "h.x": "h", "h.y": "h"}
    drawn = layout(
        ["a", "g.b", "g.c", "d", "h.x", "h.y"],
        {"g.b": ["a"], "g.c": ["a"], "d": ["g.b", "g.c"], "h.x": ["a"], "h.y": ["h.x"]},
        groups,
    )
    text = "\n".join(drawn.lines)
    assert text.count("╭") == 2 and "╭─ g ─" in text and "╭─ h ─" in text
    # a task between two of a group's tasks: that group cannot be boxed, the others still are
    crossed = layout(["g.a", "b", "g.c"], {"b": ["g.a"], "g.c": ["b"]}, {"g.a": "g", "g.c": "g"})
    assert not any("╭" in line for line in crossed.lines)


def test_enter_on_a_cell_shows_the_tries_command_and_log_and_follows_the_log(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("down", "down", "down", "enter")  # extract -> transform -> report -> test
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, TaskScreen) and "assertion failed" in screen_text(pilot.app),
            what="task screen with log",
        )
        text = screen_text(pilot.app)
        assert "✗ failed" in text and "exited with code 1" in text and "3.0 MiB" in text
        assert "try 1 ran: exit 1" in text
        log = next(settings.log_dir.glob("*/test/1.log"))
        with open(sorted(settings.log_dir.glob("*/test/1.log"))[-1], "a") as stream:
            stream.write("a line written while the screen is open\n")
        await until(
            pilot,
            lambda: "a line written while the screen is open" in screen_text(pilot.app),
            timeout=2.0,
            what="appended log line shown",
        )
        assert log.exists()

    drive(project, scenario)


def test_a_task_screen_shows_a_host_column_once_a_try_ran_on_another_host(project):
    settings, _ = project
    db = sqlite3.connect(settings.db_path)
    with db:  # the newest run's `test` try ran on a Dask worker
        db.execute("UPDATE attempts SET executor = 'dask', host = 'worker7' WHERE attempt_id = 'a3'")
    db.close()

    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("down", "down", "down", "enter")  # extract -> transform -> report -> test
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="task screen")
        await until(pilot, lambda: "worker7" in screen_text(pilot.app), what="the host shown")
        header = next(line for line in screen_text(pilot.app).splitlines() if "outcome" in line)
        assert header.split()[-1] == "host"

    drive(project, scenario, size=(140, 30))


def test_a_log_that_fills_the_pane_keeps_following_and_g_G_f_work_from_the_tries_table(project):
    def append(settings, text: str) -> None:
        for log in settings.log_dir.glob("*/test/1.log"):
            with open(log, "a") as stream:
                stream.write(text)

    def shown(pilot, text: str) -> bool:
        return text in screen_text(pilot.app)

    async def scenario(pilot, settings):
        append(settings, "".join(f"filler line {i}\n" for i in range(300)))
        await open_etl(pilot)
        await pilot.press("down", "down", "down", "enter")
        await until(pilot, lambda: shown(pilot, "filler line 299"), what="the log's end shown on open")
        assert pilot.app.focused is pilot.app.screen.query_one("AttemptTable")  # the log is not focused
        append(settings, "written after opening 1\n")
        await until(pilot, lambda: shown(pilot, "written after opening 1"), timeout=2.0, what="followed")
        await pilot.press("g")  # to the top: following stops
        await until(pilot, lambda: shown(pilot, "testing day"), what="top shown")
        append(settings, "written after opening 2\n")
        await pilot.pause(1.0)
        assert not shown(pilot, "written after opening 2") and shown(pilot, "testing day")
        await pilot.press("G")  # the end, following again
        await until(pilot, lambda: shown(pilot, "written after opening 2"), what="end shown")
        append(settings, "written after opening 3\n")
        await until(pilot, lambda: shown(pilot, "written after opening 3"), timeout=2.0, what="followed again")
        await pilot.press("f")  # off
        append(settings, "".join(f"more line {i}\n" for i in range(100)))
        await pilot.pause(1.0)
        assert not shown(pilot, "more line 99")
        await pilot.press("f")  # on: to the end
        await until(pilot, lambda: shown(pilot, "more line 99"), what="f follows again")

    drive(project, scenario)


def test_an_earlier_failed_try_shows_its_own_outcome_not_the_later_tries_result(tmp_path):
    from minorch.foreground import run_foreground

    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\nstate_dir = "state"\n[defaults]\nretry_delay = "0s"\n')
    (tmp_path / "dags" / "etl.py").write_text(
        "from minorch import DAG, task\n\n"
        "with DAG('etl', schedule='@daily', retries=1):\n\n"
        "    @task\n"
        "    def answer(try_number):\n"
        "        if try_number == 1:\n"
        "            raise SystemExit(3)\n"
        "        return 42\n\n"
        "    answer()\n"
    )
    settings = load_settings(tmp_path / "minorch.toml")
    registry = load(settings)
    done = run_foreground(settings, registry, registry.dags["etl"], "2024-05-01", {}, lambda line: None)
    assert done.run.state is RunState.SUCCESS and len(done.attempts["answer"]) == 2

    async def scenario(pilot, settings):
        await open_etl_task(pilot)
        await until(pilot, lambda: "returned: 42" in screen_text(pilot.app), what="the latest try's result")
        await pilot.press("up")  # the first try, which failed
        await until(pilot, lambda: "this try: exited with code 3" in screen_text(pilot.app), what="its own outcome")
        assert "returned: 42" not in screen_text(pilot.app)

    async def open_etl_task(pilot):
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagScreen), what="grid")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, TaskScreen), what="task screen")

    drive((settings, registry), scenario)


def test_escape_sequences_in_a_log_are_shown_as_text_not_sent_to_the_terminal(project):
    async def scenario(pilot, settings):
        for log in settings.log_dir.glob("*/test/1.log"):
            with open(log, "ab") as stream:
                stream.write(b"\x1b[2J\x1b]0;pwned\x07cleared the screen\r\n")
        await open_etl(pilot)
        await pilot.press("down", "down", "down", "enter")
        await until(pilot, lambda: "cleared the screen" in screen_text(pilot.app), what="log shown")
        line = next(t for t in screen_text(pilot.app).splitlines() if "cleared the screen" in t)
        assert "\\x1b[2J\\x1b]0;pwned\\x07cleared the screen" in line
        assert "\\x0d" not in line  # a CRLF line end is just a line end

    drive(project, scenario)


def test_a_change_written_by_another_connection_shows_within_a_second(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        run = newest_run(settings)
        store = Store(settings.db_path)
        store.set_task_state(run.pk, "test", TaskState.SUCCESS, [TaskState.FAILED])
        store.close()
        started = time.monotonic()
        await until(
            pilot,
            lambda: (
                next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" test ")).split()[1:]
                == ["✗", "✗", "■"]
            ),
            timeout=2.0,
            what="grid shows the change",
        )
        assert time.monotonic() - started < 1.0

    drive(project, scenario)


def test_the_dag_list_covered_by_a_dag_screen_shows_what_changed_meanwhile_when_it_comes_back(project):
    """A covered screen is not redrawn while covered; it catches up with the latest state when resumed."""

    async def scenario(pilot, settings):
        await open_etl(pilot)
        store = Store(settings.db_path)
        ops.set_paused(store, "hello", True)
        store.close()
        await until(
            pilot,
            lambda: any(item.dag_id == "hello" and item.paused for item in pilot.app.latest.dags.dags),
            what="the pause read by the feed",
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagListScreen), what="back on the DAG list")
        hello = next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" hello"))
        assert hello.split()[-2:] == ["paused", "yes"]

    drive(project, scenario)


def test_slash_filters_the_dag_list_and_escape_clears_the_filter(project):
    async def scenario(pilot, settings):
        await pilot.press("slash", *"hel")
        await until(pilot, lambda: " etl " not in screen_text(pilot.app), what="etl filtered out")
        assert " hello " in screen_text(pilot.app)
        await pilot.press("escape")
        await until(pilot, lambda: " etl " in screen_text(pilot.app), what="filter cleared")

    drive(project, scenario)


def test_question_mark_shows_the_keys_and_the_state_legend(project):
    async def scenario(pilot, settings):
        await pilot.press("question_mark")
        await until(pilot, lambda: "minorch keys" in screen_text(pilot.app), what="help shown")
        text = screen_text(pilot.app)
        assert "r retry failed tasks" in text and "▲ upstream_failed" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagListScreen), what="help closed")

    drive(project, scenario)


def test_resizing_between_80x24_and_a_large_terminal_keeps_every_screen_drawn(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        for size in ((200, 60), (40, 12), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
        await pilot.press("g")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert "extract" in screen_text(pilot.app)

    drive(project, scenario, size=(80, 24))


def test_brackets_page_back_through_older_runs_and_the_arrows_cross_pages(project):
    settings, registry = project
    add_daily_runs(settings, registry, 1, 30)  # with May 1-3: 33 runs; a page holds what fits across

    async def scenario(pilot, settings):
        await open_etl(pilot)
        per = pilot.app.screen.query_one(RunGrid).fits()
        assert 5 <= per < 33
        await until(pilot, lambda: f"newest {per} runs" in screen_text(pilot.app), what="a page of what fits")
        assert grid_header(pilot.app)[-1] == "03" and len(grid_header(pilot.app)) == per  # all of it in view
        assert "[ older" in screen_text(pilot.app)
        await pilot.press("left_square_bracket")
        older = 33 - per  # April 1 .. April `older`
        await until(pilot, lambda: f"runs {per + 1}-33 from the newest" in screen_text(pilot.app), what="older page")
        assert grid_header(pilot.app) == [f"{day:02d}" for day in range(1, older + 1)]
        assert f"2024-04-01 .. 2024-04-{older:02d}" in screen_text(pilot.app)
        assert f"2024-04-{older:02d} 00:00 scheduled" in screen_text(pilot.app)  # the cursor on the page's newest run
        await pilot.press("right")  # past the page's newest run: the next page, on its oldest run
        await until(pilot, lambda: f"newest {per} runs" in screen_text(pilot.app), what="newer page")
        await until(
            pilot, lambda: f"2024-04-{older + 1:02d} 00:00 scheduled" in screen_text(pilot.app), what="cursor moved"
        )

    drive(project, scenario, size=(80, 24))  # fewer runs fit than the default page of 25


def test_runs_sharing_a_day_get_an_hour_row_and_a_new_run_takes_the_cursor(project):
    settings, registry = project

    def add_run(hour: int) -> None:
        store = Store(settings.db_path)
        ops.new_run(store, registry.dags["etl"], datetime(2024, 5, 3, hour, tzinfo=timezone.utc), "manual", {}, STAMP)
        store.close()

    def hour_row(app) -> list[str]:
        lines = screen_text(app).splitlines()
        at = next(i for i, line in enumerate(lines) if "task (day)" in line)
        return lines[at + 1].split()[1:] if "(hour)" in lines[at + 1] else []

    add_run(12)  # a manual run on May 3, the day of the newest scheduled run

    async def scenario(pilot, settings):
        await open_etl(pilot)
        assert grid_header(pilot.app) == ["01", "02", "03", "03"]  # every column names its day
        assert hour_row(pilot.app) == ["00", "00", "00", "12"]
        assert "2024-05-03 12:00 manual" in screen_text(pilot.app)  # the cursor on the newest run
        add_run(18)  # triggered while the grid is open
        await until(pilot, lambda: "2024-05-03 18:00 manual" in screen_text(pilot.app), what="new run has the cursor")
        assert hour_row(pilot.app) == ["00", "00", "00", "12", "18"]

    drive(project, scenario)


def test_slash_on_the_dag_screen_keeps_the_tasks_whose_id_matches(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("slash")
        pilot.app.screen.query_one("#filter").value = "rep"  # typing costs ~80 ms a key in Pilot
        await until(pilot, lambda: " transform " not in screen_text(pilot.app), what="tasks filtered")
        rows = [line.split()[0] for line in screen_text(pilot.app).splitlines()[2:] if line.startswith(" ")]
        assert "report" in rows and "run" in rows and "extract" not in rows
        await pilot.press("enter", "escape")  # the first escape clears the filter, the second goes back
        await until(pilot, lambda: " transform " in screen_text(pilot.app), what="filter cleared")
        assert isinstance(pilot.app.screen, DagScreen)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagListScreen), what="back to the list")

    drive(project, scenario)


def test_a_branch_skip_and_a_waiting_sensor_have_their_own_looks_and_the_task_view_says_why(project):
    settings, _registry = project
    run = newest_run(settings)
    store = Store(settings.db_path)
    store.set_task_state(
        run.pk, "report", TaskState.SKIPPED, [TaskState.SUCCESS], note="not chosen by branch 'extract'"
    )
    store.set_task_state(
        run.pk,
        "transform",
        TaskState.UP_FOR_RESCHEDULE,
        [TaskState.SUCCESS],
        note="waiting for a file matching in/2024-05-03.csv",
        next_try_at=STAMP + 30,
    )
    store.close()
    assert look("skipped", "not chosen by branch 'extract'") != look("skipped", "marked skipped")

    async def scenario(pilot, settings):
        await open_etl(pilot)
        rows = {line.split()[0]: line.split()[1:] for line in screen_text(pilot.app).splitlines()[2:8]}
        assert rows["report"][-1] == "⊘" and rows["transform"][-1] == "◷"
        assert "⊘ not chosen" in screen_text(pilot.app) and "◷ up_for_reschedule" in screen_text(pilot.app)
        select_task(pilot, "transform")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, TaskScreen)
                and "waiting for a file matching in/2024-05-03.csv" in screen_text(pilot.app)
            ),
            what="task view with the sensor's note",
        )
        assert "next poke at 05-06 12:00:30" in screen_text(pilot.app)
        assert "(no try: waiting for a file" in screen_text(pilot.app)

    drive(project, scenario)


def test_a_mapped_task_lists_the_tries_of_every_copy(project):
    settings, _registry = project
    run = newest_run(settings)
    store = Store(settings.db_path)
    for copy in (0, 1):
        store.start_attempt(try_row(f"m{copy}", run.pk, "report", STAMP, map_index=copy, command=f"echo part {copy}"))
    store.close()

    async def scenario(pilot, settings):
        await open_etl(pilot)
        select_task(pilot, "report")
        await pilot.press("enter")
        await until(pilot, lambda: "[1] 1" in screen_text(pilot.app), what="both copies' tries")
        assert "[0] 1" in screen_text(pilot.app) and "try 1 of copy 1 ran: echo part 1" in screen_text(pilot.app)

    drive(project, scenario)


def test_q_in_minorch_ui_quits_at_once(project):
    async def scenario(pilot, settings):
        await pilot.press("q")
        await until(pilot, lambda: not pilot.app.is_running, what="the app quit")

    drive(project, scenario)


def test_q_inside_minorch_up_asks_before_stopping_the_scheduler(project):
    async def scenario(pilot, settings):
        assert "scheduler running here, q stops it" in screen_text(pilot.app)
        await pilot.press("q")
        await until(
            pilot,
            lambda: "no tries are running: it stops at once" in screen_text(pilot.app),
            what="the question, with what is running",
        )
        assert "running tries get 5s to finish" in screen_text(pilot.app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagListScreen), what="question dismissed")
        assert pilot.app.is_running
        await pilot.press("q")
        await until(pilot, lambda: isinstance(pilot.app.screen, StopDialog), what="asked again")
        await pilot.press("enter")
        await until(pilot, lambda: not pilot.app.is_running, what="the app quit")

    drive(project, scenario, runs_scheduler=True)


# ---------------------------------------------------------------- actions


def test_t_triggers_a_manual_run_for_the_date_typed(project):
    async def scenario(pilot, settings):
        await pilot.press("t")
        await answer_dialog(pilot, date="2024-05-04")
        await until(pilot, lambda: newest_run(settings).run_type == "manual", what="manual run written")
        assert newest_run(settings).run_id == "manual__2024-05-04T00:00:00+00:00"

    drive(project, scenario)


REPORT = """
[dags.a_report]
[dags.a_report.params]
days = { default = 7, type = "integer", minimum = 1, maximum = 31, description = "how far back" }
region = { default = "eu", enum = ["eu", "us"] }
dry_run = { default = false, type = "boolean" }
note = "plain"
[dags.a_report.tasks.show]
command = "echo {{ params.days }}"
"""


def test_t_on_a_dag_with_params_asks_for_each_with_its_type_and_default_and_checks_it(project):
    settings, _ = project
    (settings.root / "dags" / "report.toml").write_text(REPORT)
    registry = load(settings)

    async def scenario(pilot, settings):
        await pilot.press("t")  # the first DAG in the list: a_report
        await until(pilot, lambda: pilot.app.screen.__class__.__name__ == "ActionDialog", what="dialog open")
        text = screen_text(pilot.app)
        assert "days (integer, 1..31, default 7): how far back" in text
        assert 'region (default "eu")' in text and "dry_run (boolean, default false)" in text
        assert 'note (default "plain")' in text
        days = pilot.app.screen.query_one("#field-param-days")
        assert days.value == "7"
        days.value = "40"
        await until(
            pilot, lambda: "param 'days': 40 is more than the maximum 31" in screen_text(pilot.app), what="refused"
        )
        days.value = "nine"
        await until(pilot, lambda: "'nine' is not of type integer" in screen_text(pilot.app), what="type refused")
        days.value = "14"
        await until(pilot, lambda: 'with {"days": 14}' in screen_text(pilot.app), what="preview with the conf")
        await pilot.press("enter")
        await until(pilot, lambda: newest_run(settings, "a_report").conf == {"days": 14}, what="run with its conf")

    drive((settings, registry), scenario, size=(100, 40))


def test_p_pauses_the_dag_and_p_again_unpauses_it(project):
    def paused(settings):
        store = Store(settings.db_path)
        try:
            row = store.dag_rows().get("etl")
            return row is not None and row.paused
        finally:
            store.close()

    async def scenario(pilot, settings):
        await pilot.press("p")
        await until(pilot, lambda: paused(settings), what="etl paused")
        await until(
            pilot,
            lambda: "yes" in next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" etl")),
            what="paused shown",
        )
        etl_row = next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" etl"))
        assert " paused " in etl_row and "2024-" not in etl_row  # a paused DAG has no next run
        await pilot.press("p")
        await until(pilot, lambda: not paused(settings), what="etl unpaused")
        await until(
            pilot,
            lambda: " +00:00 " in next(line for line in screen_text(pilot.app).splitlines() if line.startswith(" etl")),
            what="next run with its offset shown",
        )

    drive(project, scenario)


def test_colon_opens_the_command_palette(project):
    from textual.command import CommandPalette

    async def scenario(pilot, settings):
        await pilot.press(":")
        await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="palette open")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette), what="palette closed")

    drive(project, scenario)


def test_c_on_a_task_clears_it_and_its_downstream_after_confirmation(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        select_task(pilot, "test")
        await pilot.press("c")
        await until(pilot, lambda: "runs 2 tasks again: test, publish" in screen_text(pilot.app), what="clear preview")
        await pilot.press("enter")
        run = newest_run(settings)
        await until(pilot, lambda: states(settings, run.pk)["test"] == "none", what="test cleared")
        assert states(settings, run.pk) == {**FINAL, "test": "none", "publish": "none"}
        assert newest_run(settings).state is RunState.QUEUED

    drive(project, scenario)


def test_escape_in_the_clear_dialog_changes_nothing(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("c")
        await until(pilot, lambda: "Clear:" in screen_text(pilot.app), what="dialog open")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, DagScreen), what="dialog closed")
        await pilot.pause(0.2)
        assert states(settings, newest_run(settings).pk) == FINAL

    drive(project, scenario)


def test_r_retries_the_failed_tasks_of_the_selected_run(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("r")
        await answer_dialog(pilot)
        run = newest_run(settings)
        await until(pilot, lambda: states(settings, run.pk)["test"] == "none", what="failed tasks cleared")
        assert states(settings, run.pk) == {**FINAL, "test": "none", "publish": "none"}

    drive(project, scenario)


def test_m_marks_the_selected_task_with_the_state_chosen(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        select_task(pilot, "test")
        await pilot.press("m")
        await answer_dialog(pilot)  # "success" is preselected
        run = newest_run(settings)
        await until(pilot, lambda: states(settings, run.pk)["test"] == "success", what="test marked")
        assert states(settings, run.pk)["publish"] == "none"  # failed downstream is cleared to run on
        await pilot.press("m")
        await until(pilot, lambda: "Mark:" in screen_text(pilot.app), what="dialog open")
        await pilot.press("right", "right", "space", "enter")  # success -> failed -> skipped
        await until(pilot, lambda: states(settings, run.pk)["test"] == "skipped", what="test marked skipped")

    drive(project, scenario)


def test_m_on_the_run_row_marks_the_whole_run(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        await pilot.press("up")  # from the first task to the run row
        await pilot.press("m")
        await answer_dialog(pilot)
        await until(pilot, lambda: newest_run(settings).state is RunState.SUCCESS, what="run marked")

    drive(project, scenario)


def test_b_previews_how_many_runs_a_backfill_creates_then_creates_them(project):
    async def scenario(pilot, settings):
        await pilot.press("b")
        await until(pilot, lambda: "Backfill:" in screen_text(pilot.app), what="dialog open")
        for field, value in (("#field-start", "2024-05-01"), ("#field-end", "2024-05-05")):
            pilot.app.screen.query_one(field).value = value
        await until(
            pilot,
            lambda: "creates 2 runs, runs 0 again, leaves 3 alone" in screen_text(pilot.app),
            what="backfill preview",
        )
        await pilot.press("enter")
        await until(
            pilot,
            lambda: newest_run(settings).run_id == "backfill__2024-05-05T00:00:00+00:00",
            what="backfill runs written",
        )

    drive(project, scenario)


def test_every_action_of_the_focused_widget_is_in_the_command_palette(project):
    async def scenario(pilot, settings):
        await open_etl(pilot)
        titles = [c.title for c in pilot.app.get_system_commands(pilot.app.screen)]
        for action in ACTIONS.values():
            assert any(t.startswith(f"{action.title}: etl run scheduled__2024-05-03") for t in titles), action
        assert "Open DAG hello" in titles and "Back" in titles

    drive(project, scenario)


# ---------------------------------------------------------------- feed and layout


def test_load_errors_are_the_schedulers_while_one_runs_and_the_uis_own_otherwise(project):
    settings, registry = project
    store = Store(settings.db_path)
    store.set_load_errors([("dags/gone.toml", 1, "dags/gone.toml:1: an error fixed since")])
    store.sync_dag("hello", file="dags/etl.toml", schedule=None, description=None, paused_default=False, now=STAMP)
    store.set_dag_error("hello", "dags/etl.toml:2: a broken edit")
    try:
        mine = dag_list(store, registry, NOW, scheduler=False)
        assert mine.errors == tuple(str(e) for e in registry.errors) and mine.get("hello").problem is None
        theirs = dag_list(store, registry, NOW, scheduler=True)
        assert theirs.errors == ("dags/gone.toml:1: an error fixed since",)
        assert (
            theirs.get("hello").problem == "dags/etl.toml:2: a broken edit (the scheduler runs its last good version)"
        )
    finally:
        store.close()
    lock = SchedulerLock(settings.state_dir)
    lock.acquire("minorch up")  # what a running scheduler holds
    feed = Feed(settings, registry)
    try:
        assert feed.poll(NOW, 0.0).dags.errors == ("dags/gone.toml:1: an error fixed since",)
    finally:
        feed.close()
        lock.release()
    feed = Feed(settings, registry)  # no scheduler now: the store's list is stale, the UI's own load counts
    errors = feed.poll(NOW, 0.0).dags.errors
    feed.close()
    assert len(errors) == 1 and "broken.toml" in errors[0]


def test_a_line_leaving_a_task_never_shares_cells_with_a_line_entering_another():
    # check_day fans out to full_load and light_load; has_new_data, drawn beside light_load, feeds transform.
    drawn = layout(
        ["check_day", "has_new_data", "full_load", "light_load", "transform"],
        {"full_load": ["check_day"], "light_load": ["check_day"], "transform": ["has_new_data"]},
    )
    row, column = drawn.nodes["light_load"]
    assert drawn.nodes["has_new_data"][0] == row
    line = drawn.lines[row][len("has_new_data") + 3 : column]
    assert line.rstrip() == "──┐ └─▸"  # has_new_data's edge turns down; light_load's comes from above


def test_the_feed_returns_nothing_when_nothing_changed(project):
    settings, registry = project
    feed = Feed(settings, registry)
    first = feed.poll(NOW, 0.0)
    assert first is not None and first.dags.get("etl").recent == ("failed",) * 3
    assert feed.poll(NOW, 0.1) is None
    feed.close()


def test_the_dag_list_shows_each_dags_newest_runs_oldest_first_up_to_its_width(project):
    settings, registry = project
    add_daily_runs(settings, registry, 1, 12)  # April 1-12, all success, older than the three failed May runs
    store = Store(settings.db_path)
    hello = ops.new_run(store, registry.dags["hello"], NOW, "manual", {}, STAMP)
    store.set_run_state(hello, RunState.RUNNING, [RunState.QUEUED], now=STAMP)
    listed = dag_list(store, registry, NOW, runs=5)
    detail = dag_detail(store, registry, "etl", NOW)
    store.close()
    assert detail.item.recent[-5:] == listed.get("etl").recent  # the DAG screen's line says the same
    assert listed.get("etl").recent == ("success", "success", "failed", "failed", "failed")
    assert listed.get("hello").recent == ("running",)
    assert listed.get("broken") is None or listed.get("broken").recent == ()


def test_a_chain_is_drawn_on_one_line():
    drawn = layout(["a", "b", "c"], {"b": ["a"], "c": ["b"]})
    assert [line.rstrip() for line in drawn.lines] == ["    ───▸     ───▸"]
    assert drawn.nodes == {"a": (0, 0), "b": (0, 9), "c": (0, 18)}


def test_a_fan_in_joins_in_one_channel_before_its_task():
    drawn = layout(["a", "b", "c"], {"c": ["a", "b"]})
    assert [line.rstrip() for line in drawn.lines] == ["    ──┬─▸", "      │", "    ──┘"]
    assert drawn.nodes["c"] == (0, 10)


def test_an_edge_skipping_a_layer_runs_past_the_middle_task():
    drawn = layout(["a", "b", "c"], {"b": ["a"], "c": ["a", "b"]})
    assert drawn.order == ("a", "b", "c")
    assert any("└" in line for line in drawn.lines) and drawn.nodes["c"][1] > drawn.nodes["b"][1]
