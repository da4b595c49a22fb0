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
