"""Fault injection: SIGKILL `minorch up` again and again, then count double runs and leftover processes.

Run: `python bench/fault_sigkill.py burst [--kills 50]` or `python bench/fault_sigkill.py random
[--tasks 150] [--rounds 10] [--python]`. Each round prints one line; the last line sums them up. Expected:
0 double runs and 0 leftover processes in every round. Results go in bench/RESULTS.md.

Every task appends "start RUN TASK" to a ledger, sleeps, and appends "done RUN TASK". A try the
restarted scheduler finds still running is stopped and run again, so "start" may appear twice;
"done" twice for one task and run is a double run: a try ran that no state row recorded.
A leftover process is one carrying the round's marker in its environment that, once a restarted
scheduler said "ready" (recovery is over), belongs to no try of the state file or to a try
recorded as ended over a second before, or that still runs after the final graceful stop.

burst:  a DAG of 40 independent tasks (parallelism 40, one run at a time); per kill, queue a run,
        start `up`, wait until the first try of a launch burst is recorded, wait 0-50 ms, SIGKILL.
random: a DAG of --tasks tasks in chains of 10 (parallelism 16), each sleeping 0.05-0.5 s; start
        `up`, SIGKILL it after a random 0.1-1.5 s, again and again until the run finished.
        --python: the tasks are `@task` functions of a Python DAG file, forked by the fork server
        (through the file's generation) and started in pipelined batches. A fork's /proc environ
        is its server's, so `up` itself carries the marker there, and only processes with an
        attempt id (not minorch's own scheduler and fork servers) count.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent

TASK_SH = """\
echo "start $MINORCH_RUN_ID $MINORCH_TASK_ID" >> ledger
sleep "$1"
echo "done $MINORCH_RUN_ID $MINORCH_TASK_ID" >> ledger
"""

TASK_PY = """\
import time
from minorch import DAG, task


def work(run_id, ti, pause):
    with open("ledger", "a") as ledger:
        ledger.write(f"start {run_id} {ti.task_id}\\n")
    time.sleep(pause)
    with open("ledger", "a") as ledger:
        ledger.write(f"done {run_id} {ti.task_id}\\n")


with DAG("fault", max_active_runs=1):
    previous = None
    for number, pause in enumerate(PAUSES):
        made = task(task_id=f"t{number:03d}")(work)(pause=pause)
        if number % 10 and previous is not None:
            previous >> made
        previous = made
"""


class Up:
    """`minorch up --no-ui --log-format json`, with its log lines read in a thread."""

    def __init__(self, root: Path, marker: str | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **({"FAULT": marker} if marker else {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minorch", "up", "--no-ui", "--log-format", "json"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                if json.loads(line).get("event") == "ready":
                    self.ready.set()
            except ValueError:
                pass

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def minorch(root: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "minorch", *args], cwd=root, env=env, check=True, capture_output=True)


def make_project(root: Path, marker: str, dag: str, parallelism: int) -> None:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text(
        f'[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\nparallelism = {parallelism}\ngrace = "0.5s"\n'
    )
    (root / "task.sh").write_text(TASK_SH)
    (root / "dags" / "fault.toml").write_text(
        f'[dags.fault]\nmax_active_runs = 1\nenv = {{ FAULT = "{marker}" }}\n' + dag
    )


def marked(marker: str) -> dict[int, str | None]:
    found = {}
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        attempt_id = env.get("MINORCH_ATTEMPT_ID")
        if env.get("FAULT") == marker and (attempt_id or "-").strip("-"):  # not a scheduler or fork server
            found[proc.pid] = attempt_id
    return found


def query(root: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(root / ".minorch" / "minorch.db", timeout=30)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def unknown(root: Path, marker: str) -> int:
    """Marked processes that no row knows, or whose try was recorded as ended over a second ago."""
    procs = marked(marker)  # first the processes, then the rows: a row is always written before its process
    rows = dict(query(root, "SELECT attempt_id, end_date FROM attempts"))
    now = time.time()
    return sum(1 for aid in procs.values() if aid not in rows or (rows[aid] is not None and rows[aid] < now - 1))


def wait_for(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return False


def finish(root: Path, marker: str, runs: int, leftovers: int, python: bool = False) -> tuple[int, int, int]:
    """Start a last scheduler, let every run finish, stop it; (double runs, leftovers, unfinished)."""
    up = Up(root, marker if python else None)
    up.ready.wait(30)
    leftovers += unknown(root, marker)
    finished = wait_for(
        lambda: query(root, "SELECT count(*) FROM dag_runs WHERE state IN ('success', 'failed')")[0][0] == runs, 300
    )
    up.proc.send_signal(signal.SIGTERM)
    up.proc.wait(60)
    wait_for(lambda: not marked(marker), 2)
    leftovers += len(marked(marker))
    for pid in marked(marker):  # do not leave them to the next round
        psutil.Process(pid).kill()
    done = Counter(line for line in (root / "ledger").read_text().splitlines() if line.startswith("done "))
    doubles = sum(count - 1 for count in done.values())
    unfinished = runs - query(root, "SELECT count(*) FROM dag_runs WHERE state = 'success'")[0][0]
    return doubles, leftovers, unfinished + (not finished)


def burst(root: Path, kills: int, rng: random.Random) -> tuple[int, int, int, int]:
    marker = uuid.uuid4().hex
    tasks = "".join(f'\n[dags.fault.tasks.t{i:02d}]\ncommand = "sh task.sh 0.8"\n' for i in range(40))
    make_project(root, marker, tasks, 40)
    leftovers = 0
    for _ in range(kills):
        minorch(root, "trigger", "fault")
        up = Up(root)
        up.ready.wait(30)
        leftovers += unknown(root, marker)
        wait_for(lambda: query(root, "SELECT count(*) FROM attempts WHERE end_date IS NULL")[0][0] > 0, 30)
        time.sleep(rng.uniform(0, 0.05))
        up.kill()
    return (*finish(root, marker, kills, leftovers), kills)


def random_kills(root: Path, tasks: int, rng: random.Random, python: bool) -> tuple[int, int, int, int]:
    marker = uuid.uuid4().hex
    lines = []
    pauses = [round(rng.uniform(0.05, 0.5), 2) for _ in range(tasks)]
    for i, pause in enumerate(pauses):
        lines.append(f'\n[dags.fault.tasks.t{i:03d}]\ncommand = "sh task.sh {pause:.2f}"\n')
        if i % 10:
            lines.append(f'after = ["t{i - 1:03d}"]\n')
    make_project(root, marker, "".join(lines), 16)
    if python:
        (root / "dags" / "fault.toml").unlink()
        (root / "dags" / "fault.py").write_text(f"PAUSES = {pauses!r}\n" + TASK_PY)
    minorch(root, "trigger", "fault")
    leftovers = kills = 0
    while query(root, "SELECT state FROM dag_runs")[0][0] not in ("success", "failed") and kills < 200:
        up = Up(root, marker if python else None)
        up.ready.wait(30)
        leftovers += unknown(root, marker)
        time.sleep(rng.uniform(0.1, 1.5))
        up.kill()
        kills += 1
    return (*finish(root, marker, 1, leftovers, python), kills)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["burst", "random"])
    parser.add_argument("--kills", type=int, default=50, help="burst: SIGKILLs per round")
    parser.add_argument("--tasks", type=int, default=150, help="random: tasks in the DAG")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--python", action="store_true", help="random: Python @task functions instead of shell tasks")
    args = parser.parse_args()
    total = Counter()
    for number in range(args.rounds):
        rng = random.Random(args.seed + number)
        with tempfile.TemporaryDirectory(prefix="minorch-fault-") as folder:
            started = time.monotonic()
            if args.scenario == "burst":
                doubles, leftovers, unfinished, kills = burst(Path(folder), args.kills, rng)
            else:
                doubles, leftovers, unfinished, kills = random_kills(Path(folder), args.tasks, rng, args.python)
        took = time.monotonic() - started
        total.update(doubles=doubles, leftovers=leftovers, unfinished=unfinished, kills=kills)
        print(
            f"round {number + 1}: {kills} SIGKILLs, double runs {doubles}, leftover processes {leftovers}, "
            f"unfinished runs {unfinished} ({took:.0f} s)",
            flush=True,
        )
    print(
        f"{args.scenario}, {args.rounds} rounds, {total['kills']} SIGKILLs: double runs {total['doubles']}, "
        f"leftover processes {total['leftovers']}, unfinished runs {total['unfinished']} (expected 0, 0, 0)"
    )


if __name__ == "__main__":
    main()
