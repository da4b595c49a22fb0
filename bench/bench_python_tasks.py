"""1,000 no-op `@task` functions in a Python DAG file, run by `minorch run`, against this machine's
fork floor measured in the same run.

Run: `python bench/bench_python_tasks.py [--repeat 3] [--tasks 1000] [--pad-ms 300] [--where]`.
Prints machine, date, load average and a markdown table. Goal (issue 18): >= 0.4 of the fork
floor, independent of the DAG file's size.

- fork floor: a warm interpreter (minorch.runtime imported, as the fork server has it) forks
  children that exit at once, 8 in flight: forks per second.
- small file: one DAG of TASKS independent `@task` functions (`return None`), parallelism 8;
  tasks/s from the first try's start to the last try's end, from the state file.
- large file: the same file plus top-level work that makes importing it take about PAD_MS
  milliseconds more (the import time of both files is printed). Before the fork server kept
  DAG files imported, every try paid that import.
- whole process: the same runs' tasks divided by the wall time of the whole `minorch run`
  process (start-up, loading and shutting down included).
- `--where`: one more run of the small file, with each process's CPU time and minor page faults
  read from /proc while it runs (the scheduler, the fork server, the DAG file's generation and
  the tries forked from it), per try: where the time goes.
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
import time
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


def tasks_per_second(root: Path, tasks: int, watch: dict | None = None) -> tuple[float, float]:
    """(tasks per second from the first try's start to the last try's end, tasks per second of the
    whole process's wall time). `watch`, when given, gets each process's CPU and faults (see `sample`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile("w+") as output:  # not a pipe: nothing reads it while the run goes on
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "minorch", "run", "bench", "--quiet"],
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        while watch is not None and process.poll() is None:
            sample(process.pid, watch)
            time.sleep(0.1)
        process.wait()
        wall = time.perf_counter() - began
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"run failed ({process.returncode}):\n{output.read()[-4000:]}")
    db = sqlite3.connect(root / ".minorch" / "minorch.db")
    first, last, count = db.execute(
        "SELECT MIN(start_date), MAX(start_date + duration), COUNT(*) FROM attempts WHERE exit_code = 0"
    ).fetchone()
    db.close()
    if count != tasks:
        raise SystemExit(f"{count} of {tasks} tries succeeded")
    return tasks / (last - first), tasks / wall


def _stat(pid: int | str) -> dict | None:
    """ppid, own CPU seconds and minor faults, and those of the children it reaped, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "ppid": int(fields[1]),
        "faults": int(fields[7]),
        "child_faults": int(fields[8]),
        "cpu": (int(fields[11]) + int(fields[12])) / tick,
        "child_cpu": (int(fields[13]) + int(fields[14])) / tick,
    }


def sample(scheduler: int, watch: dict) -> None:
    """Keep the latest /proc figures of the scheduler, its fork server and the server's children
    that reaped tries themselves (a DAG file's generation)."""
    found = _stat(scheduler)
    if found is not None:
        watch["scheduler"] = found
    servers = watch.setdefault("servers", {})
    generations = watch.setdefault("generations", {})
    for pid in filter(str.isdigit, os.listdir("/proc")):
        found = _stat(pid)
        if found is None:
            continue
        if found["ppid"] == scheduler:
            servers[pid] = found
        elif str(found["ppid"]) in servers and found["child_faults"] > 0:
            generations[pid] = found


def where(root: Path, tasks: int) -> list[str]:
    """Lines of a table: each process's CPU and minor page faults per try, from one run."""
    watch: dict = {}
    tasks_per_second(root, tasks, watch)
    generations = list(watch.get("generations", {}).values())
    rows = [
        ("scheduler (`minorch run`)", [watch["scheduler"]], "cpu", "faults"),
        ("fork server", list(watch.get("servers", {}).values()), "cpu", "faults"),
        ("the DAG file's generation", generations, "cpu", "faults"),
        ("the tries (forks of the generation)", generations, "child_cpu", "child_faults"),
    ]
    lines = [
        "",
        f"Where the time goes ({tasks:,} tries, small file, load average {os.getloadavg()[0]:.2f}):",
        "",
        "| process | CPU per try | minor page faults per try |",
        "|---|---:|---:|",
    ]
    total = 0.0
    for name, found, cpu, faults in rows:
        seconds = sum(f[cpu] for f in found)
        total += seconds
        lines.append(f"| {name} | {seconds / tasks * 1000:.2f} ms | {sum(f[faults] for f in found) / tasks:,.0f} |")
    lines.append(f"| all of them | {total / tasks * 1000:.2f} ms | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--pad-ms", type=int, default=300)
    parser.add_argument("--where", action="store_true", help="also print each process's CPU and faults per try")
    args = parser.parse_args()
    load_before = os.getloadavg()
    floors: list[float] = []
    small: list[tuple[float, float]] = []
    large: list[tuple[float, float]] = []
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
        where_lines = where(project(Path(tmp) / "where", args.tasks, 0), args.tasks) if args.where else []
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
        rate = statistics.median(first for first, _ in rates)
        whole = statistics.median(whole for _, whole in rates)
        verdict = "met" if rate / floor >= GOAL else "missed"
        print(
            f"| {args.tasks:,} no-op `@task`s, parallelism 8, {name} DAG file (imports in {ms:,.0f} ms), "
            f"first start to last end | {rate:,.0f} | {rate / floor:.2f} | >= {GOAL} | {verdict} |"
        )
        print(f"| the same, whole `minorch run` process | {whole:,.0f} | {whole / floor:.2f} | | |")
    print("\n".join(where_lines))


if __name__ == "__main__":
    main()
