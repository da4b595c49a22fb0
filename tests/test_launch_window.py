"""The launch window: SIGKILL `minorch up` while it starts a burst of 40 tries, restart it, and
every task's work is still done exactly once, with no task process that no state row knows.

Each task appends "start RUN TASK" to a ledger, sleeps, then appends "done RUN TASK". A try
the restarted scheduler finds still running is stopped and run again (two "start" lines), but
a "done" line appears once per task and run: two would mean a try ran that no row recorded.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import Counter

import psutil
from conftest import wait_until

WIDE = """\
[dags.wide]
max_active_runs = 1
env = {{ BURST_TEST = "{marker}" }}
"""
TASK = """
[dags.wide.tasks.t{index:02d}]
command = "sh task.sh {pause}"
"""


TASK_SH = """\
echo "start $MINORCH_RUN_ID $MINORCH_TASK_ID" >> ledger
sleep "$1"
echo "done $MINORCH_RUN_ID $MINORCH_TASK_ID" >> ledger
"""


def wide_dag(marker: str, tasks: int, pause: float) -> str:
    return WIDE.format(marker=marker) + "".join(TASK.format(index=i, pause=pause) for i in range(tasks))


def marked(marker: str) -> dict[int, str | None]:
    """Running processes whose environment carries BURST_TEST=marker: pid -> their MINORCH_ATTEMPT_ID."""
    found = {}
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if env.get("BURST_TEST") == marker:
            found[proc.pid] = env.get("MINORCH_ATTEMPT_ID")
    return found


def unknown_processes(project, marker: str) -> dict[int, str | None]:
    """Marked processes that no attempt row knows, or whose try was recorded as ended over a second ago."""
    procs = marked(marker)  # first the processes, then the rows: a row is always written before its process
    store = project.store()
    try:
        ended = {a.attempt_id: a.end_date for run in store.runs(limit=None) for a in store.attempts(run.pk)}
    finally:
        store.close()
    now = time.time()
    return {
        pid: aid for pid, aid in procs.items() if aid not in ended or (ended[aid] is not None and ended[aid] < now - 1)
    }


def burst_under_way(project) -> bool:
    store = project.store()
    try:
        return any(a.end_date is None for a in store.open_attempts())
    finally:
        store.close()


def test_sigkills_during_launch_bursts_run_nothing_twice_and_leave_no_unknown_process(project, up_processes):
    config = project.root / "minorch.toml"
    config.write_text(config.read_text().replace("parallelism = 4", "parallelism = 40"))
    marker = uuid.uuid4().hex
    project.write("task.sh", TASK_SH)
    project.write("dags/wide.toml", wide_dag(marker, 40, pause=0.8))
    rng = random.Random(11)
    leftovers = []
    for _ in range(4):
        assert project.minorch("trigger", "wide").returncode == 0
        up = up_processes(project)
        up.ready()
        # Every process left by the killed scheduler is stopped before "ready": none is unknown now.
        leftovers += list(unknown_processes(project, marker).items())
        assert wait_until(lambda: burst_under_way(project), timeout=10)
        wait_until(lambda: False, timeout=rng.uniform(0.0, 0.05), every=0.005)
        up.kill()
    final = up_processes(project)
    final.ready()
    leftovers += list(unknown_processes(project, marker).items())
    store = project.store()
    try:
        assert wait_until(lambda: all(r.state.finished for r in store.runs("wide")), timeout=60)
        states = Counter(r.state.value for r in store.runs("wide"))
    finally:
        store.close()
    assert final.signal(signal.SIGTERM) == 0
    lines = (project.root / "ledger").read_text().splitlines()
    done = Counter(line for line in lines if line.startswith("done "))
    assert states == {"success": 4}
    assert len(done) == 4 * 40 and set(done.values()) == {1}, [line for line, n in done.items() if n > 1]
    assert leftovers == []
    assert marked(marker) == {}
