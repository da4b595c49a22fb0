"""How late a cron fire starts its task, on the task's own clock, against a plain sleep loop.

Run: `python bench/bench_lateness.py [--fires 30] [--repo PATH]`. Prints a markdown table; results go
in bench/RESULTS.md with the machine, date and load average.

(a) the machine's limit, measured in the same run: a Python loop that sleeps until each whole
    second and starts the same shell command the task runs, `echo $(date +%s.%N)` (what a
    scheduler with no work of its own would do);
(b) `minorch up --no-ui` with one DAG on `* * * * * *` whose task runs `echo ... $(date +%s.%N)`.
Lateness = the time the task's `date` printed minus the fire (the whole second). Goal (issue 18):
median <= 3 ms. `--repo` runs another checkout of minorch (to compare commits).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sleep_loop(fires: int) -> list[float]:
    """Lateness in ms of `date` in the task's shell command, started by a loop that sleeps to each whole second."""
    late = []
    for _ in range(fires):
        due = float(int(time.time()) + 1)
        time.sleep(max(0.0, due - time.time()))
        printed = subprocess.run(["sh", "-c", "echo $(date +%s.%N)"], capture_output=True, text=True).stdout
        late.append(1000 * (float(printed) - due))
    return late


def minorch_up(root: Path, fires: int, repo: Path) -> list[float]:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n')
    (root / "dags" / "every.toml").write_text(
        '[dags.every]\nschedule = "* * * * * *"\nmax_active_runs = 4\n[dags.every.tasks.work]\n'
        'command = "echo $MINORCH_LOGICAL_DATE $(date +%s.%N) >> stamps"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minorch", "up", "--no-ui"], cwd=root, env=env, stdout=subprocess.DEVNULL
    )
    time.sleep(fires + 2.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    late = []
    for line in (root / "stamps").read_text().splitlines()[1:]:  # the first fire may meet start-up work
        logical, stamp = line.split()
        late.append(1000 * (float(stamp) - datetime.fromisoformat(logical).timestamp()))
    return late


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(values):.2f}, p95 {p95:.2f}, max {max(values):.2f} (n = {len(values)})"


def machine(repo: Path) -> str:
    """The first line of a result: this machine, the date, the minorch measured."""
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, minorch from {repo}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=30)
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    args = parser.parse_args()
    print(machine(args.repo))
    print("| fire to the task's own clock (ms) | result | load average (1 min) |\n|---|---|---:|")
    load = os.getloadavg()[0]
    limit = summary(sleep_loop(args.fires))
    print(f"| a sleep loop starting the same command (the limit) | {limit} | {load:.1f} |", flush=True)
    with tempfile.TemporaryDirectory(prefix="minorch-lateness-") as folder:
        load = os.getloadavg()[0]
        late = minorch_up(Path(folder), args.fires, args.repo)
    print(f"| `minorch up`, every-second DAG (goal: median <= 3) | {summary(late)} | {load:.1f} |")


if __name__ == "__main__":
    main()
