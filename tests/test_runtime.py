from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import child_env

from minorch.runtime import EXIT_SKIPPED, write_spec
from minorch.templates import build_context

LOGICAL = datetime(2024, 1, 14, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 15th in Berlin
FIX_RESULT = "return a list, dict, str or number — or write big data to a file and return its path"

JOBS = """
from minorch.runtime import SkipTask

def numbers():
    return [1, 2, 3]

def nothing():
    print("did some work")

def dates(ds, logical_date, data_interval_start, ts, timezone):
    return {"ds": ds, "ts": ts, "logical": logical_date.isoformat(), "type": type(logical_date).__name__,
            "zone": str(logical_date.tzinfo), "start": data_interval_start.isoformat(), "timezone": timezone}

def names(dag_id, task_id, run_id, try_number, params, xcom, prev_ds=None, next_ds=None, unused=5):
    return [dag_id, task_id, run_id, try_number, params, xcom, prev_ds, next_ds, unused]

def everything(ds, **context):
    return sorted(context)

def a_set():
    return {1, 2}

def nested_datetime():
    import datetime
    return {"when": datetime.date(2024, 1, 1)}

def big():
    return "x" * (120 * 1024 - 2)  # 120 KB once JSON adds its quotes

def skip():
    raise SkipTask("no new files")

def explode():
    print("before the failure")
    rows = []
    return rows[3]

def needs_rows(rows, ds):
    return rows
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding the module `jobs` with the task functions above."""
    (tmp_path / "jobs.py").write_text(JOBS)
    return tmp_path


def run_task(
    folder: Path, target: dict, *, xcom: dict | None = None, params: dict | None = None, max_result_bytes: int = 65536
) -> tuple[subprocess.CompletedProcess, object]:
    """Run one try in a real child process; returns the process and the stored result (None if no file)."""
    context = build_context(
        dag_id="etl",
        task_id="load",
        run_id="scheduled__2024-01-15",
        logical_date=LOGICAL,
        data_interval_start=LOGICAL - timedelta(days=1),
        data_interval_end=LOGICAL,
        prev_logical_date=None,
        next_logical_date=LOGICAL + timedelta(days=1),
        params=params or {},
        try_number=1,
        timezone="Europe/Berlin",
        xcom=xcom or {},
    )
    spec, result = folder / "spec.json", folder / "attempt" / "result.json"
    write_spec(spec, target=target, context=context, result_path=result, max_result_bytes=max_result_bytes)
    done = subprocess.run(
        [sys.executable, "-m", "minorch.runtime", str(spec)],
        cwd=folder,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
    )
    return done, json.loads(result.read_text()) if result.exists() else None


def ref(folder: Path, name: str) -> dict:
    return {"kind": "ref", "ref": f"jobs:{name}", "sys_path": [str(folder)]}


def test_a_reference_target_runs_and_its_result_is_stored_as_json(project):
    done, result = run_task(project, ref(project, "numbers"))
    assert (done.returncode, result) == (0, [1, 2, 3])
    assert oct((project / "attempt" / "result.json").stat().st_mode & 0o777) == "0o600"


def test_a_task_returning_none_stores_no_result(project):
    done, result = run_task(project, ref(project, "nothing"))
    assert (done.returncode, result) == (0, None)
    assert done.stdout == "did some work\n"


def test_a_result_left_by_an_earlier_try_is_removed(project):
    (project / "attempt").mkdir()
    (project / "attempt" / "result.json").write_text("[1]")
    done, result = run_task(project, ref(project, "nothing"))
    assert (done.returncode, result) == (0, None)


def test_date_parameters_receive_the_context_in_the_dags_timezone(project):
    done, result = run_task(project, ref(project, "dates"))
    assert done.returncode == 0, done.stderr
    assert result == {
        "ds": "2024-01-15",
        "ts": "2024-01-15T00:30:00+01:00",
        "logical": "2024-01-15T00:30:00+01:00",
        "type": "datetime",
        "zone": "Europe/Berlin",
        "start": "2024-01-14T00:30:00+01:00",
        "timezone": "Europe/Berlin",
    }


def test_named_parameters_receive_run_names_params_and_xcom_and_defaults_stay(project):
    done, result = run_task(project, ref(project, "names"), xcom={"extract": [1]}, params={"table": "orders"})
    assert done.returncode == 0, done.stderr
    assert result == [
        "etl",
        "load",
        "scheduled__2024-01-15",
        1,
        {"table": "orders"},
        {"extract": [1]},
        None,
        "2024-01-16",
        5,
    ]


def test_a_kwargs_parameter_receives_the_rest_of_the_context(project):
    done, result = run_task(project, ref(project, "everything"))
    assert done.returncode == 0, done.stderr
    assert result == sorted(
        [
            "ds_nodash",
            "ts",
            "ts_nodash",
            "logical_date",
            "data_interval_start",
            "data_interval_end",
            "prev_ds",
            "next_ds",
            "params",
            "run_id",
            "dag_id",
            "task_id",
            "try_number",
            "timezone",
            "xcom",
            "conf",
            "ts_nodash_with_tz",
            "task_instance_key_str",
            "ti",
            "task_instance",
            "dag_run",
            "triggering_events",
            "inlet_events",
        ]
    )


def test_a_set_result_fails_with_a_message_saying_what_to_return(project):
    done, result = run_task(project, ref(project, "a_set"))
    assert (done.returncode, result) == (1, None)
    assert done.stderr == f"minorch: task returned a set, which cannot be stored as JSON; {FIX_RESULT}\n"


def test_a_value_deep_inside_the_result_that_is_not_json_is_named(project):
    done, _ = run_task(project, ref(project, "nested_datetime"))
    assert done.returncode == 1
    assert "task returned a dict containing a date, which cannot be stored as JSON" in done.stderr


def test_a_result_over_the_size_limit_fails_and_says_to_return_a_path(project):
    done, result = run_task(project, ref(project, "big"))
    assert (done.returncode, result) == (1, None)
    assert done.stderr == (
        "minorch: task returned 120 KB, over the 64 KB limit for results; write it to a file and return the path\n"
    )


def test_skip_task_exits_99_with_the_reason(project):
    done, result = run_task(project, ref(project, "skip"))
    assert (done.returncode, result) == (EXIT_SKIPPED, None)
    assert done.stderr == "minorch: task skipped: no new files\n"


def test_an_exception_exits_1_with_the_traceback_of_the_users_code(project):
    done, _ = run_task(project, ref(project, "explode"))
    assert done.returncode == 1
    assert done.stdout == "before the failure\n"
    assert done.stderr.startswith("Traceback (most recent call last):\n")
    line = JOBS.splitlines().index("    return rows[3]") + 1
    assert f'jobs.py", line {line}, in explode' in done.stderr
    assert "return rows[3]" in done.stderr
    assert done.stderr.endswith("IndexError: list index out of range\n")
    assert "runtime.py" not in done.stderr


def test_a_required_parameter_nothing_fills_is_named(project):
    done, _ = run_task(project, ref(project, "needs_rows"))
    assert done.returncode == 1
    assert done.stderr.startswith(
        "minorch: jobs:needs_rows: needs_rows(rows, ds) needs 'rows', which is neither "
        "a context value nor given where the task is called"
    )


def test_a_module_that_cannot_be_imported_is_one_clear_line(project):
    done, _ = run_task(project, {"kind": "ref", "ref": "jbos:numbers", "sys_path": [str(project)]})
    assert done.returncode == 1
    assert done.stderr.startswith("minorch: cannot import 'jbos' for task target 'jbos:numbers'")
    assert "Traceback" not in done.stderr


def test_a_misspelt_function_gets_a_suggestion(project):
    done, _ = run_task(project, ref(project, "numbrs"))
    assert done.returncode == 1
    assert done.stderr == "minorch: task target 'jobs:numbrs': 'jobs' has no 'numbrs' (did you mean 'numbers'?)\n"


def test_an_unreadable_spec_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "minorch.runtime", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        env=child_env(),
    )
    assert done.returncode == 2
    assert done.stderr.startswith("minorch: cannot read the task spec")


DAG_FILE = """
from minorch import DAG, task

with DAG("etl", schedule="@daily") as dag:
    @task
    def extract(ds):
        return [1, 2, 3]

    @task
    def total(rows, scale=1, ds=None):
        return {"sum": sum(rows) * scale, "ds": ds}

    @task
    def stamped(ds):
        return ds

    e = extract()
    total(rows=e, scale=2)
    stamped(ds="fixed")
"""


def dagfile(folder: Path, task_id: str, dag_id: str = "etl") -> dict:
    path = folder / "dags" / "etl.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(DAG_FILE))
    return {"kind": "dagfile", "path": str(path), "dag_id": dag_id, "task_id": task_id}


def test_a_dag_file_task_gets_its_upstream_result_and_literal_arguments(tmp_path):
    done, result = run_task(tmp_path, dagfile(tmp_path, "total"), xcom={"extract": [1, 2, 3]})
    assert done.returncode == 0, done.stderr
    assert result == {"sum": 12, "ds": "2024-01-15"}


def test_an_argument_given_in_the_dag_file_wins_over_the_context(tmp_path):
    done, result = run_task(tmp_path, dagfile(tmp_path, "stamped"))
    assert (done.returncode, result) == (0, "fixed")


def test_a_task_missing_from_the_dag_file_is_named_with_a_suggestion(tmp_path):
    done, _ = run_task(tmp_path, dagfile(tmp_path, "totl"))
    assert done.returncode == 1
    assert "has no Python task 'totl' (did you mean 'total'?)" in done.stderr
