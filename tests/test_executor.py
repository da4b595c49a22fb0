"""LocalExecutor with real child processes, real log files and real signals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_all, running

from minorch.executors.local import Launch, LocalExecutor
from minorch.executors.proctree import find_leftover, kill_tree

SH = "/bin/sh"


@pytest.fixture
def executor():
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


def test_a_missing_command_is_an_exit_127_not_an_exception(executor, logs):
    started = executor.start(shell(logs, "a", "", argv=["/no/such/program"]))
    assert started.pid == 0 and executor.running() == 1
    [done] = executor.poll()
    assert done.returncode == 127
    assert done.reason == "could not start: command not found: /no/such/program"
    assert done.reason in (logs / "a.log").read_text()
    assert executor.running() == 0


def test_a_log_path_planted_as_a_symlink_fails_the_try_and_leaves_the_target_whole(executor, logs, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"keep me\n" * 75_000)  # ~589 KB, over the 4 KB cap below
    logs.mkdir()
    (logs / "a.log").symlink_to(victim)
    executor.start(shell(logs, "a", "yes | head -c 100000", log_cap=4096))
    [done] = run_all(executor).values()
    assert done.returncode == 126
    assert done.reason == (
        f"its log file {logs / 'a.log'} is a symbolic link; minorch does not write or cut logs through links "
        "(remove the link)"
    )
    assert victim.read_bytes() == b"keep me\n" * 75_000


def test_a_missing_working_directory_is_an_exit_127_with_a_clear_reason(executor, logs, tmp_path):
    executor.start(shell(logs, "a", "true", cwd=str(tmp_path / "gone")))
    [done] = executor.poll()
    assert done.returncode == 127
    assert done.reason == f"could not start: working directory {tmp_path / 'gone'} does not exist"


def test_a_file_that_is_not_executable_is_an_exit_126(executor, logs, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")
    executor.start(shell(logs, "a", "", argv=[str(script)]))
    [done] = executor.poll()
    assert done.returncode == 126 and "is not executable" in done.reason


def test_env_and_cwd_reach_the_child(executor, logs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "GREETING": "hello"}
    executor.start(shell(logs, "a-1", 'echo "$GREETING $MINORCH_ATTEMPT_ID"; pwd', env=env, cwd=str(work)))
    assert run_all(executor)["a-1"].returncode == 0
    assert (logs / "a-1.log").read_text().splitlines() == ["hello a-1", str(work)]


def test_output_and_errors_land_in_a_private_log_file(executor, tmp_path):
    log = tmp_path / "logs" / "etl" / "run1" / "load" / "1.log"
    executor.start(shell(tmp_path, "a", "echo out; echo err >&2", log_path=log))
    run_all(executor)
    assert log.read_text() == "out\nerr\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for folder in (tmp_path / "logs", log.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_timeout_kills_the_whole_tree_including_a_setsid_grandchild(executor, logs):
    started = executor.start(shell(logs, "a", "setsid sleep 1000 & sleep 1000", timeout=0.5, grace=0.5))
    tree = tree_of(started.pid, 2)
    assert len({os.getsid(p.pid) for p in tree}) == 2, "one sleep must have left the session"
    done = run_all(executor)["a"]
    assert done.timed_out and not done.cancelled
    assert done.reason == "timed out after 0.5s and was terminated"
    assert 0.5 <= done.duration < 1.5
    assert running(tree) == []


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(executor, logs):
    executor.start(shell(logs, "a", "trap '' TERM; sleep 1000", timeout=0.2, grace=0.3))
    done = run_all(executor)["a"]
    assert done.signal == 9
    assert done.reason == "timed out after 0.2s and was killed after ignoring SIGTERM for 0.3s"
    assert 0.5 <= done.duration < 1.5


def test_a_detached_grandchild_that_ignores_sigterm_delays_the_exit_until_it_is_killed(executor, logs):
    script = "setsid sh -c \"trap '' TERM; sleep 1000\" & sleep 1000"
    begun = time.monotonic()
    started = executor.start(shell(logs, "a", script, timeout=0.2, grace=0.3))
    tree = tree_of(started.pid, 3)
    done = run_all(executor)["a"]
    assert done.signal == 15 and done.duration < 0.5  # the leader went at once...
    assert time.monotonic() - begun >= 0.5  # ...but the Exit waited for the SIGKILL of the rest
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


def test_cancel_terminates_the_attempt_and_says_why(executor, logs):
    executor.start(shell(logs, "a", "sleep 1000"))
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


def test_a_huge_writer_finishes_with_its_log_near_the_cap(executor, logs):
    cap = 2**20
    executor.start(shell(logs, "a", "yes | head -c 1000000000", log_cap=cap))
    done = run_all(executor, limit=10.0)["a"]
    assert done.returncode == 0
    log = (logs / "a.log").read_bytes()
    assert cap // 2 < len(log) <= cap + 100
    assert log.startswith(b"y\ny\n")
    assert f"[minorch: log truncated at {cap // 2} bytes]".encode() in log


def test_find_leftover_identifies_a_live_attempt_and_rejects_impostors(executor, logs):
    started = executor.start(shell(logs, "a-7", "sleep 1000"))
    assert started.create_time == psutil.Process(started.pid).create_time()
    found = find_leftover(started.pid, started.create_time, "a-7")
    assert found is not None and found.pid == started.pid
    assert find_leftover(started.pid, started.create_time + 1.0, "a-7") is None
    assert find_leftover(started.pid, started.create_time, "a-8") is None
    executor.cancel("a-7", "done")
    run_all(executor)
    assert find_leftover(started.pid, started.create_time, "a-7") is None


def test_kill_tree_ends_a_tree_this_process_did_not_launch_through_the_executor():
    leader = subprocess.Popen([SH, "-c", "setsid sleep 1000 & sleep 1000"], start_new_session=True)
    tree = [psutil.Process(leader.pid), *tree_of(leader.pid, 2)]
    kill_tree(leader.pid, grace=0.5)
    leader.wait(timeout=1.0)
    assert running(tree) == []


def test_peak_rss_and_cpu_time_are_plausible(executor, logs):
    executor.start(shell(logs, "a", "", argv=[sys.executable, "-c", "x = bytearray(50_000_000)"]))
    done = run_all(executor)["a"]
    assert done.returncode == 0
    assert done.peak_rss is not None and done.peak_rss > 50_000_000
    assert done.cpu_time is not None and 0 < done.cpu_time < 5


def test_two_hundred_quick_children_in_parallel_are_each_reported_once(executor, logs):
    starts = [executor.start(shell(logs, f"t{i}", "", argv=["true"])) for i in range(200)]
    assert executor.running() == 200
    # Not reaped yet, so each is at least a zombie that psutil can still date.
    assert all(s.create_time == psutil.Process(s.pid).create_time() for s in starts)
    exits = run_all(executor, limit=10.0)
    assert sorted(exits) == sorted(f"t{i}" for i in range(200))
    assert all(e.returncode == 0 for e in exits.values())


def test_an_idle_executor_sleeps_in_wait_instead_of_spinning():
    ex = LocalExecutor()
    wall, cpu = time.monotonic(), time.process_time()
    ex.wait(0.3)
    assert time.monotonic() - wall >= 0.29
    assert time.process_time() - cpu < 0.05


def test_wait_wakes_up_when_a_child_exits_not_on_a_polling_tick(executor, logs):
    executor.start(shell(logs, "a", "sleep 0.2"))
    begun = time.monotonic()
    wakeups, exits = 0, []
    while not exits:
        executor.wait(5.0)
        wakeups += 1
        exits = executor.poll()
    assert 0.2 <= time.monotonic() - begun < 0.5  # the next check after the first is at 0.55 s
    assert wakeups <= 3  # the first log check at 0.05 s, maybe one more, then the exit


def test_a_readable_wakeup_fd_ends_wait(executor):
    read_end, write_end = os.pipe()
    executor.add_wakeup_fd(read_end)
    os.write(write_end, b"x")
    begun = time.monotonic()
    executor.wait(5.0)
    assert time.monotonic() - begun < 0.1
    executor.remove_wakeup_fd(read_end)
    os.close(read_end)
    os.close(write_end)
