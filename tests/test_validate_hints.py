"""What `minorch validate` tells an Airflow user and a Python author: Airflow's option names
map to minorch's, and a Python DAG's cycle is spoken of in `>>`, all through real processes."""

from __future__ import annotations

import json

import pytest

TOML_TASK = '[dags.d]\nschedule = "manual"\n[dags.d.tasks.a]\ncommand = "true"\n'


@pytest.mark.parametrize(
    "text, wrong, right",
    [
        (
            '[dags.d]\nschedule_interval = "@daily"\n[dags.d.tasks.a]\ncommand = "true"\n',
            "schedule_interval",
            "schedule",
        ),
        ('[dags.d]\nschedule = "manual"\n[dags.d.tasks.a]\nbash_command = "true"\n', "bash_command", "command"),
        (TOML_TASK + "retry = 3\n", "retry", "retries"),
        (TOML_TASK + 'execution_timeout = "1h"\n', "execution_timeout", "timeout"),
        (TOML_TASK + '[dags.d.tasks.b]\ncommand = "true"\ndepends_on = ["a"]\n', "depends_on", "after"),
    ],
)
def test_airflows_option_names_get_minorchs_name_as_the_hint(project, text, wrong, right):
    project.write("dags/d.toml", text)
    done = project.minorch("validate", "--json")
    assert done.returncode == 1
    [error] = json.loads(done.stdout)["errors"]
    assert error["message"].endswith(f"option '{wrong}'")
    assert error["hint"].startswith(f"did you mean '{right}'?")


def test_a_python_dags_airflow_names_get_the_same_hint(project):
    project.write(
        "dags/py.py",
        """
        from minorch import DAG, shell

        with DAG("py", schedule_interval="@daily"):
            shell("a", "true")
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1 and "did you mean 'schedule'?" in done.stderr


def test_a_python_cycle_is_told_in_the_syntax_it_was_written_in(project):
    project.write(
        "dags/loop.py",
        """
        from minorch import DAG, shell

        with DAG("loop", schedule="manual"):
            a = shell("a", "true")
            b = shell("b", "true")
            c = shell("c", "true")
            a >> b >> c >> a
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert "tasks depend on each other in a cycle" in done.stderr
    assert "`after`" not in done.stderr and " >> " in done.stderr.split("(remove", 1)[1]


def test_a_toml_cycle_still_speaks_of_after(project):
    project.write(
        "dags/loop.toml",
        '[dags.loop]\nschedule = "manual"\n[dags.loop.tasks.a]\ncommand = "true"\nafter = ["b"]\n'
        '[dags.loop.tasks.b]\ncommand = "true"\nafter = ["a"]\n',
    )
    done = project.minorch("validate")
    assert done.returncode == 1 and "from the `after` list of" in done.stderr


# ---------------------------------------------------------------- deeper checks


def test_python_targets_that_a_try_could_not_call_are_errors(project):
    project.write("jobs/__init__.py", "")
    project.write("jobs/work.py", "def load():\n    return 1\n\nNOT_A_FUNCTION = 3\n")
    project.write("jobs/broken.py", "import no_such_module_anywhere\n")
    project.write("jobs/slow.py", "import time\ntime.sleep(60)\n\ndef go():\n    pass\n")
    project.configure(minorch='dag_file_timeout = "1s"')
    project.write(
        "dags/targets.toml",
        """
        [dags.targets]
        schedule = "manual"
        [dags.targets.tasks.good]
        python = "jobs.work:load"
        [dags.targets.tasks.typo]
        python = "jobs.work:lod"
        [dags.targets.tasks.value]
        python = "jobs.work:NOT_A_FUNCTION"
        [dags.targets.tasks.missing]
        python = "jobs.gone:run"
        [dags.targets.tasks.broken]
        python = "jobs.broken:run"
        [dags.targets.tasks.slow]
        python = "jobs.slow:go"
        """,
    )
    done = project.minorch("validate", "--json")
    assert done.returncode == 1, done.stderr
    errors = {e["message"].split("'")[1]: e for e in json.loads(done.stdout)["errors"]}
    assert set(errors) == {"typo", "value", "missing", "broken", "slow"}
    assert "has no 'lod' (did you mean 'load'?)" in errors["typo"]["message"]
    assert "is a int, not a function" in errors["value"]["message"]
    assert "cannot import 'jobs.gone'" in errors["missing"]["message"]
    assert "no_such_module_anywhere" in errors["broken"]["message"]
    assert "did not finish within 1s" in errors["slow"]["message"]
    assert {e["file"] for e in errors.values()} == {"dags/targets.toml"} and all(e["line"] for e in errors.values())


def test_a_python_file_that_defines_no_dag_is_warned_about(project):
    project.write(
        "dags/forgot.py",
        """
        from minorch import dag, shell

        @dag(schedule="@daily")
        def nightly():
            shell("a", "true")
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0  # a warning, not an error: the file may be a helper module
    assert "warning: dags/forgot.py: defines no DAG (a @dag function must be called" in done.stderr
    assert done.stdout.startswith("0 DAGs")


MANY_FAULTS_TOML = """\
[dags.etl]
schedul = "@daily"
retries = -1
catchup = "maybe"

[dags.etl.tasks.extract]
command = "echo"
retry = 3
timeout = "forever"

[dags.etl.tasks.load]
command = "echo"
pool = 5

[dags.etl.tasks.report]
commands = "echo"
"""

MANY_FAULTS_PY = """\
from minorch import DAG, shell

with DAG("py_etl", retries=-2, schedule="nope"):
    a = shell("a", "echo", timeout="zz")
    b = shell("b", "echo", retries="many")
    a >> b
"""


def test_validate_reports_every_error_of_a_file_each_with_its_line(project):
    project.write("dags/etl.toml", MANY_FAULTS_TOML)
    project.write("dags/py_etl.py", MANY_FAULTS_PY)
    done = project.minorch("validate", "--json")
    assert done.returncode == 1
    found = [(e["file"], e["line"], e["message"]) for e in json.loads(done.stdout)["errors"]]
    assert [(file, line) for file, line, _ in found] == [
        ("dags/etl.toml", 2),
        ("dags/etl.toml", 3),
        ("dags/etl.toml", 4),
        ("dags/etl.toml", 8),
        ("dags/etl.toml", 9),
        ("dags/etl.toml", 13),
        ("dags/etl.toml", 16),
        ("dags/py_etl.py", 3),
        ("dags/py_etl.py", 3),
        ("dags/py_etl.py", 4),
        ("dags/py_etl.py", 5),
    ], found
    messages = " | ".join(message for _, _, message in found)
    for fault in ("'schedul'", "not -1", "'maybe'", "'retry'", "'forever'", "not 5", "'commands'", "'nope'", "not -2"):
        assert fault in messages
    text = project.minorch("validate")
    assert len(text.stderr.splitlines()) == 11 and "Traceback" not in text.stderr


def test_links_to_unknown_tasks_are_all_reported(project):
    project.write(
        "dags/links.toml",
        '[dags.l.tasks.a]\ncommand = "echo"\nafter = ["nope"]\n\n'
        '[dags.l.tasks.b]\ncommand = "echo"\nafter = ["a", "zz"]\n',
    )
    done = project.minorch("validate", "--json")
    found = [(e["line"], e["message"]) for e in json.loads(done.stdout)["errors"]]
    assert found == [
        (3, "task 'a' depends on 'nope', which does not exist"),
        (7, "task 'b' depends on 'zz', which does not exist"),
    ]
