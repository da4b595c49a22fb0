"""Benchmarks of `minorch up --no-ui`: how fast it is ready, what it costs idle, how late it fires.

Run: `python bench/bench_daemon.py [--idle-seconds 60] [--fires 60] [--starts 7]`. Prints a
markdown table; results go in bench/RESULTS.md with the machine and date. Takes about
2.5 minutes with the defaults (the idle and firing windows are real time).

(a) ready: exec of `python -m minorch up --no-ui` to its "scheduler ready" log line,
    50 DAGs, median of --starts starts      goal <= 0.5 s
(b) idle CPU: user+system CPU of the process over --idle-seconds with 50 DAGs that do not
    fire in the window, as % of one core     goal < 1 %
(c) firing lateness: a seconds-cron DAG ("* * * * * *"), one `true` task, over --fires fires:
    the try's start_date in the store minus the fire time (its logical date)
    goal median <= 5 ms, max <= 50 ms. Also the time the task's shell itself saw (`date`),
    which adds the spawn.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def project(root: Path, dags: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\nstate_dir = ".minorch"\ngrace = "2s"\n')
    (root / "dags").mkdir(exist_ok=True)
    for name, text in dags.items():
        (root / "dags" / f"{name}.toml").write_text(text)
    return root


def quiet_dags(count: int) -> dict[str, str]:
    """`count` DAGs of three tasks that fire daily at 03:00: nothing fires in a short window."""
    made = {}
    for i in range(count):
        made[f"d{i:03d}"] = (
            f'[dags.d{i:03d}]\nschedule = "0 3 * * *"\n'
            f'[dags.d{i:03d}.tasks.a]\ncommand = "true"\n'
            f'[dags.d{i:03d}.tasks.b]\ncommand = "true"\nafter = ["a"]\n'
            f'[dags.d{i:03d}.tasks.c]\ncommand = "true"\nafter = ["b"]\n'
        )
    return made


class Up:
    """A running `minorch up --no-ui --log-format json`; `ready_after` is seconds from exec to ready."""

    def __init__(self, root: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minorch", "up", "--no-ui", "--log-format", "json"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready_event: dict = {}
        for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") == "ready":
                self.ready_after = time.perf_counter() - began
                self.ready_event = event
                break
        else:
            raise RuntimeError("minorch up ended before it was ready")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def bench_ready(root: Path, starts: int) -> tuple[list[float], list[int]]:
    outside, inside = [], []
    for _ in range(starts):
        up = Up(root)
        outside.append(up.ready_after)
        inside.append(up.ready_event["ready_ms"])
        up.stop()
    return outside, inside


def bench_idle(root: Path, seconds: float, slice_: float = 10.0) -> tuple[float, list[float]]:
    """CPU % of one core over the whole window, and per slice."""
    up = Up(root)
    proc = psutil.Process(up.proc.pid)
    time.sleep(1.0)  # let start-up work (first fires computed, files stat'ed) settle
    first = last = _cpu(proc)
    began = mark = time.monotonic()
    slices = []
    while time.monotonic() - began < seconds:
        time.sleep(min(slice_, seconds - (time.monotonic() - began)))
        now_cpu, now = _cpu(proc), time.monotonic()
        slices.append(100 * (now_cpu - last) / (now - mark))
        last, mark = now_cpu, now
    total = 100 * (last - first) / (mark - began)
    up.stop()
    return total, slices


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def bench_firing(root: Path, fires: int) -> tuple[list[float], list[float]]:
    """Lateness in ms per fire: store start_date - fire, and the task's own clock - fire."""
    up = Up(root)
    time.sleep(fires + 1.5)
    up.stop()
    db = sqlite3.connect(root / ".minorch" / "minorch.db")
    rows = db.execute(
        "SELECT r.logical_date, a.start_date FROM attempts a JOIN dag_runs r ON r.id = a.run_pk "
        "WHERE r.run_type = 'scheduled' ORDER BY r.logical_date"
    ).fetchall()
    db.close()
    stored = [1000 * (start - datetime.fromisoformat(logical).timestamp()) for logical, start in rows]
    seen = []
    for line in (root / "stamps").read_text().splitlines():
        logical, stamp = line.split()
        seen.append(1000 * (float(stamp) - datetime.fromisoformat(logical).timestamp()))
    return stored, seen


def summary(values: list[float], digits: int = 1) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"median {statistics.median(values):.{digits}f}, p95 {p95:.{digits}f}, max {max(values):.{digits}f} "
        f"(n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--fires", type=int, default=60)
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quiet = project(Path(tmp) / "quiet", quiet_dags(50))
        outside, inside = bench_ready(quiet, args.starts)
        idle, slices = bench_idle(quiet, args.idle_seconds)
        firing = project(
            Path(tmp) / "firing",
            {
                "every": (
                    '[dags.every]\nschedule = "* * * * * *"\n[dags.every.tasks.work]\n'
                    'command = "echo $MINORCH_LOGICAL_DATE $(date +%s.%N) >> stamps"\n'
                )
            },
        )
        stored, seen = bench_firing(firing, args.fires)
    cores = os.cpu_count()
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} at the end, Python {sys.version.split()[0]}")
    print()
    print("| measure | goal | result |")
    print("|---|---|---|")
    print(f'| ready: exec to "scheduler ready", 50 DAGs (s) | <= 0.5 | {summary(outside, 3)} |')
    print(f"| ready: as the process itself logs it (ms) | | median {statistics.median(inside):.0f} |")
    print(
        f"| idle CPU, 50 DAGs, {args.idle_seconds:.0f} s (% of one core) | < 1 | {idle:.2f} "
        f"(10-s slices: max {max(slices):.2f}) |"
    )
    print(f"| firing lateness: store start_date - fire (ms) | median <= 5, max <= 50 | {summary(stored)} |")
    print(f"| firing lateness: task's own clock - fire (ms) | | {summary(seen)} |")


if __name__ == "__main__":
    main()
