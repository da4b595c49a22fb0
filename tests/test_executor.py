"""Executors with real child processes, real log files and real signals.

The behaviour tests run against both executors (one suite): `LocalExecutor`, and
`DaskExecutor` on a real Dask scheduler with two `minorch worker` processes (conftest's
`dask_cluster`). Tests parametrised with QUICK run on Dask in the default run; those with FULL
only with ``-m dask``. The rest are about the local executor's own mechanics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_all, running, wait_until

from minorch.executors.base import Exit, Launch
from minorch.executors.local import LocalExecutor
from minorch.executors.proctree import boot_ticks, create_time_of, find_leftover, kill_tree, started_at

SH = "/bin/sh"
QUICK = ["local", "dask"]
FULL = ["local", pytest.param("dask", marks=pytest.mark.dask)]


@pytest.fixture
def executor(request):
    """A LocalExecutor, or (parametrised "dask") a DaskExecutor on the session's cluster."""
    if getattr(request, "param", "local") == "local":
        ex = LocalExecutor()
        yield ex
        ex.shutdown(0.1)
        return
    from minorch.executors.dask import DaskExecutor

    cluster = request.getfixturevalue("dask_cluster")
    ex = DaskExecutor(cluster.address, lost_after=5.0)
    yield ex
    ex.shutdown(0.1)
    from distributed import Event

    for name in cluster.names:  # attempt ids repeat between tests: let the next test claim and start them anew
        tries = cluster.folder(name) / "tries"
        for claimed in tries.iterdir() if tries.exists() else ():
            Event(f"minorch-started-{claimed.name}", client=ex.client).clear()
        shutil.rmtree(tries, ignore_errors=True)
    ex.close()


@pytest.fixture
def local():
    ex = LocalExecutor()
    yield ex
    ex.shutdown(0.1)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def shell(logs: Path, attempt_id: str, script: str, **options) -> Launch:
    fields = {
        "attempt_id": attempt_id,
        "argv": [SH, "-c", script],
        "env": dict(os.environ),
        "cwd": None,
        "log_path": logs / f"{attempt_id}.log",
        "timeout": None,
    }
    fields.update(options)
    return Launch(**fields)


def carrying(attempt_id: str, size: int) -> list[psutil.Process]:
    """The processes carrying `attempt_id` as MINORCH_ATTEMPT_ID (on any host of the test), once
    there are `size` of them in two sessions: the try's background `setsid` has then detached."""
    deadline = time.monotonic() + 5.0
    while True:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("MINORCH_ATTEMPT_ID") == attempt_id and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                pass
        if (len(found) >= size and len({os.getsid(p.pid) for p in found}) == 2) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def placed(ex, attempt_id: str) -> None:
    """Wait until a try runs on its host (a Dask try: its worker reported it); a local one does at once."""
    deadline = time.monotonic() + 10.0
    while isinstance(ex, LocalExecutor) is False:
        ex.wait(0.1)
        if any(not isinstance(r, Exit) and r.attempt_id == attempt_id and r.host for r in ex.poll()):
            return
        assert time.monotonic() < deadline, "the try never reached a worker"


def tree_of(pid: int, size: int) -> list[psutil.Process]:
    """The descendants of `pid` once there are `size` of them in two sessions:
    the shell's background `setsid` has then detached (they start quickly)."""
    deadline = time.monotonic() + 2.0
    while True:
        tree = psutil.Process(pid).children(recursive=True)
        sessions = {os.getsid(p.pid) for p in tree}
        if (len(tree) >= size and len(sessions) == 2) or time.monotonic() > deadline:
            return tree
        time.sleep(0.01)


@pytest.mark.parametrize("executor", QUICK, indirect=True)
def test_exit_codes_and_signals_are_reported_with_reasons(executor, logs):
    scripts = {
        "ok": "exit 0",
        "three": "exit 3",
        "missing": "no-such-command-xyz",
        "killed": "kill -9 $$",
        "termed": "kill -TERM $$",
    }
    for name, script in scripts.items():
        executor.start(shell(logs, name, script))
    exits = run_all(executor)
    assert (exits["ok"].returncode, exits["ok"].reason) == (0, "exited with code 0")
    assert (exits["three"].returncode, exits["three"].reason) == (3, "exited with code 3")
    assert exits["missing"].reason == "exited with code 127 (command not found?)"
    assert (exits["killed"].returncode, exits["killed"].signal) == (None, 9)
    assert exits["killed"].reason == "killed by signal 9 (SIGKILL)"
    assert exits["termed"].reason == "killed by signal 15 (SIGTERM)"
    assert not any(e.timed_out or e.cancelled for e in exits.values())


def test_a_missing_command_is_an_exit_127_not_an_exception(local, logs):
    started = local.start(shell(logs, "a", "", argv=["/no/such/program"]))
    assert started.pid == 0 and local.running() == 1
    [done] = local.poll()
    assert done.returncode == 127
    assert done.reason == "could not start: command not found: /no/such/program"
    assert done.reason in (logs / "a.log").read_text()
    assert local.running() == 0


def test_a_log_path_planted_as_a_symlink_fails_the_try_and_leaves_the_target_whole(local, logs, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"keep me\n" * 75_000)  # ~589 KB, over the 4 KB cap below
    logs.mkdir()
    (logs / "a.log").symlink_to(victim)
    local.start(shell(logs, "a", "yes | head -c 100000", log_cap=4096))
    [done] = run_all(local).values()
    assert done.returncode == 126
    assert done.reason == (
        f"its log file {logs / 'a.log'} is a symbolic link; minorch does not write or cut logs through links "
        "(remove the link)"
    )
    assert victim.read_bytes() == b"keep me\n" * 75_000


def test_a_missing_working_directory_is_an_exit_127_with_a_clear_reason(local, logs, tmp_path):
    local.start(shell(logs, "a", "true", cwd=str(tmp_path / "gone")))
    [done] = local.poll()
    assert done.returncode == 127
    assert done.reason == f"could not start: working directory {tmp_path / 'gone'} does not exist"


def test_a_file_that_is_not_executable_is_an_exit_126(local, logs, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")
    local.start(shell(logs, "a", "", argv=[str(script)]))
    [done] = local.poll()
    assert done.returncode == 126 and "is not executable" in done.reason


@pytest.mark.parametrize("executor", FULL, indirect=True)
def test_env_and_cwd_reach_the_child(executor, logs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "GREETING": "hello"}
    executor.start(shell(logs, "a-1", 'echo "$GREETING $MINORCH_ATTEMPT_ID"; pwd', env=env, cwd=str(work)))
    assert run_all(executor)["a-1"].returncode == 0
    assert (logs / "a-1.log").read_text().splitlines() == ["hello a-1", str(work)]


@pytest.mark.parametrize("executor", QUICK, indirect=True)
def test_output_and_errors_land_in_a_private_log_file(executor, tmp_path):
    log = tmp_path / "logs" / "etl" / "run1" / "load" / "1.log"
    executor.start(shell(tmp_path, "a", "echo out; echo err >&2", log_path=log))
    run_all(executor)
    assert log.read_text() == "out\nerr\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for folder in (tmp_path / "logs", log.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.parametrize("executor", QUICK, indirect=True)
def test_a_timeout_kills_the_whole_tree_including_a_setsid_grandchild(executor, logs):
    executor.start(shell(logs, "a", "setsid sleep 1000 & sleep 1000", timeout=1.0, grace=0.5))
    tree = carrying("a", 3)
    assert len({os.getsid(p.pid) for p in tree}) == 2, "one sleep must have left the session"
    done = run_all(executor)["a"]
    assert done.timed_out and not done.cancelled
    assert done.reason == "timed out after 1s and was terminated"
    assert 1.0 <= done.duration < 2.0
    assert running(tree) == []


@pytest.mark.parametrize("executor", FULL, indirect=True)
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(executor, logs):
    executor.start(shell(logs, "a", "trap '' TERM; sleep 1000", timeout=0.2, grace=0.3))
    done = run_all(executor)["a"]
    assert done.signal == 9
    assert done.reason == "timed out after 0.2s and was killed after ignoring SIGTERM for 0.3s"
    assert 0.5 <= done.duration < 1.5


@pytest.mark.parametrize("executor", FULL, indirect=True)
def test_a_detached_grandchild_that_ignores_sigterm_delays_the_exit_until_it_is_killed(executor, logs):
    script = "setsid sh -c \"trap '' TERM; sleep 1000\" & sleep 1000"
    begun = time.monotonic()
    executor.start(shell(logs, "a", script, timeout=1.0, grace=0.3))
    tree = carrying("a", 3)  # 4 when the inner sh does not exec its last command
    done = run_all(executor)["a"]
    assert done.signal == 15 and done.duration < 1.3  # the leader went at once...
    assert time.monotonic() - begun >= 1.3  # ...but the Exit waited for the SIGKILL of the rest
    assert running(tree) == []


def test_timeouts_are_measured_on_the_injected_monotonic_clock(logs):
    clock = [1000.0]
    ex = LocalExecutor(clock_monotonic=lambda: clock[0])
    ex.start(shell(logs, "a", "sleep 1000", timeout=60))
    assert ex.poll() == []
    clock[0] += 61
    done = run_all(ex)["a"]
    assert done.timed_out and done.duration == 61
    assert done.reason == "timed out after 60s and was terminated"


@pytest.mark.parametrize("executor", QUICK, indirect=True)
def test_cancel_terminates_the_attempt_and_says_why(executor, logs):
    executor.start(shell(logs, "a", "sleep 1000"))
    placed(executor, "a")
    executor.cancel("a", "cancelled by the user")
    executor.cancel("no-such-attempt", "ignored")
    done = run_all(executor)["a"]
    assert done.cancelled and not done.timed_out
    assert (done.signal, done.reason) == (15, "cancelled by the user")


def test_shutdown_cancels_everything_and_returns_every_exit(logs):
    ex = LocalExecutor()
    for name in "abc":
        ex.start(shell(logs, name, "sleep 1000"))
    ex.start(shell(logs, "stubborn", "trap '' TERM; sleep 1000"))
    begun = time.monotonic()
    exits = ex.shutdown(0.3)
    assert time.monotonic() - begun < 1.5
    assert sorted(e.attempt_id for e in exits) == ["a", "b", "c", "stubborn"]
    assert all(e.cancelled and e.reason.startswith("cancelled by the scheduler shutting down") for e in exits)
    assert ex.running() == 0


def test_shutdown_gives_up_on_a_child_that_does_not_end_instead_of_hanging(logs):
    clock = [0.0]

    def leaping_clock() -> float:
        clock[0] += 10.0  # every reading is 10 s later, so each deadline passes at once
        return clock[0]

    ex = LocalExecutor(clock_monotonic=leaping_clock)
    ex.start(shell(logs, "a", "trap '' TERM; sleep 1000"))
    [done] = ex.shutdown(1.0)
    assert done.cancelled and done.returncode is None
    assert done.reason.startswith("did not end after SIGKILL")


def test_a_process_not_yet_past_its_exec_is_still_the_attempts(tmp_path):
    """Forked but not yet exec'd, a try's process has its parent's environment, without the attempt id:
    recovery must still know it by its pid and start time, or it would start the try a second time."""
    child = subprocess.Popen(["sleep", "30"], env={k: v for k, v in os.environ.items() if k != "MINORCH_ATTEMPT_ID"})
    try:
        created = psutil.Process(child.pid).create_time()
        assert find_leftover(child.pid, created, "a-1") is not None
        assert find_leftover(child.pid, created + 1.0, "a-1") is None  # another process under that pid
    finally:
        child.kill()
        child.wait()


def test_started_at_names_one_process_run_and_nothing_once_it_ended():
    """What the Dask worker and its supervisors recognise each other by: the same reading for the same
    process, a different one for another process, and none for a zombie or a process that is gone."""
    first = subprocess.Popen(["sleep", "30"])
    second = subprocess.Popen(["sh", "-c", "sleep 0.05; exit 0"])
    try:
        reading = started_at(first.pid)
        assert reading is not None and started_at(first.pid) == reading
        time.sleep(0.02)  # at least two clock ticks apart: a later process reads later
        third = subprocess.Popen(["sleep", "30"])
        assert started_at(third.pid) not in (None, reading)
        third.kill()
        third.wait()
        assert wait_until(lambda: psutil.Process(second.pid).status() == psutil.STATUS_ZOMBIE, timeout=5)
        assert started_at(second.pid) is None  # ended, not yet reaped
        second.wait()
        assert started_at(second.pid) is None
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("executor", ["dask"], indirect=True)
def test_a_supervisor_killed_on_its_host_gives_a_lost_try_and_its_tree_is_stopped(executor, logs, dask_cluster):
    executor.start(shell(logs, "sv", "sleep 1000"))
    placed(executor, "sv")
    [folder] = [
        dask_cluster.folder(n) / "tries" / "sv"
        for n in dask_cluster.names
        if (dask_cluster.folder(n) / "tries" / "sv").exists()
    ]
    assert wait_until(lambda: (folder / "supervisor.json").exists(), timeout=5)
    named = json.loads((folder / "supervisor.json").read_text())
    try_process = psutil.Process(named["child"])
    os.kill(named["pid"], signal.SIGKILL)
    done = run_all(executor, limit=10.0)["sv"]
    assert done.lost and done.returncode is None
    assert done.reason == f"lost: its supervisor on {folder.parent.parent.name} died"
    assert wait_until(lambda: not running([try_process]), timeout=5)


class WatchingWorker:
    """What a Dask worker's watch of a try (`dask_worker._watch`) uses of the worker: its name and
    address, and a log_event that drops the try's start and log events."""

    name, address = "host0", "tcp://127.0.0.1:1"

    def log_event(self, topic, msg):
        pass


def test_a_supervisor_slow_to_write_its_pid_file_is_waited_for_while_it_runs(tmp_path):
    """On a busy host the supervisor a worker forked may take seconds to write supervisor.json; while it
    runs, the watch waits (calling it dead would report the try lost and run it again beside itself).
    Once it is gone without a word, the try is lost."""
    from minorch.executors.dask_worker import _watch

    folder = tmp_path / "tries" / "a-1"
    folder.mkdir(parents=True)
    os.utime(folder, (time.time() - 120, time.time() - 120))  # claimed long ago, as the folder's mtime goes
    slow = subprocess.Popen(["sleep", "30"])
    timer = threading.Timer(0.5, lambda: (folder / "exit.json").write_text(json.dumps({"returncode": 0})))
    timer.start()
    try:
        end = _watch(folder, "a-1", WatchingWorker(), 0.1, started=slow.pid)
    finally:
        timer.join()
        slow.kill()
        slow.wait()
    assert end["exit"] == {"returncode": 0}
    (folder / "exit.json").unlink()
    assert _watch(folder, "a-1", WatchingWorker(), 0.1, started=slow.pid)["lost"] == "its supervisor on host0 died"


def test_a_pid_file_written_between_two_looks_is_not_taken_for_a_dead_supervisor(tmp_path, monkeypatch):
    """A worker watches the try it just claimed while its new supervisor starts it and writes
    supervisor.json. Once, the watch read the file before it was written (no supervisor named), then
    again after (a supervisor named): it took the supervisor for dead, SIGTERMed the try 2 ms into its
    run and reported it lost, and minorch ran it again. A real supervisor here; the first reading is
    made to miss the file, as it did when the file came between the two."""
    from minorch.executors import supervisor
    from minorch.executors.dask_worker import _prepare, _watch

    folder = tmp_path / "tries" / "a-1"
    folder.mkdir(parents=True)
    ledger = tmp_path / "ledger"
    command = f"echo start >> {ledger}; sleep 0.5; echo done >> {ledger}"
    payload = {"argv": ["/bin/sh", "-c", command], "env": {}, "cwd": str(tmp_path), "timeout": None, "grace": 1.0}
    _prepare(folder, {**payload, "log_cap": 2**20, "lost_after": 30.0, "spec": None, "secrets": None})
    supervisor.mark_worker(tmp_path)  # a worker serves this root: the supervisor runs the try to its end
    zygote = supervisor.Zygote()  # what forks a worker's supervisors (this process has threads: no fork here)
    try:
        pid = zygote.spawn(folder)
    finally:
        zygote.close()
    assert wait_until(lambda: (folder / "supervisor.json").exists(), timeout=10)
    read = supervisor.read_json
    missed = []

    def read_late(path: Path) -> dict | None:
        if path.name == "supervisor.json" and not missed:
            missed.append(path)
            return None
        return read(path)

    monkeypatch.setattr(supervisor, "read_json", read_late)
    end = _watch(folder, "a-1", WatchingWorker(), 0.1, started=pid)
    assert missed and "lost" not in end, end
    assert end["exit"]["returncode"] == 0 and ledger.read_text() == "start\ndone\n"


def test_a_supervisor_that_died_of_an_error_is_reported_with_its_last_words(tmp_path):
    from minorch.executors.dask_worker import _died

    assert _died(tmp_path, "host0") == "its supervisor on host0 died"
    (tmp_path / "supervisor.err").write_text(
        "Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on device\n\n"
    )
    assert _died(tmp_path, "host0") == (
        "its supervisor on host0 died (OSError: [Errno 28] No space left on device; "
        f"more in {tmp_path / 'supervisor.err'})"
    )


@pytest.mark.parametrize("executor", FULL, indirect=True)
def test_a_huge_writer_finishes_with_its_log_near_the_cap(executor, logs):
    cap = 2**20
    # 300 MB, 300 times the cap: the log is cut many times over at the checks' 10 ms floor (1 GB went
    # over the 10 s limit once, with four suites sharing two cores)
    executor.start(shell(logs, "a", "yes | head -c 300000000", log_cap=cap))
    done = run_all(executor, limit=10.0)["a"]
    assert done.returncode == 0
    log = (logs / "a.log").read_bytes()
    assert cap // 2 < len(log) <= cap + 100
    assert log.startswith(b"y\ny\n")
    assert f"[minorch: log truncated at {cap // 2} bytes]".encode() in log


def test_find_leftover_identifies_a_live_attempt_and_rejects_impostors(local, logs):
    started = local.start(shell(logs, "a-7", "sleep 1000"))
    assert started.create_time == psutil.Process(started.pid).create_time()
    deadline = time.monotonic() + 5.0  # past its exec, the child carries its attempt id
    while psutil.Process(started.pid).environ().get("MINORCH_ATTEMPT_ID") != "a-7" and time.monotonic() < deadline:
        time.sleep(0.01)
    found = find_leftover(started.pid, started.create_time, "a-7")
    assert found is not None and found.pid == started.pid
    assert find_leftover(started.pid, started.create_time + 1.0, "a-7") is None
    assert find_leftover(started.pid, started.create_time, "a-8") is None
    local.cancel("a-7", "done")
    run_all(local)
    assert find_leftover(started.pid, started.create_time, "a-7") is None


def test_a_start_time_read_from_proc_is_the_one_psutil_gives():
    """A spawn that spans a clock tick reads the child's start tick itself; a restarted scheduler
    recognises the process by psutil's create_time, so both must be the same number."""
    child = subprocess.Popen(["sleep", "5"])
    try:
        now = boot_ticks()
        assert now is not None
        assert create_time_of(child.pid, now - 5, now) == psutil.Process(child.pid).create_time()
    finally:
        child.kill()
        child.wait()


def test_kill_tree_ends_a_tree_this_process_did_not_launch_through_the_executor():
    leader = subprocess.Popen([SH, "-c", "setsid sleep 1000 & sleep 1000"], start_new_session=True)
    tree = [psutil.Process(leader.pid), *tree_of(leader.pid, 2)]
    kill_tree(leader.pid, grace=0.5)
    leader.wait(timeout=1.0)
    assert running(tree) == []


def test_peak_rss_and_cpu_time_are_plausible(local, logs):
    local.start(shell(logs, "a", "", argv=[sys.executable, "-c", "x = bytearray(50_000_000)"]))
    done = run_all(local)["a"]
    assert done.returncode == 0
    assert done.peak_rss is not None and done.peak_rss > 50_000_000
    assert done.cpu_time is not None and 0 < done.cpu_time < 5


def test_two_hundred_quick_children_in_parallel_are_each_reported_once(local, logs):
    starts = [local.start(shell(logs, f"t{i}", "", argv=["true"])) for i in range(200)]
    assert local.running() == 200
    # Not reaped yet, so each is at least a zombie that psutil can still date.
    assert all(s.create_time == psutil.Process(s.pid).create_time() for s in starts)
    exits = run_all(local, limit=10.0)
    assert sorted(exits) == sorted(f"t{i}" for i in range(200))
    assert all(e.returncode == 0 for e in exits.values())


def test_an_idle_executor_sleeps_in_wait_instead_of_spinning():
    ex = LocalExecutor()
    wall, cpu = time.monotonic(), time.process_time()
    ex.wait(0.3)
    assert time.monotonic() - wall >= 0.29
    assert time.process_time() - cpu < 0.05


def test_wait_wakes_up_when_a_child_exits_not_on_a_polling_tick(local, logs):
    stamp = logs / "exited"
    begun = time.monotonic()  # before the start: the child's sleep may begin before `start` returns
    local.start(shell(logs, "a", f"sleep 0.2; date +%s.%N > {stamp}"))
    wakeups, exits = 0, []
    while not exits:
        local.wait(5.0)
        wakeups += 1
        exits = local.poll()
    woke = time.time()
    assert time.monotonic() - begun >= 0.2
    # Woken by the exit itself: the next check after the first is 0.55 s after the start, 0.35 s after
    # the exit. Measured from the child's own exit, so a busy machine that delays both does not matter.
    assert woke - float(stamp.read_text()) < 0.25
    assert wakeups <= 3  # the first log check at 0.05 s, maybe one more, then the exit


def test_a_readable_wakeup_fd_ends_wait(local):
    read_end, write_end = os.pipe()
    local.add_wakeup_fd(read_end)
    os.write(write_end, b"x")
    begun = time.monotonic()
    local.wait(5.0)
    assert time.monotonic() - begun < 0.1
    local.remove_wakeup_fd(read_end)
    os.close(read_end)
    os.close(write_end)
