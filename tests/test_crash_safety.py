"""Crash safety: SIGKILL `minorch up` at many points of a run, restart it, and the run still
finishes with every task succeeding exactly once, no task process left behind, and no
crash held against a task's retries.

The DAG is a chain of twelve shell tasks; each appends "start TASK TRY" and, when done,
"success TASK TRY" to a ledger file. A first try of a task the test kills sleeps 8 s, so
it is still running when the restarted scheduler recovers it (a try that ends during recovery
is recorded as it ended, not as interrupted); a try that sees its own
earlier start line (a re-run) is quick.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable

from conftest import Up, try_row, wait_until

from minorch.records import from_iso
from minorch.states import RunState, TaskState
from minorch.store import Attempt

TASK_SH = """\
# sh task.sh FIRST_PAUSE [fail-first|ignore-term|grandchild]
T=$MINORCH_TASK_ID N=$MINORCH_TRY_NUMBER pause=$1
grep -q "^start $T " ledger 2>/dev/null && pause=0.05
echo "start $T $N" >> ledger
case "$2" in
  fail-first) if [ "$N" = 1 ]; then echo "fail $T $N" >> ledger; exit 1; fi ;;
  ignore-term) trap '' TERM ;;
  grandchild) setsid sleep 60 & grandchild=$! ;;
esac
sleep "$pause"
if [ -n "$grandchild" ]; then kill "$grandchild"; fi
echo "success $T $N" >> ledger
"""

# task id -> its command's arguments; the chain runs them in this order
TASKS = {
    "t01": "8",
    "t02": "8",
    "t03": "8",
    "t04": "8",
    "t05": "8",
    "t06": "0.05 fail-first",
    "t07": "8",
    "t08": "8 ignore-term",
    "t09": "0.05",
    "t10": "8 grandchild",
    "t11": "0.05",
    "t12": "8",
}


def chain_dag(marker: str) -> str:
    lines = ["[dags.chain]", f'env = {{ CRASH_TEST = "{marker}" }}', ""]
    previous = None
    for task_id, args in TASKS.items():
        lines += [f"[dags.chain.tasks.{task_id}]", f'command = "sh task.sh {args}"']
        if previous:
            lines.append(f'after = ["{previous}"]')
        if task_id == "t06":
            lines += ["retries = 1", 'retry_delay = "2s"']
        lines.append("")
        previous = task_id
    return "\n".join(lines)


class Chain:
    """The project with the chain DAG, one queued run of it, and views of its state."""

    def __init__(self, project) -> None:
        self.project = project
        self.marker = uuid.uuid4().hex
        project.write("task.sh", TASK_SH)
        project.write("dags/chain.toml", chain_dag(self.marker))
        done = project.minorch("trigger", "chain")
        assert done.returncode == 0, done.stderr
        self.store = project.store()
        [self.run] = self.store.runs("chain")
        self.ledger = project.root / "ledger"

    def lines(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []

    def open_try(self, task_id: str, for_at_least: float = 0.0) -> Attempt | None:
        """The task's try that runs now (started, not ended), once it has run `for_at_least` seconds
        and its process wrote its start line."""
        for attempt in self.store.attempts(self.run.pk, task_id):
            if (
                attempt.end_date is None
                and attempt.pid
                and time.time() - attempt.start_date >= for_at_least
                and any(line.startswith(f"start {task_id} ") for line in self.lines())
            ):
                return attempt
        return None

    def state(self, task_id: str) -> TaskState:
        return self.store.task_instances([self.run.pk])[self.run.pk][task_id].state


def test_a_run_survives_thirteen_sigkills_of_its_scheduler(project, up_processes, survivors):
    project.configure(minorch='on_restart = "kill"')  # tries running at a restart are stopped and run again
    chain = Chain(project)
    kill_points: list[tuple[str, Callable[[Up], object]]] = [
        ("during start-up", lambda up: time.sleep(0.05) or True),
        ("mid t01", lambda up: wait_until(lambda: chain.open_try("t01", 0.2))),
        ("during start-up, a try left running", lambda up: time.sleep(0.05) or True),
        ("mid t02", lambda up: wait_until(lambda: chain.open_try("t02", 0.1))),
        ("late in t03", lambda up: wait_until(lambda: chain.open_try("t03", 0.5))),
        ("right after t04 started", lambda up: wait_until(lambda: chain.open_try("t04"))),
        ("mid t05", lambda up: wait_until(lambda: chain.open_try("t05", 0.2))),
        ("t06 waiting to retry", lambda up: wait_until(lambda: chain.state("t06") is TaskState.UP_FOR_RETRY)),
        (
            "right after ready, t06 still waiting",
            lambda up: wait_until(lambda: any(e.get("event") == "ready" for e in up.events)),
        ),
        ("mid t07", lambda up: wait_until(lambda: chain.open_try("t07", 0.2))),
        ("mid t08, which ignores SIGTERM", lambda up: wait_until(lambda: chain.open_try("t08", 0.2))),
        ("mid t10, whose grandchild left its session", lambda up: wait_until(lambda: chain.open_try("t10", 0.2))),
        ("mid t12, the last task", lambda up: wait_until(lambda: chain.open_try("t12", 0.2))),
    ]
    for label, reached in kill_points:
        up = up_processes(project, fresh=True)  # "during start-up" needs a real interpreter's start
        assert reached(up), f"never reached: {label}; log: {[e.get('message') for e in up.events]}"
        up.kill()

    final = up_processes(project)
    assert wait_until(lambda: chain.store.run(chain.run.pk).state.finished, timeout=20), chain.lines()
    final.proc.send_signal(signal.SIGTERM)
    assert final.proc.wait(10) == 0

    assert chain.store.run(chain.run.pk).state is RunState.SUCCESS
    successes = Counter(line.split()[1] for line in chain.lines() if line.startswith("success "))
    assert successes == Counter(dict.fromkeys(TASKS, 1))
    assert [line for line in chain.lines() if line.startswith("fail ")] == ["fail t06 1"]

    attempts = chain.store.attempts(chain.run.pk)
    interrupted = [a for a in attempts if a.outcome == "interrupted"]
    assert sorted(a.task_id for a in interrupted) == ["t01", "t02", "t03", "t04", "t05", "t07", "t08", "t10", "t12"]
    assert not any(a.counted for a in interrupted)
    assert [(a.task_id, a.outcome) for a in attempts if a.counted and a.outcome != "success"] == [("t06", "failed")]
    assert survivors([a.pid for a in attempts if a.pid], {a.attempt_id for a in attempts}) == []
    chain.store.close()


ONE_TASK = """\
[dags.once]
[dags.once.tasks.work]
command = "echo start >> ledger; sleep {pause}; echo success >> ledger"
"""


def queued_run(project, pause: float):
    project.write("dags/once.toml", ONE_TASK.format(pause=pause))
    assert project.minorch("trigger", "once").returncode == 0
    store = project.store()
    [run] = store.runs("once")
    return store, run


def ledger(project) -> list[str]:
    path = project.root / "ledger"
    return path.read_text().splitlines() if path.exists() else []


def test_a_try_that_succeeded_while_no_scheduler_ran_is_not_run_again(project, up_processes):
    store, run = queued_run(project, pause=1.0)
    first = up_processes(project)
    # The row is written before the process starts: wait for the process itself.
    assert wait_until(lambda: "start" in ledger(project))
    first.kill()
    assert [a.end_date for a in store.attempts(run.pk)] == [None]  # killed while the try ran
    assert wait_until(lambda: "success" in ledger(project), timeout=5)
    time.sleep(3.0)  # the try ended; no scheduler runs for a while
    second = up_processes(project)
    finished = wait_until(lambda: store.run(run.pk).state.finished, timeout=5)
    second.kill()
    [attempt] = store.attempts(run.pk)
    store.close()
    assert finished and ledger(project).count("success") == 1
    # Its real duration (the exit status file's mtime), not the time until a scheduler looked again. A file's
    # mtime comes from the kernel's coarse clock, up to a tick (4 ms) behind: 0.9997 s was seen for `sleep 1.0`.
    assert attempt.outcome == "success" and 0.99 <= attempt.duration < 2.5
    assert attempt.end_date - attempt.start_date == attempt.duration


def test_a_try_recorded_but_never_started_is_run_again_uncounted(project, up_processes):
    store, run = queued_run(project, pause=0)
    now = time.time()
    assert store.set_run_state(run.pk, RunState.RUNNING, [RunState.QUEUED], now=now)
    assert store.set_task_state(run.pk, "work", TaskState.RUNNING, [TaskState.NONE], try_number=1, start_date=now)
    never = try_row(uuid.uuid4().hex, run.pk, "work", now)
    store.start_attempt(never)  # what a scheduler killed between recording the try and starting it leaves
    up = up_processes(project)
    finished = wait_until(lambda: store.run(run.pk).state.finished, timeout=5)
    up.kill()
    attempts = store.attempts(run.pk)
    state = store.run(run.pk).state
    store.close()
    assert finished and state is RunState.SUCCESS and ledger(project) == ["start", "success"]
    assert [(a.try_number, a.outcome, a.counted) for a in attempts] == [(1, "interrupted", False), (1, "success", True)]
    assert attempts[0].reason.startswith("never started: the scheduler stopped between recording this try and")


def test_recovery_stops_processes_of_this_state_folder_that_no_row_knows_and_no_others(project, up_processes):
    from minorch.scheduler import attempt_tag

    tag = attempt_tag(project.root / ".minorch")
    other = "0" * 8 if tag != "0" * 8 else "1" * 8  # another state folder's tries
    env = {**project.env(), "BURST": "1"}
    ours = subprocess.Popen(["sleep", "60"], env={**env, "MINORCH_ATTEMPT_ID": tag + "f" * 24}, start_new_session=True)
    theirs = subprocess.Popen(["sleep", "60"], env={**env, "MINORCH_ATTEMPT_ID": other + "f" * 24})
    try:
        up = up_processes(project)
        up.ready()
        assert ours.wait(timeout=1) == -signal.SIGTERM
        assert theirs.poll() is None
        assert any(e["message"] == "stopping 1 processes of tries that no state row knows" for e in up.events)
        up.kill()
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


def _crash_state(store, run, *, recorded_try: str | None) -> None:
    """The state a scheduler leaves when killed inside `launch` (recorded_try None: the task
    instance says running, no attempt row yet) or inside `handle_exits` (the attempt row says
    how the try ended, the task instance still says running)."""
    now = time.time()
    assert store.set_run_state(run.pk, RunState.RUNNING, [RunState.QUEUED], now=now)
    assert store.set_task_state(run.pk, "work", TaskState.RUNNING, [TaskState.NONE], try_number=1, start_date=now)
    if recorded_try is not None:
        attempt_id = uuid.uuid4().hex
        store.start_attempt(try_row(attempt_id, run.pk, "work", now))
        store.finish_attempt(
            attempt_id,
            end_date=now + 0.3,
            duration=0.3,
            exit_code=0,
            signal=None,
            timed_out=False,
            outcome=recorded_try,
            reason="exited with code 0",
        )


def test_a_crash_between_recording_a_try_and_its_task_state_does_not_stall_the_run(project, up_processes):
    store, run = queued_run(project, pause=0)
    _crash_state(store, run, recorded_try="success")
    up = up_processes(project)
    finished = wait_until(lambda: store.run(run.pk).state.finished, timeout=3)
    up.kill()
    state = store.run(run.pk).state
    store.close()
    assert finished and state is RunState.SUCCESS and ledger(project) == []


def test_a_crash_between_starting_a_task_and_recording_its_try_does_not_stall_the_run(project, up_processes):
    store, run = queued_run(project, pause=0)
    _crash_state(store, run, recorded_try=None)
    up = up_processes(project)
    finished = wait_until(lambda: store.run(run.pk).state.finished, timeout=3)
    up.kill()
    state = store.run(run.pk).state
    store.close()
    assert finished and state is RunState.SUCCESS and ledger(project) == ["start", "success"]


def test_a_sigkill_after_a_fires_run_was_created_ahead_leaves_it_to_run_once_after_the_restart(project, up_processes):
    """A fire's run is created a quarter second before the fire; a scheduler killed in between leaves it
    queued with nothing started, and the next start runs it once (and does not create it again)."""
    project.write(
        "dags/every.toml",
        """\
        [dags.every]
        schedule = "* * * * * *"
        [dags.every.tasks.work]
        command = "echo $MINORCH_LOGICAL_DATE >> fired"
        """,
    )
    store = project.store()

    def queued_ahead():  # a run whose fire is still at least 0.1 s away
        soon = time.time() + 0.1
        return next(
            (
                r
                for r in store.active_runs()
                if r.state is RunState.QUEUED and from_iso(r.logical_date).timestamp() > soon
            ),
            None,
        )

    ahead = None
    for _ in range(5):  # on a busy machine the kill may come after the fire: then try again
        up = up_processes(project)
        up.ready()
        seen = wait_until(queued_ahead, timeout=5, every=0.002)
        up.kill()
        if seen is not None and store.run(seen.pk).state is RunState.QUEUED:
            ahead = seen
            break
    assert ahead is not None, "never killed the scheduler between a run's creation and its fire"
    assert store.attempts(ahead.pk) == []
    again = up_processes(project)
    done = wait_until(lambda: store.run(ahead.pk).state.finished, timeout=10)
    again.signal(signal.SIGTERM)
    fired = [from_iso(line) for line in (project.root / "fired").read_text().split()]
    state, tries = store.run(ahead.pk).state, store.attempts(ahead.pk)
    same = [r for r in store.runs("every", limit=1000) if r.run_id == ahead.run_id]
    store.close()
    assert done and state is RunState.SUCCESS
    assert [t.try_number for t in tries] == [1] and len(same) == 1
    assert fired.count(from_iso(ahead.logical_date)) == 1
