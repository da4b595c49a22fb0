"""The `airflow.*` import layer: unsupported names fail one DAG with one line, ignored arguments
are listed, a real Airflow is not shadowed unless asked, and `minorch airflow-check` reports."""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest
from conftest import minorch_command, wait_until

SPARK = """\
from datetime import datetime
from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

with DAG("spark", start_date=datetime(2024, 1, 1)):
    SparkSubmitOperator(task_id="submit", application="job.py") >> KubernetesPodOperator(task_id="pod")
"""
GOOD = """\
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("good", start_date=datetime(2024, 1, 1), schedule="@once", on_failure_callback=print,
         default_args={"owner": "ops", "retry_delay": timedelta(minutes=1)}):
    BashOperator(task_id="hello", bash_command="echo hello")
"""


def test_an_unsupported_operator_fails_its_dag_with_one_line_and_the_others_load(project):
    project.write("dags/spark.py", SPARK)
    project.write("dags/good.py", GOOD)
    done = project.minorch("validate")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: dags/spark.py:3: SparkSubmitOperator from airflow.providers.apache.spark.operators.spark_submit "
        "is not supported by minorch (run `spark-submit ...` in a BashOperator (a minorch shell task))"
    ]
    assert "1 DAG, 1 task, 1 error" in done.stdout


@pytest.mark.parametrize("as_list", [False, True])
def test_a_bash_template_file_is_found_in_template_searchpath_given_as_one_folder_or_a_list(project, as_list):
    marker = project.root / "made-by-the-template"
    project.write("templates/greet.sh", f"echo hello > '{marker}'\n")
    folder = str(project.root / "templates")
    project.write(
        "dags/tpl.py",
        f"""\
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("tpl", start_date=datetime(2024, 1, 1), schedule="@once",
                 template_searchpath={[folder] if as_list else folder!r}):
            BashOperator(task_id="greet", bash_command="greet.sh")
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0, done.stderr
    assert project.run("tpl").run.state.value == "success"
    assert marker.read_text() == "hello\n"


def test_validate_lists_each_ignored_airflow_argument_once(project):
    project.write("dags/good.py", GOOD)
    done = project.minorch("validate", "--json")
    warnings = json.loads(done.stdout)["warnings"]
    assert warnings == [
        'dags/good.py:5: schedule "@once" runs only when triggered in minorch (`minorch trigger`)',
        "dags/good.py:5: DAG on_failure_callback is not run by minorch; use on_failure/on_success notifiers",
    ]
    assert done.returncode == 0


def test_airflow_check_lists_every_unsupported_name_and_what_each_file_uses(project):
    project.write("dags/spark.py", SPARK)
    project.write("dags/good.py", GOOD)
    done = project.minorch("airflow-check", "dags", "--json")
    assert done.returncode == 1
    reports = {r["file"]: r for r in json.loads(done.stdout)}
    assert reports["dags/good.py"]["status"] == "loads with warnings"
    assert reports["dags/good.py"]["used"] == ["BashOperator", "DAG"]
    assert reports["dags/spark.py"]["status"] == "cannot load"
    assert sorted(reports["dags/spark.py"]["unsupported"]) == ["KubernetesPodOperator", "SparkSubmitOperator"]
    assert "kubectl run" in reports["dags/spark.py"]["unsupported"]["KubernetesPodOperator"]
    text = project.minorch("airflow-check", "dags")
    assert "1 of 2 files load in minorch" in text.stdout


def minorch_env(project, env: dict, *args: str) -> subprocess.CompletedProcess:
    return minorch_command(list(args), cwd=project.root, env=env)


def _fake_airflow(project) -> None:
    project.write("site/airflow/__init__.py", "REAL = True\nDAG = None\n")


def test_with_a_real_airflow_installed_the_names_are_not_shadowed_and_validate_says_so(project):
    _fake_airflow(project)
    project.write("dags/good.py", GOOD)
    env = project.env()
    env["PYTHONPATH"] = f"{project.root / 'site'}:{env['PYTHONPATH']}"
    done = minorch_env(project, env, "validate")
    assert "a real Airflow is installed" in done.stderr
    assert done.returncode == 1  # the file used the real (here: fake) airflow, whose DAG is None


def test_airflow_compat_on_serves_the_names_even_beside_a_real_airflow(project):
    _fake_airflow(project)
    project.write("dags/good.py", GOOD)
    project.configure(minorch='airflow_compat = "on"')
    env = project.env()
    env["PYTHONPATH"] = f"{project.root / 'site'}:{env['PYTHONPATH']}"
    done = minorch_env(project, env, "run", "good")
    assert done.returncode == 0, done.stderr


def test_airflow_compat_off_leaves_airflow_unimportable(project):
    project.write("dags/good.py", GOOD)
    project.configure(minorch='airflow_compat = "off"')
    done = project.minorch("validate")
    assert done.returncode == 1
    assert "No module named 'airflow'" in done.stderr


def test_a_wrong_airflow_compat_value_is_one_line(project):
    project.configure(minorch='airflow_compat = "yes"')
    done = project.minorch("validate")
    assert done.returncode == 2
    assert done.stderr.startswith("minorch: error: minorch.toml:")
    assert 'airflow_compat must be "auto", "on" or "off"' in done.stderr


MUTATIONS = [
    lambda s, r: s.replace("BashOperator", r.choice(["BashOperater", "SqlOperator", "Bash"]), 1),
    lambda s, r: s.replace("task_id=", r.choice(["task_idd=", "id=", ""]), 1),
    lambda s, r: s.replace("datetime(2024, 1, 1)", r.choice(["datetime(2024, 13, 1)", "'tomorrow'", "5", "None"])),
    lambda s, r: s.replace('"@once"', r.choice(['"@continuous"', "42", "[1]", '"* * *"', "object()"])),
    lambda s, r: s.replace("retry_delay", r.choice(["retries", "execution_timeout", "pool", "trigger_rule"])),
    lambda s, r: s.replace("from airflow.operators.bash", r.choice(["from airflow.operators.bsh", "from airflow"])),
    lambda s, r: "\n".join(line for line in s.splitlines() if r.random() > 0.15),
    lambda s, r: s.replace("echo hello", r.choice(["{{ nope }}", "{% for %}", "{{ ds | bogus }}", ""])),
    lambda s, r: s.replace("with DAG(", r.choice(["with DAG(dag_id=None, ", "with DAG(1, ", "DAG("])),
    lambda s, r: s + r.choice(["\nraise SystemExit(3)\n", "\nimport airflow.hooks.base\n", "\nx = 1/0\n"]),
]


@pytest.mark.parametrize("seed", range(4))
def test_a_hundred_mutated_airflow_files_give_one_line_each_and_no_traceback(project, seed):
    rnd = random.Random(seed)
    for i in range(25):
        text = GOOD.replace('"good"', f'"good_{i}"')
        for mutate in rnd.sample(MUTATIONS, rnd.randint(1, 3)):
            text = mutate(text, rnd)
        project.write(f"dags/f{i:02}.py", text)
    for command in (("validate",), ("airflow-check", "dags"), ("dags",)):
        done = project.minorch(*command, timeout=120)
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        for line in done.stderr.splitlines():
            assert line.startswith(("error: dags/f", "warning: dags/f", "minorch: error:")), line


CALLBACKS = """\
import os
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator


def record(context):
    with open("callbacks.out", "a") as out:
        out.write(f"{context['ti'].task_id} {context['ti'].state} {context['ds']} {os.getpid()}\\n")


with DAG("callbacks", start_date=datetime(2024, 1, 1), default_args={"on_failure_callback": record}):
    BashOperator(task_id="ok", bash_command="true", on_success_callback=record) >> BashOperator(
        task_id="broken", bash_command="exit 1"
    )
"""


def test_task_callbacks_run_in_a_child_with_the_airflow_context(project):
    project.write("dags/callbacks.py", CALLBACKS)
    done = project.minorch("run", "callbacks", "--date", "2024-01-15")
    assert done.returncode == 1
    out = project.root / "callbacks.out"
    assert wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    lines = sorted(line.rsplit(" ", 1)[0] for line in out.read_text().splitlines())
    assert lines == ["broken failed 2024-01-15", "ok success 2024-01-15"]
    assert str(os.getpid()) not in [line.rsplit(" ", 1)[1] for line in out.read_text().splitlines()]


DATASETS = """\
from datetime import datetime
from airflow import DAG, Dataset
from airflow.decorators import task
from airflow.models import Variable

orders = Dataset("s3://bucket/orders.csv")
customers = Dataset("s3://bucket/customers.csv")

with DAG("producer", start_date=datetime(2024, 1, 1), schedule=None):
    @task(outlets=[orders, customers])
    def write():
        with open("greeting.out", "w") as out:
            out.write(Variable.get("greeting"))
    write()

with DAG("consumer", start_date=datetime(2024, 1, 1), schedule=[orders, customers]):
    @task
    def read():
        pass
    read()
"""


def test_datasets_outlets_and_variables_map_onto_minorch_assets_and_variables(project):
    config = project.root / "minorch.toml"
    config.write_text(config.read_text() + '\n[variables]\ngreeting = "hi"\n')
    project.write("dags/datasets.py", DATASETS)
    listed = json.loads(project.minorch("dags", "--json").stdout)
    assert {d["dag_id"]: d["schedule"] for d in listed}["consumer"] == (
        "assets: s3_bucket_orders.csv & s3_bucket_customers.csv"
    )
    assert project.minorch("run", "producer").returncode == 0
    assert (project.root / "greeting.out").read_text() == "hi"
    assets = {a["name"]: a for a in json.loads(project.minorch("assets", "--json").stdout)}
    assert sorted(assets) == ["s3_bucket_customers.csv", "s3_bucket_orders.csv"]
    assert assets["s3_bucket_orders.csv"]["uri"] == "s3://bucket/orders.csv"
    assert all(a["last"]["dag_id"] == "producer" for a in assets.values())
    assert assets["s3_bucket_orders.csv"]["waits"] == [
        "consumer: has s3_bucket_customers.csv, s3_bucket_orders.csv, about to run"
    ]
