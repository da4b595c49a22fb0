"""Spawn rate of LocalExecutor against raw subprocess.Popen, on `true`.

    python bench/bench_executor.py [--tasks 1000] [--reps 5]

Measures in one run: (a) raw ``subprocess.Popen(["true"])`` with 2 in flight,
(b) LocalExecutor with 2 and with 8 in flight (each task gets its own log file,
a pidfd, a create_time lookup and a wait4 reap). Prints a markdown table of the
median tasks/s over the repetitions and the ratio to raw Popen.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch.executor import Launch, LocalExecutor  # noqa: E402


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


def executor(tasks: int, in_flight: int, logs: Path) -> float:
    """Tasks per second through LocalExecutor.start / wait / poll."""
    ex = LocalExecutor()
    env = dict(os.environ)
    begun = time.perf_counter()
    started = finished = 0
    while finished < tasks:
        while started < tasks and ex.running() < in_flight:
            ex.start(Launch(f"t{started}", ["true"], env, None, logs / f"{started}.log", None))
            started += 1
        ex.wait(1.0)
        exits = ex.poll()
        if any(e.returncode != 0 for e in exits):
            raise SystemExit(f"a task failed: {exits}")
        finished += len(exits)
    return tasks / (time.perf_counter() - begun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    cases = [("raw subprocess.Popen", 2), ("LocalExecutor", 2), ("LocalExecutor", 8)]
    rates: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        # Cases take turns within each repetition, so a busy moment on the host
        # hits all of them alike and the ratio stays fair.
        for rep in range(args.reps):
            for name, k in cases:
                if name.startswith("raw"):
                    rates[name, k].append(raw_popen(args.tasks, k))
                else:
                    rates[name, k].append(executor(args.tasks, k, Path(tmp, f"{rep}-{k}")))
    rows = [(name, k, statistics.median(rates[name, k])) for name, k in cases]
    raw = rows[0][2]
    print(f"{args.tasks} x `true`, median of {args.reps}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| runner | in flight | tasks/s | vs raw Popen (2 in flight) |")
    print("|---|---:|---:|---:|")
    for name, k, rate in rows:
        print(f"| {name} | {k} | {rate:,.0f} | {rate / raw:.2f} |")


if __name__ == "__main__":
    main()
