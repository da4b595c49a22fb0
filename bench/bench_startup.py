"""What a short-lived `minorch` process costs, command by command, against the interpreter's own
start measured in the same run (issue 18; the test suite starts thousands of these).

Run: `python bench/bench_startup.py [--reps 11] [--repo PATH ...]`. Prints machine, date, load
average and a markdown table of medians: wall seconds from spawn to exit, and CPU seconds (user +
system of the process and of the children it waited for, from `os.wait4`), each also as a multiple
of `python -c pass`. Given several --repo checkouts (e.g. main's and a branch's), every command
runs against each of them in turn, one repetition of everything per round, so a change of load
hits them all alike; one column pair per checkout.

The project is small, as in the tests: a one-task shell DAG in TOML (`hello`) and a Python DAG
file of two `@task`s (`pyflow`). The commands:

- `--help`, `dags`, `validate`, `tasks hello latest`, `trigger hello` (the runs it queues are of
  a paused copy of the project, so nothing else sees them), `run hello` (one shell task, the
  `echo` included in the CPU), `run pyflow` (two Python tries, the fork server included);
- `up --no-ui`: from spawn until it logs that it is ready, then SIGTERM, until it exits;
- the loader child `python -m minorch.pyloader 30 dags/pyflow.py` (what `dags` and `up` start to
  read a Python DAG file), and a Python try's own process `python -m minorch.runtime SPEC` (what
  runs a try when it is not forked from the fork server), with a spec naming pyflow's `extract`.

Byte code is written and used (PYTHONDONTWRITEBYTECODE is removed), as after an install; each
command runs once before timing. The goals of issue 18 (`--help` <= 0.04 s, `dags` <= 0.08 s of
wall, set on a quiet machine whose interpreter started in 0.011 s) are judged in bench_cli.py on
the bundled examples; here the multiples of `python -c pass` are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CONFIG = """[minorch]
state_dir = ".minorch"
dag_folders = ["dags"]
timezone = "UTC"
"""
HELLO = """[dags.hello]
schedule = "@daily"

[dags.hello.tasks.say]
command = "echo hello"
"""
PYFLOW = """from minorch import DAG, task

with DAG("pyflow", schedule="@daily"):

    @task
    def extract():
        return [1, 2, 3]

    @task
    def total(rows):
        return sum(rows)

    total(rows=extract())
"""


def make_project(root: Path) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text(CONFIG)
    (root / "dags" / "hello.toml").write_text(HELLO)
    (root / "dags" / "pyflow.py").write_text(PYFLOW)
    return root


def write_spec(root: Path) -> Path:
    """A try's spec as the scheduler writes it (see minorch.runtime): pyflow's `extract`."""
    day = "2026-01-15T00:00:00+00:00"
    context = {
        "dag_id": "pyflow",
        "task_id": "extract",
        "run_id": f"manual__{day}",
        "try_number": 1,
        "map_index": -1,
        "ds": day[:10],
        "logical_date": day,
        "data_interval_start": day,
        "data_interval_end": day,
        "timezone": "UTC",
        "params": {},
    }
    target = {"kind": "dagfile", "path": str(root / "dags" / "pyflow.py"), "dag_id": "pyflow", "task_id": "extract"}
    spec = {
        "target": target,
        "context": context,
        "xcom": {},
        "result_path": str(root / "result.json"),
        "max_result_bytes": 65536,
        "results": {},
    }
    path = root / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def cpu_of(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run to its end; fails loudly if the command fails."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, cpu_of(usage)


def up_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) of `up --no-ui --log-format json`: spawn, its "ready" line, SIGTERM, exit."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if '"ready"' in line:
            break
    else:
        raise SystemExit(f"{' '.join(argv)} ended before it was ready")
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, cpu_of(usage)


Command = tuple[list[str], str]  # (argv after the interpreter, which folder: "project" or "queue")


def commands() -> dict[str, Command]:
    m = ["-m", "minorch"]
    return {
        "`python -c pass` (the limit)": (["-c", "pass"], "project"),
        "`minorch --help`": ([*m, "--help"], "project"),
        "`minorch dags`": ([*m, "dags"], "project"),
        "`minorch validate`": ([*m, "validate"], "project"),
        "`minorch tasks hello latest`": ([*m, "tasks", "hello", "latest"], "project"),
        "`minorch trigger hello`": ([*m, "trigger", "hello"], "queue"),
        "`minorch run hello` (1 shell task)": ([*m, "run", "hello", "--quiet"], "project"),
        "`minorch run pyflow` (2 Python tasks)": ([*m, "run", "pyflow", "--quiet"], "project"),
        "`minorch up --no-ui` to ready and SIGTERM": ([*m, "up", "--no-ui", "--log-format", "json"], "project"),
        "loader child `python -m minorch.pyloader`": (["-m", "minorch.pyloader", "30", "dags/pyflow.py"], "project"),
        "try process `python -m minorch.runtime SPEC`": (["-m", "minorch.runtime", "SPEC"], "project"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--repo", action="append", type=Path, help="checkout to measure (default: this one)")
    args = parser.parse_args()
    repos = [path.resolve() for path in args.repo or [REPO]]
    base = {key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "MINORCH_CONFIG")}
    envs = {repo: {**base, "PYTHONPATH": str(repo)} for repo in repos}
    for repo in repos:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "minorch")], env=envs[repo], check=True)
    load_before = os.getloadavg()
    times: dict[tuple[str, Path], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for n, repo in enumerate(repos):
            project = make_project(Path(tmp) / f"project{n}")
            queue = Path(tmp) / f"queue{n}"
            shutil.copytree(project, queue)
            folders[repo] = {"project": project, "queue": queue, "spec": str(write_spec(project))}
            env = envs[repo]
            quiet = {"env": env, "check": True, "stdout": subprocess.DEVNULL}
            subprocess.run([sys.executable, "-m", "minorch", "pause", "hello"], cwd=queue, **quiet)
            subprocess.run([sys.executable, "-m", "minorch", "run", "hello"], cwd=project, **quiet)
        table = commands()
        for rep in range(args.reps + 1):  # the first round warms caches and the state files, untimed
            for name, (argv, where) in table.items():
                for repo in repos:
                    cwd, env = folders[repo][where], envs[repo]
                    full = [sys.executable, *(folders[repo]["spec"] if a == "SPEC" else a for a in argv)]
                    took = (up_once if "up" in argv else run_once)(full, cwd, env)
                    if rep:
                        times.setdefault((name, repo), []).append(took)
    load_after = os.getloadavg()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of {args.reps}"
    )
    for repo in repos:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        print(f"- {repo}: {head.stdout.strip() or 'not a git checkout'}")
    print()
    header = "| command |" + "".join(f" wall s ({n}) | x | CPU s ({n}) | x |" for n in range(len(repos)))
    print(header)
    print("|---|" + "---:|" * 4 * len(repos))
    for name in table:
        cells = f"| {name} |"
        for repo in repos:
            wall = statistics.median(w for w, _ in times[name, repo])
            cpu = statistics.median(c for _, c in times[name, repo])
            floor = times["`python -c pass` (the limit)", repo]
            floor_wall = statistics.median(w for w, _ in floor)
            floor_cpu = statistics.median(c for _, c in floor)
            cells += f" {wall:.3f} | {wall / floor_wall:.1f} | {cpu:.3f} | {cpu / floor_cpu:.1f} |"
        print(cells)


if __name__ == "__main__":
    main()
