"""LocalExecutor.recover: tries left by an earlier executor are adopted, recorded as ended, or lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from conftest import run_all, running, wait_until

from minorch.executors.base import Adopted, Ended, Launch, Lost, OpenTry
from minorch.executors.local import LocalExecutor
from minorch.states import RunState

SH = "/bin/sh"


def with_status(tmp_path: Path, attempt_id: str, script: str, **options) -> Launch:
    """A shell try that leaves its exit code in a status file on its way out, as the scheduler's wrapper does."""
    status = tmp_path / f"{attempt_id}.status"
    wrapped = f'trap \'printf "%s" "$?" > {status}\' EXIT; {script}'
    fields = {
        "attempt_id": attempt_id,
        "argv": [SH, "-c", wrapped],
        "env": dict(os.environ),
        "cwd": None,
        "log_path": tmp_path / f"{attempt_id}.log",
        "timeout": None,
        "grace": 0.3,
        "status_path": status,
    }
    fields.update(options)
    return Launch(**fields)


def exec_done(pid: int, attempt_id: str) -> bool:
    try:
        return psutil.Process(pid).environ().get("MINORCH_ATTEMPT_ID") == attempt_id
    except psutil.Error:  # it already ended
        return True


def carries(proc: psutil.Process, attempt_id: str) -> bool:
    try:
        return proc.environ().get("MINORCH_ATTEMPT_ID") == attempt_id
    except psutil.Error:  # gone
        return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def left_running(tmp_path: Path, attempt_id: str, script: str, **options) -> OpenTry:
    """Start a try with one executor and detach it, as a scheduler that stopped would leave it."""
    first = LocalExecutor(fork_server=False)
    launch = with_status(tmp_path, attempt_id, script, **options)
    started = first.start(launch)
    # A restart comes long after the exec; here, wait for it, so the marker is in its environment.
    assert wait_until(lambda: exec_done(started.pid, attempt_id))
    assert first.detach() == 1
    first.close()
    return OpenTry(launch, 0.0, started.pid, started.create_time, None, None)


def test_a_try_that_outlived_its_executor_is_adopted_and_its_exit_code_read(tmp_path):
    open_try = left_running(tmp_path, "a", "sleep 0.4; echo done; exit 3")
    second = LocalExecutor()
    [answer] = second.recover([open_try])
    assert isinstance(answer, Adopted) and answer.running.pid == open_try.pid
    done = run_all(second)["a"]
    assert (done.returncode, done.reason) == (3, "exited with code 3")
    assert (tmp_path / "a.log").read_text() == "done\n"


def test_an_adopted_try_still_times_out_counted_from_its_recorded_start(tmp_path):
    first = left_running(tmp_path, "a", "setsid sleep 1000 & sleep 1000", timeout=1.0)
    tree = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
    open_try = OpenTry(first.launch, 0.8, first.pid, first.create_time, None, None)
    second = LocalExecutor()
    begun = time.monotonic()
    assert isinstance(second.recover([open_try])[0], Adopted)
    done = run_all(second)["a"]
    assert done.timed_out and time.monotonic() - begun < 1.0
    assert running(tree) == []


def test_cancel_reaches_an_adopted_try(tmp_path):
    open_try = left_running(tmp_path, "a", "sleep 1000")
    second = LocalExecutor()
    second.recover([open_try])
    second.cancel("a", "cancelled: the task was cleared")
    done = run_all(second)["a"]
    assert done.cancelled and done.reason == "cancelled: the task was cleared"
    assert not psutil.pid_exists(open_try.pid) or psutil.Process(open_try.pid).status() == psutil.STATUS_ZOMBIE


def test_on_restart_kill_kills_the_surviving_tree_and_calls_the_try_lost(tmp_path):
    open_try = left_running(tmp_path, "a", "setsid sleep 1000 & sleep 1000")
    time.sleep(0.1)
    tree = [psutil.Process(open_try.pid), *psutil.Process(open_try.pid).children(recursive=True)]
    [answer] = LocalExecutor().recover([open_try], adopt=False)
    assert isinstance(answer, Lost) and answer.reason == "interrupted: the scheduler stopped while this try ran"
    assert running(tree) == []


def test_a_try_that_ended_meanwhile_is_ended_with_its_code_and_one_without_a_trace_is_lost(tmp_path):
    ended = left_running(tmp_path, "a", "exit 4")
    killed = left_running(tmp_path, "b", "sleep 1000")
    os.kill(killed.pid, 9)
    assert wait_until(lambda: gone(ended.pid) and gone(killed.pid))
    answers = {a.attempt_id: a for a in LocalExecutor().recover([ended, killed])}
    assert isinstance(answers["a"], Ended) and answers["a"].exit.returncode == 4
    assert isinstance(answers["b"], Lost)


def started_unrecorded(tmp_path: Path, attempt_id: str, script: str) -> tuple[OpenTry, int]:
    """A try whose process (pid returned beside it) started but whose pid the stopped scheduler never recorded."""
    open_try = left_running(tmp_path, attempt_id, script)
    assert open_try.pid is not None
    return OpenTry(open_try.launch, 0.0, None, None, None, None), open_try.pid


def test_a_running_try_whose_pid_was_never_recorded_is_adopted_by_its_attempt_id(tmp_path):
    # The scheduler writes a started try's pid in its next transaction: killed before that, it left none.
    open_try, pid = started_unrecorded(tmp_path, "a", "sleep 0.6 & wait; echo done; exit 5")
    assert wait_until(lambda: psutil.Process(pid).children())  # its child carries the attempt id as well
    second = LocalExecutor()
    [answer] = second.recover([open_try])
    assert isinstance(answer, Adopted) and answer.running.pid == pid  # the leader, not its child
    assert answer.running.create_time == psutil.Process(pid).create_time()
    done = run_all(second)["a"]
    assert (done.returncode, done.reason) == (5, "exited with code 5")
    assert (tmp_path / "a.log").read_text() == "done\n"


def test_a_running_try_whose_pid_was_never_recorded_is_stopped_as_interrupted_when_not_adopting(tmp_path):
    open_try, pid = started_unrecorded(tmp_path, "a", "sleep 1000")
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    [answer] = LocalExecutor().recover([open_try], adopt=False)
    assert isinstance(answer, Lost) and answer.reason == "interrupted: the scheduler stopped while this try ran"
    assert running(tree) == []


def test_an_unrecorded_try_whose_leader_ended_is_ended_and_what_it_left_is_stopped(tmp_path):
    # The leader wrote its status and left a daemon in a session of its own: the daemon is not the try.
    recorded = left_running(tmp_path, "a", "setsid sleep 1000 & exit 0")
    open_try, pid, began = OpenTry(recorded.launch, 0.0, None, None, None, None), recorded.pid, recorded.create_time

    def daemons() -> list[psutil.Process]:
        found = psutil.process_iter(["name", "create_time"])
        later = [p for p in found if p.info["name"] == "sleep" and p.info["create_time"] >= began]
        return [p for p in later if carries(p, "a")]

    assert wait_until(lambda: gone(pid) and daemons())
    [daemon] = daemons()
    assert os.getsid(daemon.pid) == daemon.pid
    [answer] = LocalExecutor().recover([open_try])
    assert isinstance(answer, Ended) and answer.exit.returncode == 0
    assert running([daemon]) == []


def test_a_try_whose_pid_was_never_recorded_and_that_ends_as_it_is_stopped_is_ended_not_run_again(tmp_path):
    # Its work is done when the stop arrives: it finishes and exits 0 (as a try that ended a moment before
    # recovery looked would), so its status file records success and the try must not run a second time.
    open_try, pid = started_unrecorded(tmp_path, "a", "trap 'echo done; exit 0' TERM; sleep 1000 & wait")
    assert wait_until(lambda: psutil.Process(pid).children())  # its traps are set: it started its sleep
    [answer] = LocalExecutor().recover([open_try], adopt=False)
    assert isinstance(answer, Ended) and answer.exit.returncode == 0
    assert (tmp_path / "a.log").read_text() == "done\n"


def test_a_reused_pid_is_not_adopted(tmp_path):
    open_try = left_running(tmp_path, "a", "sleep 1000")
    impostor = OpenTry(open_try.launch, 0.0, open_try.pid, open_try.create_time + 5, None, None)
    ex = LocalExecutor()
    [answer] = ex.recover([impostor])
    assert isinstance(answer, Lost) and ex.running() == 0
    os.kill(open_try.pid, 9)


FIVE_SECONDS = """\
[dags.long]
[dags.long.tasks.work]
command = "echo start >> ledger; sleep 5; echo success >> ledger"
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_restart_of_up_during_a_five_second_task_neither_kills_nor_reruns_it(project, up_processes, survivors, how):
    project.write("dags/long.toml", FIVE_SECONDS)
    assert project.minorch("trigger", "long").returncode == 0
    first = up_processes(project)
    first.wait_for(lambda e: e.get("task_id") == "work" and e.get("state") == "running")
    store = project.store()
    [run] = store.runs("long")
    [attempt] = store.attempts(run.pk)
    assert wait_until(lambda: (project.root / "ledger").exists())
    if how == "SIGTERM":
        assert first.signal(signal.SIGTERM) == 0
        assert any("1 tries keep running; the next minorch up adopts them" in e["message"] for e in first.events)
    else:
        first.kill()
    proc = psutil.Process(store.attempts(run.pk)[0].pid)
    assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE, "the restart must not kill the task"
    second = up_processes(project)
    second.wait_for(lambda e: "adopted try 1" in e.get("message", ""))
    assert wait_until(lambda: store.run(run.pk).state.finished, timeout=15)
    assert second.signal(signal.SIGTERM) == 0
    assert store.run(run.pk).state is RunState.SUCCESS
    assert (project.root / "ledger").read_text().splitlines() == ["start", "success"]
    [recorded] = store.attempts(run.pk)
    assert (recorded.attempt_id, recorded.outcome, recorded.counted) == (attempt.attempt_id, "success", True)
    assert 4.5 <= recorded.end_date - recorded.start_date < 10
    assert survivors([attempt.pid], {attempt.attempt_id}) == []
    store.close()


def test_on_restart_kill_stops_the_task_at_the_stop_and_runs_it_again_uncounted(project, up_processes, survivors):
    project.configure(minorch='on_restart = "kill"')
    project.write("dags/long.toml", FIVE_SECONDS.replace("echo start", "[ -e ledger ] && exit 0; echo start"))
    assert project.minorch("trigger", "long").returncode == 0
    first = up_processes(project)
    first.wait_for(lambda e: e.get("task_id") == "work" and e.get("state") == "running")
    assert wait_until(lambda: (project.root / "ledger").exists())
    first.kill()
    store = project.store()
    [run] = store.runs("long")
    second = up_processes(project)
    assert wait_until(lambda: store.run(run.pk).state.finished, timeout=15)
    assert second.signal(signal.SIGTERM) == 0
    outcomes = [(a.outcome, a.counted) for a in store.attempts(run.pk)]
    assert outcomes == [("interrupted", False), ("success", True)]
    assert (project.root / "ledger").read_text().splitlines() == ["start"]
    assert survivors([], {a.attempt_id for a in store.attempts(run.pk)}) == []
    store.close()
