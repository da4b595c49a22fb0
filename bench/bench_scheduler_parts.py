"""Where the scheduler's CPU goes, per shell try: one run of no-op shell tasks with timers around its parts.

Run: `python bench/bench_scheduler_parts.py [--tasks 1000] [--parallelism 8] [--repo PATH]` (`--repo`:
another checkout of minorch, to compare commits; run both in turns). Prints a markdown table; results go
in bench/RESULTS.md with the machine, date and load average.

A fresh `python` process drives one run of N independent no-op shell tasks (`true`) with the real
scheduler and executor (`foreground.drive`, what `minorch run` uses) on a real state file, with each
part below wrapped in a timer of its thread's CPU time (the wrapper itself costs about 1 µs a call). A
part's time includes the parts it calls (start_all includes the spawn and the log file). The limit,
measured in the same run: the scheduler-side CPU of one raw `Popen(["true"])` (median of 5 x 200).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_scale import project  # noqa: E402

DRIVER = """
import json, statistics, subprocess, sys, time
from collections import Counter
from datetime import datetime, timezone
from minorch.config import load_settings
from minorch.foreground import drive
from minorch.registry import load
from minorch import scheduler, live, store
from minorch.executors import local

spent, calls = Counter(), Counter()

def timed(owner, name, label):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        began = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - began
            calls[label] += 1
    setattr(owner, name, wrapper)

PARTS = [
    (scheduler.Scheduler, "step", "step (refresh, plan, prepare, start)"),
    (live.LiveState, "refresh", "  reading the change feed"),
    (scheduler.P, "plan", "  planning"),
    (scheduler.Scheduler, "_prepare", "  preparing a try (context, paths, environment)"),
    (scheduler.Scheduler, "_context", "    its template context"),
    (scheduler.Scheduler, "start_tries", "  recording starts, then starting"),
    (store.Store, "start_attempt", "    the attempt row"),
    (local.LocalExecutor, "start_all", "    the executor's start"),
    (local, "_open_log", "      the log file (a new folder)"),
    (local.LocalExecutor, "_spawn", "      the spawn (Popen)"),
    (scheduler.Scheduler, "_record_pids", "recording pids"),
    (scheduler.Scheduler, "_record_exit", "recording an end"),
    (store.Store, "finish_attempt", "  the attempt's end"),
    (scheduler.Scheduler, "_done_with", "  removing its status file"),
    (local.LocalExecutor, "poll", "the executor's poll (reaping, the cgroup's removal)"),
    (store.Store, "set_task_state", "every task state move (start and end)"),
    (scheduler.Scheduler, "_emit", "events"),
]
for owner, name, label in PARTS:
    timed(owner, name, label)

def raw_popen_cpu():
    rounds = []
    for _ in range(5):
        began = time.thread_time()
        for _ in range(200):
            subprocess.Popen(["true"]).wait()
        rounds.append((time.thread_time() - began) / 200)
    return statistics.median(rounds)

settings = load_settings(sys.argv[1])
registry = load(settings)
dag = registry.dags["bench"]
start = datetime(2024, 1, 1, tzinfo=timezone.utc)
raw = raw_popen_cpu()

def create(sched):
    return [sched.create_run(dag, start, "manual", now=sched.clock.now(), logical=True)[0]]

began, wall = time.process_time(), time.monotonic()
results = drive(settings, registry, create, lambda line: None, install_signals=False)
cpu, wall = time.process_time() - began, time.monotonic() - wall
print(json.dumps({"cpu": cpu, "wall": wall, "raw": raw, "ok": all(r.exit_code == 0 for r in results),
                  "parts": [(label, spent[label], calls[label]) for _, _, label in PARTS]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    args = parser.parse_args()
    import bench_scale

    bench_scale.PARALLELISM = args.parallelism
    import json

    with tempfile.TemporaryDirectory(prefix="minorch-parts-") as folder:
        config = project(Path(folder) / "p", args.tasks, 1)
        load = os.getloadavg()[0]
        env = {**os.environ, "PYTHONPATH": str(args.repo)}
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(config)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=folder,  # not a checkout's root: `-c` puts the working folder before PYTHONPATH
        )
    if done.returncode != 0:
        raise SystemExit(f"the run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    found = json.loads(done.stdout.splitlines()[-1])
    if not found["ok"]:
        raise SystemExit("a task failed")
    n = args.tasks
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load {load:.1f}, minorch from {args.repo}\n"
    )
    print(
        f"{n:,} no-op shell tasks, parallelism {args.parallelism}: the scheduler's CPU "
        f"{found['cpu'] / n * 1e6:.0f} µs per try, {found['wall'] / n * 1e3:.2f} ms per try end to end; "
        f"one raw Popen(['true']) {found['raw'] * 1e6:.0f} µs of this process's CPU\n"
    )
    print("| part | µs of CPU per try | share | calls per try |")
    print("|---|---:|---:|---:|")
    for label, seconds, calls in found["parts"]:
        name = label.strip()
        indent = "&nbsp;" * (len(label) - len(label.lstrip()))
        print(f"| {indent}{name} | {seconds / n * 1e6:.0f} | {seconds / found['cpu']:.0%} | {calls / n:.2f} |")


if __name__ == "__main__":
    main()
