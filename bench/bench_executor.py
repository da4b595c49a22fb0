"""Spawn rate of LocalExecutor against raw subprocess.Popen, on `true` and on no-op Python tasks.

    python bench/bench_executor.py [--tasks 1000] [--python-tasks 300] [--reps 5]

Measures in one run: (a) raw ``subprocess.Popen(["true"])`` with 2 in flight,
(b) LocalExecutor on `true` with 2 and with 8 in flight (each task gets its own log
file, a pidfd, a create_time lookup and a wait4 reap), (c) LocalExecutor on a no-op
Python task (``python -m minorch.runtime SPEC``, as the scheduler launches it) with 8
in flight, forked by the fork server and, for comparison, spawned as a new interpreter
(``fork_server=False``). Prints a markdown table of the median tasks/s over the
repetitions and the ratio to raw Popen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch.executors.local import Launch, LocalExecutor  # noqa: E402
from minorch.runtime import write_spec  # noqa: E402

NOW = datetime(2024, 1, 15, tzinfo=timezone.utc)


def raw_popen(tasks: int, in_flight: int) -> float:
    """Tasks per second for bare Popen, waiting on the oldest child when full."""
    begun = time.perf_counter()
    flying: deque[subprocess.Popen] = deque()
    for _ in range(tasks):
        if len(flying) == in_flight:
            flying.popleft().wait()
        flying.append(subprocess.Popen(["true"]))
    while flying:
        flying.popleft().wait()
    return tasks / (time.perf_counter() - begun)


def shell_launch(logs: Path, i: int) -> Launch:
    return Launch(f"t{i}", ["true"], dict(os.environ), None, logs / f"{i}.log", None)


def python_launch(folder: Path, i: int) -> Launch:
    """A no-op Python task, launched as the scheduler launches one."""
    spec = folder / f"{i}.json"
    context = {
        "ds": "2024-01-15",
        "logical_date": NOW,
        "data_interval_start": NOW,
        "data_interval_end": NOW,
        "timezone": "UTC",
        "xcom": {},
    }
    write_spec(
        spec,
        target={"kind": "ref", "ref": "noop:noop", "sys_path": [str(folder)]},
        context=context,
        result_path=folder / f"{i}.result",
        max_result_bytes=65536,
    )
    return Launch(
        f"t{i}",
        [sys.executable, "-m", "minorch.runtime", str(spec)],
        dict(os.environ),
        str(folder),
        folder / f"{i}.log",
        None,
    )


def executor(launches: list[Launch], in_flight: int, fork_server: bool = True) -> float:
    """Tasks per second through LocalExecutor.start / wait / poll (the fork server's start included)."""
    ex = LocalExecutor(fork_server=fork_server)
    begun = time.perf_counter()
    started = finished = 0
    while finished < len(launches):
        while started < len(launches) and ex.running() < in_flight:
            ex.start(launches[started])
            started += 1
        ex.wait(1.0)
        exits = ex.poll()
        if any(e.returncode != 0 for e in exits):
            raise SystemExit(f"a task failed: {exits}")
        finished += len(exits)
    rate = len(launches) / (time.perf_counter() - begun)
    ex.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--python-tasks", type=int, default=300)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("raw subprocess.Popen", "`true`", 2),
        ("LocalExecutor", "`true`", 2),
        ("LocalExecutor", "`true`", 8),
        ("LocalExecutor, fork server", "no-op Python", 8),
        ("LocalExecutor, new interpreter", "no-op Python", 8),
    ]
    rates: dict[tuple[str, str, int], list[float]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "noop.py").write_text("def noop():\n    return None\n")
        python = [python_launch(folder, i) for i in range(args.python_tasks)]
        # Cases take turns within each repetition, so a busy moment on the host
        # hits all of them alike and the ratio stays fair.
        for rep in range(args.reps):
            shell = [shell_launch(folder / f"{rep}", i) for i in range(args.tasks)]
            for case in cases:
                name, task, k = case
                if name.startswith("raw"):
                    rates[case].append(raw_popen(args.tasks, k))
                elif task == "`true`":
                    rates[case].append(executor(shell, k))
                else:
                    rates[case].append(executor(python, k, fork_server="fork server" in name))
    rows = [(*case, statistics.median(rates[case])) for case in cases]
    raw = rows[0][3]
    print(
        f"{args.tasks} x `true`, {args.python_tasks} x no-op Python task, median of {args.reps}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n"
    )
    print("| runner | task | in flight | tasks/s | vs raw Popen (2 in flight) |")
    print("|---|---|---:|---:|---:|")
    for name, task, k, rate in rows:
        print(f"| {name} | {task} | {k} | {rate:,.0f} | {rate / raw:.2f} |")


if __name__ == "__main__":
    main()
