"""1,000 no-op `@task` functions in a Python DAG file, run by `minorch run`, against this machine's
fork floor measured in the same run.

Run: `python bench/bench_python_tasks.py [--repeat 3] [--tasks 1000] [--pad-ms 300]`. Prints
machine, date, load average and a markdown table. Goal (issue 18): >= 0.4 of the fork floor,
independent of the DAG file's size.

- fork floor: a warm interpreter (minorch.runtime imported, as the fork server has it) forks
  children that exit at once, 8 in flight: forks per second.
- small file: one DAG of TASKS independent `@task` functions (`return None`), parallelism 8;
  tasks/s from the first try's start to the last try's end, from the state file.
- large file: the same file plus top-level work that makes importing it take about PAD_MS
  milliseconds more (the import time of both files is printed). Before the fork server kept
  DAG files imported, every try paid that import.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL = 0.4

FORK_FLOOR = """
import os, sys, time
sys.path.insert(0, sys.argv[2])
import minorch.runtime
count, running, began = int(sys.argv[1]), set(), time.perf_counter()
for _ in range(count):
    if len(running) >= 8:
        running.discard(os.wait()[0])
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    running.add(pid)
while running:
    running.discard(os.wait()[0])
print(count / (time.perf_counter() - began))
"""


def fork_floor(count: int = 3000) -> float:
    done = subprocess.run(
        [sys.executable, "-c", FORK_FLOOR, str(count), str(REPO)], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def dag_file(tasks: int, pad_ms: int) -> str:
    lines = ["from minorch import DAG, task", ""]
    if pad_ms:
        lines += [
            "import time as _time",
            "",
            "_until = _time.process_time() + " + repr(pad_ms / 1000),
            "while _time.process_time() < _until:  # a DAG file that is slow to import",
            "    pass",
            "",
        ]
    lines += ['with DAG("bench"):']
    for i in range(tasks):
        lines += ["    @task", f"    def t{i:04d}():", "        return None", "", f"    t{i:04d}()", ""]
    return "\n".join(lines) + "\n"


def project(root: Path, tasks: int, pad_ms: int) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text('[minorch]\nparallelism = 8\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n')
    (root / "dags" / "bench.py").write_text(dag_file(tasks, pad_ms))
    return root


def import_ms(path: Path) -> float:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[2]); from minorch.dagfile import load_dag_file; "
        "began = time.perf_counter(); load_dag_file(sys.argv[1]); print((time.perf_counter() - began) * 1000)"
    )
    argv = [sys.executable, "-c", code, str(path), str(REPO)]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def tasks_per_second(root: Path, tasks: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "minorch", "run", "bench", "--quiet"], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    db = sqlite3.connect(root / ".minorch" / "minorch.db")
    first, last, count = db.execute(
        "SELECT MIN(start_date), MAX(start_date + duration), COUNT(*) FROM attempts WHERE exit_code = 0"
    ).fetchone()
    db.close()
    if count != tasks:
        raise SystemExit(f"{count} of {tasks} tries succeeded")
    return tasks / (last - first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--pad-ms", type=int, default=300)
    args = parser.parse_args()
    load_before = os.getloadavg()
    floors, small, large = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            floors.append(fork_floor())
            small_root = project(Path(tmp) / f"small{rep}", args.tasks, 0)
            large_root = project(Path(tmp) / f"large{rep}", args.tasks, args.pad_ms)
            if rep == 0:
                small_ms = import_ms(small_root / "dags" / "bench.py")
                large_ms = import_ms(large_root / "dags" / "bench.py")
            small.append(tasks_per_second(small_root, args.tasks))
            large.append(tasks_per_second(large_root, args.tasks))
    load_after = os.getloadavg()
    floor = statistics.median(floors)
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; median of {args.repeat}"
    )
    print()
    print("| measure | per second | of the fork floor | goal | |")
    print("|---|---:|---:|---|---|")
    print(f"| fork floor: warm interpreter, 8 in flight (the machine's limit) | {floor:,.0f} | 1.00 | | |")
    for name, rates, ms in (("small", small, small_ms), ("large", large, large_ms)):
        rate = statistics.median(rates)
        verdict = "met" if rate / floor >= GOAL else "missed"
        print(
            f"| {args.tasks:,} no-op `@task`s, parallelism 8, {name} DAG file (imports in {ms:,.0f} ms) "
            f"| {rate:,.0f} | {rate / floor:.2f} | >= {GOAL} | {verdict} |"
        )


if __name__ == "__main__":
    main()
