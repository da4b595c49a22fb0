"""Dynamic task mapping: one copy of a task per item of a list, with real processes."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from minorch import planner as P
from minorch.spec import build_dag
from minorch.states import RunState, TaskState
from minorch.store import RunRecord, TaskInstance

NOW = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)

PIPELINE = """
from minorch import DAG, task

with DAG("tables"):
    @task
    def list_tables(params):
        return params.get("tables", ["orders", "customers", "stores"])

    @task
    def count(table, day):
        if table == "broken":
            raise ValueError("cannot read table broken")
        return {"table": table, "rows": len(table), "day": day}

    @task
    def total(counts):
        return sum(c["rows"] for c in counts)

    total(counts=count.partial(day="monday").expand(table=list_tables()))
"""


def states(result) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in result.tis.items()}


def xcom(project, result, task_id: str, map_index: int = -1):
    store = project.store() if hasattr(project, "store") else None
    row = store.db.execute(
        "SELECT value FROM xcom WHERE run_pk = ? AND task_id = ? AND map_index = ?", (result.run.pk, task_id, map_index)
    ).fetchone()
    store.close()
    return json.loads(row[0]) if row else None


def test_a_task_maps_over_the_list_an_upstream_task_returns_and_the_results_come_back_in_order(project):
    project.write("dags/tables.py", PIPELINE)
    result = project.run("tables")
    assert result.run.state is RunState.SUCCESS
    assert xcom(project, result, "count") == [
        {"table": "orders", "rows": 6, "day": "monday"},
        {"table": "customers", "rows": 9, "day": "monday"},
        {"table": "stores", "rows": 6, "day": "monday"},
    ]
    assert xcom(project, result, "total") == 21
    assert sorted(a.map_index for a in result.attempts["count"]) == [0, 1, 2]
    assert all(f"/count/map-{a.map_index}/1.log" in a.log_path for a in result.attempts["count"])


def test_a_failing_copy_fails_the_mapped_task_and_its_downstream_is_upstream_failed(project):
    project.write("dags/tables.py", PIPELINE)
    result = project.run("tables", params={"tables": ["orders", "broken"]})
    assert states(result) == {"list_tables": "success", "count": "failed", "total": "upstream_failed"}
    assert "1 of 2 copies failed (map index 1 first)" in result.tis["count"].note


def test_mapping_over_an_empty_list_skips_the_task(project):
    project.write("dags/tables.py", PIPELINE)
    result = project.run("tables", params={"tables": []})
    assert states(result)["count"] == "skipped"
    assert result.tis["count"].note == "mapped over an empty list"


def test_a_list_longer_than_max_map_length_fails_with_a_clear_reason(project):
    project.configure(minorch="max_map_length = 2")
    project.write("dags/tables.py", PIPELINE)
    result = project.run("tables")
    assert states(result)["count"] == "failed"
    assert "would map over 3 items, more than max_map_length (2)" in result.tis["count"].note


def test_a_result_that_is_not_a_list_fails_the_mapped_task(project):
    project.write("dags/tables.py", PIPELINE)
    result = project.run("tables", params={"tables": "orders"})
    assert "cannot map over the result of 'list_tables': it returned str, not a list" in result.tis["count"].note


def test_a_toml_shell_task_maps_over_a_literal_list_with_its_own_name_for_the_item(project):
    project.write(
        "dags/files.toml",
        """
        [dags.files.tasks.per_file]
        command = "echo {{ name }} {{ map_index }} >> seen.txt"
        map_over = ["a.csv", "b.csv", "c d.csv"]
        map_as = "name"
    """,
    )
    result = project.run("files")
    assert result.run.state is RunState.SUCCESS
    assert sorted((project.root / "seen.txt").read_text().splitlines()) == ["a.csv 0", "b.csv 1", "c d.csv 2"]
    assert project.minorch("validate").returncode == 0


def test_copies_share_the_dags_task_limit(project):
    project.write(
        "dags/wide.toml",
        """
        [dags.wide]
        max_active_tasks = 2

        [dags.wide.tasks.copies]
        command = "echo start >> log.txt; sleep 0.2; echo end >> log.txt"
        map_over = [1, 2, 3, 4, 5, 6]
    """,
    )
    result = project.run("wide")
    assert result.run.state is RunState.SUCCESS
    running = peak = 0
    for line in (project.root / "log.txt").read_text().splitlines():
        running += 1 if line == "start" else -1
        peak = max(peak, running)
    assert peak <= 2


def test_clearing_a_mapped_task_expands_it_again(project):
    project.write("dags/tables.py", PIPELINE)
    project.run("tables")
    done = project.minorch("clear", "tables", "2024-01-15", "count", "--yes")
    assert done.returncode == 0, done.stderr
    store = project.store()
    run = store.runs("tables")[0]
    copies = store.mapped_instances([run.pk]).get(run.pk, {})
    assert store.task_instances([run.pk])[run.pk]["count"].state is TaskState.NONE and copies == {}
    store.close()
    result = project.run("tables")
    assert result.run.state is RunState.SUCCESS and xcom(project, result, "total") == 21


def test_validate_rejects_map_as_without_map_over_and_a_mapped_sensor(project):
    project.write(
        "dags/bad.toml",
        """
        [dags.bad.tasks.a]
        command = "true"
        map_as = "x"
    """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1 and "map_as needs map_over" in done.stderr and "dags/bad.toml:" in done.stderr


# ---------------------------------------------------------------- the planner, with plain data


def _run(pk: int = 1) -> RunRecord:
    return RunRecord(
        pk,
        "m",
        "manual__x",
        "manual",
        "2024-01-15T00:00:00+00:00",
        None,
        None,
        RunState.RUNNING,
        {},
        NOW.timestamp(),
        NOW.timestamp(),
        None,
    )


def _ti(task_id: str, state: TaskState, map_index: int = -1) -> TaskInstance:
    return TaskInstance(1, task_id, map_index, state, 0, 0, None, None, None, None, None)


MAPPED = {"tasks": {"source": {"command": "true"}, "copy": {"command": "true", "map_over": "source"}}}


def test_the_planner_expands_a_mapped_task_once_its_upstream_succeeded():
    dag = build_dag("m", MAPPED, file="m.toml")
    snap = P.Snapshot(
        {}, [_run()], {1: {"source": _ti("source", TaskState.SUCCESS), "copy": _ti("copy", TaskState.NONE)}}
    )
    plan = P.plan({"m": dag}, snap, NOW, parallelism=4, pools={})
    assert P.Expand(1, "copy") in plan.actions and not any(isinstance(a, P.Launch) for a in plan.actions)


def test_the_planner_launches_copies_within_parallelism_and_finishes_the_task_when_all_are_done():
    dag = build_dag("m", MAPPED, file="m.toml")
    tis = {1: {"source": _ti("source", TaskState.SUCCESS), "copy": _ti("copy", TaskState.RUNNING)}}
    copies = {1: {"copy": {i: _ti("copy", TaskState.NONE, i) for i in range(5)}}}
    plan = P.plan({"m": dag}, P.Snapshot({}, [_run()], tis, copies), NOW, parallelism=2, pools={})
    assert [a for a in plan.actions if isinstance(a, P.Launch)] == [P.Launch(1, "copy", 0), P.Launch(1, "copy", 1)]
    done = {1: {"copy": {i: _ti("copy", TaskState.SUCCESS, i) for i in range(5)}}}
    plan = P.plan({"m": dag}, P.Snapshot({}, [_run()], tis, done), NOW, parallelism=2, pools={})
    assert P.FinishMapped(1, "copy", TaskState.SUCCESS, "5 copies done") in plan.actions


def test_tasks_lists_each_copy_under_its_task_with_the_item_it_got(project):
    project.write("dags/tables.py", PIPELINE)
    ran = project.minorch("run", "tables", "--date", "2024-01-15", "--param", 'tables=["orders", "broken"]', "-q")
    assert ran.returncode == 1, ran.stderr
    listed = json.loads(project.minorch("tasks", "tables", "latest", "--json").stdout)
    [count] = [t for t in listed["tasks"] if t["task_id"] == "count"]
    assert [(c["map_index"], c["input"], c["state"], c["exit_code"]) for c in count["copies"]] == [
        (0, "orders", "success", 0),
        (1, "broken", "failed", 1),
    ]
    assert count["copies"][1]["log_path"].endswith("/count/map-1/1.log")
    assert "copies" not in [t for t in listed["tasks"] if t["task_id"] == "total"][0]
    text = project.minorch("tasks", "tables", "latest").stdout.splitlines()
    at = next(i for i, line in enumerate(text) if line.startswith("count "))
    assert text[at + 1].split()[:3] == ["[0]", '"orders"', "success"]
    assert text[at + 2].split()[:3] == ["[1]", '"broken"', "failed"]
    assert text[at + 3].startswith("total ")


FILES = """
[dags.files.tasks.per_file]
command = "test {{ name }} != broken.csv"
map_over = ["orders.csv", "broken.csv"]
map_as = "name"
"""


def test_the_task_screen_shows_the_item_each_copy_got(project):
    """Pilot on a run made by a real `minorch run`: each copy's try row starts with its input, and
    the chosen try's line names its copy and input."""
    import asyncio
    import time

    from minorch.registry import load
    from minorch.tui.app import make_app
    from minorch.tui.screens import DagScreen, TaskScreen
    from minorch.tui.widgets.run_grid import RunGrid

    project.write("dags/files.toml", FILES)
    assert project.minorch("run", "files", "--date", "2024-01-15", "-q").returncode == 1
    settings = project.settings()

    def text(app) -> str:
        return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())

    async def until(pilot, check, what: str) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, f"{what} not shown; screen:\n{text(pilot.app)}"
            await pilot.pause(0.02)

    async def main() -> None:
        app = make_app(settings, registry=load(settings), runs_scheduler=False)
        async with app.run_test(size=(140, 30)) as pilot:
            await until(pilot, lambda: "files" in text(app), "DAG list")
            deadline = time.monotonic() + 10
            while not isinstance(app.screen, DagScreen) and time.monotonic() < deadline:
                await pilot.press("enter")  # again if the list took it before its rows were ready
                await pilot.pause(0.2)
            await until(pilot, lambda: isinstance(app.screen, DagScreen) and "per_file" in text(app), "grid")
            app.screen.query_one(RunGrid).select_task("per_file")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TaskScreen) and "[1] 1" in text(app), "both copies")
            shown = text(app)
            assert 'input "orders.csv"' in shown and 'input "broken.csv"' in shown
            assert 'try 1 of copy 1 (input "broken.csv") ran: test broken.csv != broken.csv' in shown

    asyncio.run(main())
