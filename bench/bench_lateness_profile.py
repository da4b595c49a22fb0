"""Where a cron fire's lateness goes: the scheduler run in this process, its steps timed.

Run: `python bench/bench_lateness_profile.py [--fires 20] [--repo PATH]`. Prints a markdown table;
results go in bench/RESULTS.md with the machine, date and load average. `--repo` measures another
checkout of minorch (to compare commits).

The same every-second DAG as bench_lateness.py (its task runs `echo ... $(date +%s.%N)`), driven by
`minorch up`'s own `Daemon` in this process, with timers wrapped around the loop's parts. For each
fire, in ms after it: when the step that starts the run began (the loop awake), when the try's
preparation began and ended (command, environment, its row), when the spawn began (after the
transaction that records the try) and ended, and when the task's `date` ran. Measured twice: as
shipped, and with the per-try cgroup off (`TryGroups.probe` answering None), because a process
joining a cgroup waits for the kernel's cgroup migration. The machine's limit, a sleep loop starting
the same command, is measured in the same run (bench_lateness.sleep_loop).
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lateness import REPO, machine, sleep_loop  # noqa: E402

Timings = list[tuple[str, float, float]]  # (what, began, ended) in wall-clock seconds


def timed(owner: type, name: str, label: str, into: Timings) -> Callable[[], None]:
    """Record every call of `owner.name` in `into`; returns what puts the original back."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            into.append((label, began, time.time()))

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, original)


def up(fires: int, cgroup: bool) -> list[dict[str, float]]:
    """`minorch up` in this process for `fires` seconds; per fire, ms after it of each phase."""
    from minorch import daemon, scheduler
    from minorch.config import load_settings
    from minorch.executors import cgroups, local
    from minorch.registry import load

    timings: Timings = []
    undo = [
        timed(scheduler.Scheduler, "step", "step", timings),
        timed(scheduler.Scheduler, "_prepare", "prepare", timings),
        timed(local.LocalExecutor, "_spawn", "spawn", timings),
    ]
    probe = cgroups.TryGroups.probe
    if not cgroup:
        cgroups.TryGroups.probe = classmethod(lambda cls, state_dir: None)  # type: ignore[method-assign]
    root = Path(tempfile.mkdtemp(prefix="minorch-lateness-"))
    (root / "dags").mkdir()
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n')
    (root / "dags" / "every.toml").write_text(
        '[dags.every]\nschedule = "* * * * * *"\nmax_active_runs = 4\n[dags.every.tasks.work]\n'
        'command = "echo $MINORCH_LOGICAL_DATE $(date +%s.%N) >> stamps"\n'
    )
    cwd = os.getcwd()
    os.chdir(root)
    try:
        settings = load_settings(root / "minorch.toml")
        running = daemon.Daemon(settings, load(settings))
        running.start()
        signal.signal(signal.SIGALRM, lambda signum, frame: running.request_stop())
        signal.alarm(fires + 2)
        running.run()
    finally:
        os.chdir(cwd)
        cgroups.TryGroups.probe = probe  # type: ignore[method-assign]
        for put_back in undo:
            put_back()
    found = []
    for line in (root / "stamps").read_text().splitlines()[1:]:  # the first fire may meet start-up work
        logical, stamp = line.split()
        fire = datetime.fromisoformat(logical).timestamp()
        near = [(label, began - fire, ended - fire) for label, began, ended in timings if -0.01 < began - fire < 0.5]
        prepare = next(((b, e) for label, b, e in near if label == "prepare"), None)
        spawn = next(((b, e) for label, b, e in near if label == "spawn"), None)
        step = next((b for label, b, e in near if label == "step" and prepare and b <= prepare[0] <= e), None)
        if prepare is None or spawn is None or step is None:
            continue
        ms = {"awake": step, "prepare": prepare[0], "prepared": prepare[1], "spawn": spawn[0], "spawned": spawn[1]}
        found.append({key: 1000 * value for key, value in ms.items()} | {"task": 1000 * (float(stamp) - fire)})
    return found


PHASES = [
    ("awake", "the loop awake: the step that starts the run begins"),
    ("prepare", "the try's preparation begins (run started)"),
    ("prepared", "prepared (command, environment, row)"),
    ("spawn", "the spawn begins (the try recorded)"),
    ("spawned", "the spawn returns"),
    ("task", "the task's `date` runs"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=20)
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    print(machine(args.repo))
    load = os.getloadavg()[0]
    limit = statistics.median(sleep_loop(args.fires))
    print(f"sleep loop starting the same command (the limit): median {limit:.2f} ms, load {load:.1f}\n")
    columns = []
    for cgroup in (True, False):
        load = os.getloadavg()[0]
        columns.append((up(args.fires, cgroup), load))
    print("| ms after the fire, median (p90) | as shipped | per-try cgroup off |\n|---|---:|---:|")
    for key, what in PHASES:
        cells = []
        for rows, _ in columns:
            values = sorted(row[key] for row in rows)
            cells.append(f"{statistics.median(values):.2f} ({values[int(0.9 * (len(values) - 1))]:.2f})")
        print(f"| {what} | {cells[0]} | {cells[1]} |")
    medians = [statistics.median(row["task"] for row in rows) for rows, _ in columns]
    print(f"| fires measured; load average (1 min) | {len(columns[0][0])}; {columns[0][1]:.1f} | "
          f"{len(columns[1][0])}; {columns[1][1]:.1f} |")  # fmt: skip
    print(f"| task's `date` median / the sleep loop's | {medians[0] / limit:.1f}x | {medians[1] / limit:.1f}x |")


if __name__ == "__main__":
    main()
