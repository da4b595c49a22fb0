"""Does the time per task stay flat as the work grows? No-op shell tasks against this machine's own limit.

Run: `python bench/bench_scale.py [--sizes 100,1000,10000,50000] [--runs 1,10,100] [--repo PATH]`.
Prints a markdown table; results go in bench/RESULTS.md with the machine, date and load average.

(a) one run of N independent no-op shell tasks (`true`), parallelism 8 (--parallelism), N = 100 ... 50,000
(b) R concurrent runs of one 100-task DAG (max_active_runs = R), parallelism 8, R = 1, 10, 100

Each row is driven by a fresh `python` process that runs the runs to their end with the real
scheduler and executor (`foreground.drive`, what `minorch run` uses) on a real state file. Time
per task = first try's start to last try's end (from the state file) / tasks; the scheduler's CPU
per task (its process's own CPU time, not its children's) is what the load changes least. The limit, measured
in the same sitting right before each row: raw `subprocess.Popen(["true"])` with as many in flight.
Goal (issue 18): time per task flat within 1.5x from the smallest to the largest row, and the
rate at least 0.5 of the limit. `--repo` runs another checkout of minorch (to compare commits).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_run import raw_spawn_rate  # noqa: E402

PARALLELISM = 8  # --parallelism

DRIVER = """
import sys
from datetime import datetime, timedelta, timezone
from minorch.config import load_settings
from minorch.foreground import drive
from minorch.registry import load

settings = load_settings(sys.argv[1])
registry = load(settings)
dag = registry.dags["bench"]
count = int(sys.argv[2])
start = datetime(2024, 1, 1, tzinfo=timezone.utc)

def create(sched):
    now = sched.clock.now()
    return [sched.create_run(dag, start + timedelta(days=i), "manual", now=now, logical=True)[0] for i in range(count)]

import time
began = time.process_time()
results = drive(settings, registry, create, lambda line: None, install_signals=False)
print(time.process_time() - began)  # the scheduler's own CPU seconds, its children's not counted
sys.exit(0 if all(r.exit_code == 0 for r in results) else 1)
"""


def project(root: Path, tasks: int, runs: int) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text(
        f'[minorch]\nparallelism = {PARALLELISM}\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n'
    )
    lines = ["[dags.bench]", f"max_active_runs = {runs}", f"max_active_tasks = {PARALLELISM}", ""]
    for i in range(tasks):
        lines += [f"[dags.bench.tasks.t{i:05d}]", 'command = "true"', ""]
    (root / "dags" / "bench.toml").write_text("\n".join(lines))
    return root / "minorch.toml"


def measure(root: Path, tasks: int, runs: int, repo: Path) -> tuple[float, float]:
    """(seconds per task, the scheduler's CPU seconds per task) for `runs` runs of `tasks` tasks."""
    config = project(root, tasks, runs)
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(config), str(runs)],
        env=env,
        capture_output=True,
        text=True,
        cwd=root,  # not a checkout's root: `-c` puts the working folder before PYTHONPATH
    )
    if done.returncode != 0:
        raise SystemExit(f"the runs failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    db = sqlite3.connect(root / ".minorch" / "minorch.db")
    first, last, count = db.execute(
        "SELECT MIN(start_date), MAX(start_date + duration), COUNT(*) FROM attempts"
    ).fetchone()
    db.close()
    if count != tasks * runs:
        raise SystemExit(f"expected {tasks * runs} tries, found {count}")
    return (last - first) / count, float(done.stdout.split()[-1]) / count


def main() -> None:
    global PARALLELISM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--runs", default="1,10,100")
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    parser.add_argument("--parallelism", type=int, default=PARALLELISM, help="Tries in flight (and raw Popens).")
    args = parser.parse_args()
    PARALLELISM = args.parallelism
    rows = [(int(n), 1) for n in args.sizes.split(",") if n] + [(100, int(r)) for r in args.runs.split(",") if r]
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, minorch from {args.repo}\n"
    )
    print(
        f"| work | tasks | time per task | scheduler CPU per task | tasks/s | raw Popen, {PARALLELISM} in flight "
        "| ratio | load (1 min) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_task = []
    with tempfile.TemporaryDirectory(prefix="minorch-scale-") as folder:
        for number, (tasks, runs) in enumerate(rows):
            raw = raw_spawn_rate(in_flight=PARALLELISM)
            load = os.getloadavg()[0]
            seconds, cpu = measure(Path(folder) / f"row{number}", tasks, runs, args.repo)
            per_task.append(seconds)
            work = f"1 run of {tasks:,} tasks" if runs == 1 else f"{runs} runs of {tasks} tasks"
            print(
                f"| {work} | {tasks * runs:,} | {seconds * 1000:.2f} ms | {cpu * 1000:.2f} ms | {1 / seconds:,.0f} "
                f"| {raw:,.0f}/s "
                f"| {1 / seconds / raw:.2f} | {load:.1f} |",
                flush=True,
            )
    print(f"\nlargest / smallest time per task: {max(per_task) / min(per_task):.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
