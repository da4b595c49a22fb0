"""`minorch tasks test`: one task now, upstream results from that date's run, live log, its exit
code, nothing recorded unless --record — through real processes on a real state file."""

from __future__ import annotations

import sqlite3
import time

import pytest

PIPE = """
from minorch import DAG, shell, task

with DAG("pipe", schedule="@daily", retries=3, retry_delay="1h"):

    @task
    def numbers(ds):
        return [1, 2, 3]

    @task
    def total(values, params):
        print("summing", values)
        if params.get("fail"):
            raise SystemExit(5)
        return sum(values)

    talk = shell("talk", "echo first; sleep 3; echo second")
    total(values=numbers()) >> talk
"""


def counts(project) -> tuple[int, int]:
    db = project.root / ".minorch" / "minorch.db"
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from dag_runs").fetchone()[0], con.execute(
            "select count(*) from attempts"
        ).fetchone()[0]


@pytest.fixture
def pipe(project):
    project.write("dags/pipe.py", PIPE)
    return project


def test_a_task_gets_its_upstream_results_from_that_dates_run_and_records_nothing(pipe):
    assert pipe.minorch("run", "pipe", "--date", "2024-01-15", "-q", timeout=60).returncode == 0
    before = counts(pipe)
    done = pipe.minorch("tasks", "test", "pipe", "total", "--date", "2024-01-15")
    assert done.returncode == 0, done.stderr
    assert "summing [1, 2, 3]" in done.stdout
    assert done.stderr.strip().endswith(
        "pipe.total: success (exit 0); upstream results used: numbers; nothing recorded"
    )
    assert counts(pipe) == before


def test_without_a_run_of_that_date_there_are_no_upstream_results(pipe):
    done = pipe.minorch("tasks", "test", "pipe", "total", "--date", "2024-02-01")
    assert done.returncode == 1  # values is None: sum(None) fails, as it would in a real run without results
    assert "upstream results used: none" in done.stderr
    assert counts(pipe) == (0, 0)


def test_it_exits_with_the_tasks_code_once_with_no_retry_wait_and_params_reach_it(pipe):
    assert pipe.minorch("run", "pipe", "--date", "2024-01-15", "-q", timeout=60).returncode == 0
    started = time.monotonic()
    done = pipe.minorch("tasks", "test", "pipe", "total", "--date", "2024-01-15", "--param", "fail=true")
    assert done.returncode == 5 and time.monotonic() - started < 30  # retries = 3 with 1 h waits are not used
    assert "pipe.total: failed (exit 5)" in done.stderr


def test_the_log_is_printed_while_the_task_runs(pipe):
    proc = pipe.start("tasks", "test", "pipe", "talk")
    try:
        first = proc.stdout.readline()
        assert first == "first\n" and proc.poll() is None  # seen before the task's 3 s sleep ended
        rest, _ = proc.communicate(timeout=30)
        assert rest == "second\n" and proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_record_writes_the_try_into_that_dates_run(pipe):
    assert pipe.minorch("run", "pipe", "--date", "2024-01-15", "-q", timeout=60).returncode == 0
    runs, attempts = counts(pipe)
    done = pipe.minorch("tasks", "test", "pipe", "total", "--date", "2024-01-15", "--record")
    assert done.returncode == 0 and "recorded in manual__2024-01-15T00:00:00+00:00" in done.stderr
    assert counts(pipe) == (runs, attempts + 1)
    listed = pipe.minorch("tasks", "pipe", "2024-01-15")  # the short form still lists
    row = next(line for line in listed.stdout.splitlines() if line.startswith("total"))
    assert "success" in row and "run by tasks test" in row and "2.log" in row
    log = pipe.minorch("logs", "pipe", "2024-01-15", "total")
    assert "summing [1, 2, 3]" in log.stdout


def test_an_unknown_task_is_one_line_with_a_suggestion(pipe):
    done = pipe.minorch("tasks", "test", "pipe", "totl")
    assert (
        done.returncode == 2
        and done.stderr == "minorch: error: DAG 'pipe' has no task 'totl' (did you mean 'total'?)\n"
    )


TABLES = """
from minorch import DAG, task

with DAG("tables"):
    @task
    def list_tables(params):
        return params.get("tables", ["orders", "customers", "stores"])

    @task
    def count(table, ti):
        ti.xcom_push(key="seen", value=table.upper())
        print("counting", table)
        if table == "broken":
            raise SystemExit(4)
        return len(table)

    @task
    def pick(counts, ti):
        print("all copies:", counts)
        print("second copy:", ti.xcom_pull(task_ids="count", map_indexes=1))
        print("second key:", ti.xcom_pull(task_ids="count", key="seen", map_indexes=1))

    pick(counts=count.expand(table=list_tables()))
"""


def test_a_task_after_a_mapped_task_gets_every_copys_result_and_pushed_keys(project):
    project.write("dags/tables.py", TABLES)
    assert project.minorch("run", "tables", "--date", "2024-01-15", "-q", timeout=60).returncode == 0
    before = counts(project)
    done = project.minorch("tasks", "test", "tables", "pick", "--date", "2024-01-15")
    assert done.returncode == 0, done.stderr
    assert "all copies: [6, 9, 6]" in done.stdout
    assert "second copy: 9" in done.stdout and "second key: CUSTOMERS" in done.stdout
    assert counts(project) == before


def test_testing_a_mapped_task_runs_every_copy_and_prints_each_log_under_its_input(project):
    project.write("dags/tables.py", TABLES)
    run = project.minorch("run", "tables", "--date", "2024-01-15", "--param", 'tables=["a", "broken"]', "-q")
    assert run.returncode == 1
    done = project.minorch("tasks", "test", "tables", "count", "--date", "2024-01-15")
    assert done.returncode == 4, done.stderr
    out = done.stdout
    assert out.index('--- copy 0 (input "a"), exit 0 ---\ncounting a\n') < out.index(
        '--- copy 1 (input "broken"), exit 4 ---\ncounting broken\n'
    )
    assert done.stderr.strip().endswith(
        "tables.count: failed (exit 4); upstream results used: list_tables; nothing recorded"
    )
