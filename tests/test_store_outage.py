"""The state file refuses writes while tries run: the scheduler must not end, must start no tries,
must keep supervising the running ones, and must record every try exactly once when the file
can be written again.

Faults are real: another process holds SQLite's write lock; a real 2 MiB tmpfs under the state
folder is filled up (needs root to mount; skipped otherwise).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_until

from minorch.registry import load
from minorch.scheduler import Scheduler
from minorch.store import Store, trouble_kind

PARALLEL = """\
[dags.par]
[dags.par.tasks.first]
command = "sleep 0.3; echo first >> ledger"
{rest}
"""
NEXT = """
[dags.par.tasks.t{index}]
command = "sleep {pause}; echo t{index} >> ledger"
after = ["first"]
"""

LOCKER = """\
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def par_dag(count: int, pause: float) -> str:
    return PARALLEL.format(rest="".join(NEXT.format(index=i, pause=pause) for i in range(count)))


def hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen:
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db_path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout.readline().strip() == "locked"
    return locker


def every_task_recorded_once(store: Store, run_pk: int, tasks: set[str]) -> None:
    attempts = store.attempts(run_pk)
    assert sorted(a.task_id for a in attempts) == sorted(tasks), [(a.task_id, a.outcome) for a in attempts]
    assert {a.outcome for a in attempts} == {"success"}


def test_sqlite_errors_are_sorted_by_what_to_do_about_them(tmp_path):
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database at all" * 100)
    with pytest.raises(Exception) as caught:
        import sqlite3

        sqlite3.connect(damaged).execute("SELECT * FROM sqlite_master").fetchall()
    assert trouble_kind(caught.value) == "corrupt"
    store = Store(tmp_path / "ok.db")
    store.db.execute("PRAGMA busy_timeout = 50")
    locker = hold_write_lock(tmp_path / "ok.db", 2)
    with pytest.raises(Exception) as caught:
        store.set_paused("x", True)
    locker.wait()
    assert trouble_kind(caught.value) == "busy"


def test_a_write_lock_held_past_the_busy_timeout_pauses_tries_and_loses_nothing(project, caplog):
    project.write("dags/par.toml", par_dag(4, 0.5))
    settings = project.settings()
    store = Store(settings.db_path)
    store.db.execute("PRAGMA busy_timeout = 200")  # 30 s in minorch up; the slow test below uses that
    sched = Scheduler(settings, store, registry=load(settings))
    dag = sched.dags["par"]
    pk, _ = sched.create_run(dag, sched.clock.now(), "manual", now=sched.clock.now(), logical=True)
    caplog.set_level(logging.INFO, logger="minorch")
    try:
        sched.run_loop(until=lambda: any(f.task_id.startswith("t") for f in sched.inflight.values()))
        locker = hold_write_lock(settings.db_path, 3.0)  # the t-tasks end while it holds the lock
        began = time.monotonic()
        sched.run_loop(until=lambda: len(sched._ended) == 4 or time.monotonic() - began > 10)
        assert sched.outage.active and len(sched._ended) == 4 and not sched.inflight  # ended, not yet recorded
        assert locker.poll() is None
        assert locker.wait() == 0
        sched.run_loop(until=lambda: store.run(pk).state.finished)
    finally:
        sched.close()
    assert store.run(pk).state.value == "success"
    every_task_recorded_once(store, pk, {"first", "t0", "t1", "t2", "t3"})
    messages = [r.getMessage() for r in caplog.records]
    assert any("it is locked by another process" in m for m in messages), messages
    assert any(m.startswith(f"the state file {settings.db_path} can be written again") for m in messages)
    store.close()


@pytest.mark.slow
def test_up_outlives_a_write_lock_held_for_35_seconds(project, up_processes):
    project.write("dags/par.toml", par_dag(4, 2.0))
    assert project.minorch("trigger", "par").returncode == 0
    up = up_processes(project)
    up.wait_for(lambda e: e.get("task_id") == "t0" and e.get("state") == "running")
    locker = hold_write_lock(project.root / ".minorch" / "minorch.db", 35.0)
    up.wait_for(lambda e: "it is locked by another process" in e.get("message", ""), timeout=40)
    assert locker.wait() == 0 and up.proc.poll() is None
    store = project.store()
    [run] = store.runs("par")
    assert wait_until(lambda: store.run(run.pk).state.finished, timeout=20)
    assert up.signal(signal.SIGTERM) == 0
    assert store.run(run.pk).state.value == "success"
    every_task_recorded_once(store, run.pk, {"first", "t0", "t1", "t2", "t3"})
    store.close()


@pytest.fixture
def small_disk(project):
    """A 2 MiB tmpfs mounted as the project's state folder."""
    folder = project.root / ".minorch"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: nothing left to flush (and fail) at close
        try:
            while True:
                out.write(b"x" * 65536)
        except OSError:
            pass
    return filler


def test_a_full_disk_pauses_tries_keeps_supervising_and_records_everything_once_space_returns(
    project, small_disk, up_processes
):
    project.write("dags/par.toml", par_dag(6, 1.5))
    assert project.minorch("trigger", "par").returncode == 0
    up = up_processes(project)
    up.wait_for(lambda e: e.get("task_id") == "t0" and e.get("state") == "running")
    filler = fill(small_disk)
    up.wait_for(lambda e: "the disk is full" in e.get("message", ""), timeout=15)
    time.sleep(2.0)  # the t-tasks end while nothing can be written
    assert up.proc.poll() is None
    filler.unlink()
    up.wait_for(lambda e: "can be written again" in e.get("message", ""), timeout=15)
    store = project.store()
    [run] = store.runs("par")
    assert wait_until(lambda: store.run(run.pk).state.finished, timeout=20)
    assert up.signal(signal.SIGTERM) == 0
    assert store.run(run.pk).state.value == "success"
    every_task_recorded_once(store, run.pk, {"first", *(f"t{i}" for i in range(6))})
    store.close()
    assert sorted((project.root / "ledger").read_text().split()) == sorted(["first", *(f"t{i}" for i in range(6))])


def test_a_command_too_big_for_a_process_fails_its_try_with_a_reason_not_the_scheduler(project):
    project.write(
        "dags/big.toml",
        """\
        [dags.big]
        [dags.big.tasks.huge]
        command = "echo {{ params.word * 300000 }}"
        params = { word = "xy" }
        [dags.big.tasks.small]
        command = "echo fine"
        """,
    )
    result = project.run("big")
    assert result.run.state.value == "failed"
    assert result.tis["small"].state.value == "success" and result.tis["huge"].state.value == "failed"
    [attempt] = result.attempts["huge"]
    log = Path(attempt.log_path).read_text()
    assert "the rendered command is 600005 bytes, more than 131072" in log and attempt.command is None
