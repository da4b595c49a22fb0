"""Start-up with a big backlog: how soon `minorch up` is ready with 100k queued runs.

Run: `python bench/bench_recovery.py [--runs 100000] [--starts 3]`. Prints a markdown table;
results go in bench/RESULTS.md.

The state file holds --runs queued runs of a 3-task DAG (max_active_runs = 1) plus one running
run with two tries left open by a scheduler that died (one recorded but never started, one whose
task instance says running with no try at all). Each start uses a fresh copy of that file:

(a) ready: `ready_ms` of the "scheduler ready" log line (exec to ready, crash recovery included)
    goal < 2 s
(b) stop: SIGTERM sent at "ready" to the process's exit (the first scheduling step runs then)
(c) peak RSS of the process (VmHWM) just before it exits
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from minorch.states import RunState, TaskState  # noqa: E402
from minorch.store import Attempt, Store  # noqa: E402

DAG = """\
[dags.backlog]
max_active_runs = 1
[dags.backlog.tasks.a]
command = "true"
[dags.backlog.tasks.b]
command = "true"
after = ["a"]
[dags.backlog.tasks.c]
command = "true"
after = ["b"]
"""


def make_state(root: Path, runs: int) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text('[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\ngrace = "1s"\n')
    (root / "dags" / "backlog.toml").write_text(DAG)
    store = Store(root / ".minorch" / "minorch.db")
    base = 1_700_000_000
    with store.write():
        for i in range(runs):
            day = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(base + 60 * i))
            store.create_run("backlog", f"manual__{day}", "manual", day, day, day, ["a", "b", "c"], now=base)
    first = store.active_runs()[0]
    now = time.time()
    store.set_run_state(first.pk, RunState.RUNNING, [RunState.QUEUED], now=now)
    store.set_task_state(first.pk, "a", TaskState.RUNNING, [TaskState.NONE], try_number=1, start_date=now)
    store.set_task_state(first.pk, "b", TaskState.RUNNING, [TaskState.NONE], try_number=1, start_date=now)
    never = Attempt("f" * 32, first.pk, "a", -1, 1, None, None, now, *[None] * 4, False, True, *[None] * 6)
    store.start_attempt(never)
    store.close()
    return root / ".minorch" / "minorch.db"


def start_once(root: Path) -> tuple[float, float, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minorch", "up", "--no-ui", "--log-format", "json"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready = threading.Event()
    ready_ms: list[int] = []

    def read() -> None:
        for line in proc.stdout:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "ready":
                ready_ms.append(entry["ready_ms"])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(600):
        proc.kill()
        raise SystemExit("not ready after 600 s")
    asked = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        except OSError:
            pass
        time.sleep(0.02)
    return ready_ms[0] / 1000, time.monotonic() - asked, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="minorch-recovery-") as folder:
        made = time.monotonic()
        template = make_state(Path(folder) / "template", args.runs)
        print(f"state file with {args.runs} queued runs written in {time.monotonic() - made:.1f} s", file=sys.stderr)
        results = []
        for number in range(args.starts):
            root = Path(folder) / f"start{number}"
            shutil.copytree(template.parent.parent, root)
            results.append(start_once(root))
            shutil.rmtree(root)
    ready = [r[0] for r in results]
    stop = [r[1] for r in results]
    peak = [r[2] for r in results]
    print("| queued runs | ready (exec to ready) | stop (SIGTERM at ready to exit) | peak RSS |\n|---|---|---|---|")
    print(
        f"| {args.runs:,} | median {statistics.median(ready):.2f} s, max {max(ready):.2f} s | "
        f"median {statistics.median(stop):.2f} s, max {max(stop):.2f} s | "
        f"{max(peak) / 2**20:.0f} MiB (n = {args.starts}) |"
    )


if __name__ == "__main__":
    main()
