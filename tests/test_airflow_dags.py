"""Airflow DAG files, written as Airflow's documentation teaches, run unmodified: each file's
`minorch run` gives the task states (and the files and results) Airflow documents for it,
listed in tests/airflow_dags/expected.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FOLDER = Path(__file__).parent / "airflow_dags"
EXPECTED = json.loads((FOLDER / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_airflow_dag_file_runs_unmodified_with_the_states_airflow_documents(project, name):
    expected = EXPECTED[name]
    shutil.copy(FOLDER / name, project.root / "dags" / name)
    done = project.minorch("run", expected["dag"], "--date", "2024-01-15", "--json", timeout=60)
    assert done.stderr.count("Traceback") == 0, done.stderr
    assert done.stdout.startswith("{"), done.stderr
    report = json.loads(done.stdout)
    states = {t["task_id"]: t["state"] for t in report["tasks"]}
    assert states == expected["tasks"], done.stdout + done.stderr
    assert report["state"] == expected["run"]
    assert done.returncode == (0 if expected["run"] == "success" else 1)
    tries = {t["task_id"]: t["tries"] for t in report["tasks"]}
    for task_id, count in expected.get("tries", {}).items():
        assert tries[task_id] == count
    if "triggered" in expected:  # a TriggerDagRunOperator queued one run of that DAG
        runs = json.loads(project.minorch("runs", expected["triggered"], "--json").stdout)
        assert [r["run_id"][:6] for r in runs] == ["trig__"]
    for file, text in expected.get("files", {}).items():
        assert (project.root / file).read_text() == text, file


def test_cross_downstream_and_chain_order_the_tasks_as_airflow_does(project):
    shutil.copy(FOLDER / "cross_downstream.py", project.root / "dags")
    config = project.root / "minorch.toml"
    config.write_text(config.read_text().replace("parallelism = 4", "parallelism = 1"))
    assert project.minorch("run", "cross_downstream", "--date", "2024-01-15").returncode == 0
    order = (project.root / "order.out").read_text().split()
    assert set(order[:2]) == {"a", "b"}, order
    assert order.index("e") > order.index("c") and order.index("f") > order.index("d"), order
    graph = project.minorch("graph", "cross_downstream", "--format", "mermaid").stdout
    assert "c --> e" in graph and "d --> f" in graph and "c --> f" not in graph
