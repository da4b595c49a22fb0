"""How long loading a folder of Airflow DAG files takes (the goal is < 2 s for 200 files).

    python bench/bench_airflow_load.py [--files 200] [--tasks 20] [--reps 5]

Writes FILES Airflow-style DAG files (alternating a classic file of BashOperator/PythonOperator
tasks with default_args and timedeltas, and a TaskFlow file with @dag/@task, pendulum dates and a
task group), TASKS tasks each, then times (a) `registry.load` in this process and (b) a whole
`python -m minorch validate` process, REPS times each, and prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minorch import registry  # noqa: E402
from minorch.config import load_settings  # noqa: E402

GOAL_S = 2.0


def classic(n: int, tasks: int) -> str:
    lines = [
        "from datetime import datetime, timedelta",
        "from airflow import DAG",
        "from airflow.operators.bash import BashOperator",
        "from airflow.operators.python import PythonOperator",
        "",
        "def work(ds, **kwargs):",
        "    return ds",
        "",
        f'with DAG("classic_{n}", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False,',
        '         default_args={"owner": "data", "retries": 2, "retry_delay": timedelta(minutes=1)}) as dag:',
        '    prev = BashOperator(task_id="t0", bash_command="echo {{ ds }}")',
    ]
    for t in range(1, tasks):
        if t % 2:
            lines.append(f'    cur = PythonOperator(task_id="t{t}", python_callable=work, op_kwargs={{"x": {t}}})')
        else:
            lines.append(f'    cur = BashOperator(task_id="t{t}", bash_command="echo {t} {{{{ ds_nodash }}}}")')
        lines.append("    prev >> cur")
        lines.append("    prev = cur")
    return "\n".join(lines) + "\n"


def taskflow(n: int, tasks: int) -> str:
    lines = [
        "import pendulum",
        "from airflow.sdk import dag, task, task_group",
        "",
        '@dag(schedule="0 2 * * *", start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Berlin"), catchup=False)',
        f"def taskflow_{n}():",
        "    @task",
        "    def step(x: int) -> int:",
        "        return x + 1",
        "",
        "    @task_group",
        "    def group():",
        "        value = step(0)",
    ]
    lines += ["        value = step(value)" for _ in range(tasks - 2)]
    lines += ["        return value", "", "    step(group())", "", f"taskflow_{n}()"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "dags").mkdir()
        (root / "minorch.toml").write_text('[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\n')
        for n in range(args.files):
            text = classic(n, args.tasks) if n % 2 == 0 else taskflow(n, args.tasks)
            (root / "dags" / f"dag_{n}.py").write_text(text)
        settings = load_settings(root / "minorch.toml")
        loads, walls = [], []
        for _ in range(args.reps):
            start = time.perf_counter()
            reg = registry.load(settings)
            loads.append(time.perf_counter() - start)
            assert not reg.errors, [str(e) for e in reg.errors[:3]]
            assert len(reg.dags) == args.files
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "minorch", "validate"], cwd=root, env=env, capture_output=True)
            walls.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
        tasks = sum(len(d.tasks) for d in reg.dags.values())
    print(f"{args.files} Airflow-style files, {tasks} tasks; load average {os.getloadavg()[0]:.2f}")
    print("| measure | goal | median | max |")
    print("|---|---|---|---|")
    for label, values in (("registry.load (in process)", loads), ("`minorch validate` (whole process)", walls)):
        verdict = "met" if statistics.median(values) < GOAL_S else "missed"
        print(f"| {label} | < {GOAL_S:g} s | **{statistics.median(values):.2f} s** — {verdict} | {max(values):.2f} s |")


if __name__ == "__main__":
    main()
