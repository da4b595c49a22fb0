"""`minorch up --no-ui`: readiness, stopping on SIGTERM/SIGINT, one scheduler per state file.

Every test runs the real command in a tmp project (see conftest's `project`) and talks
to it only with signals, its JSON log lines and the state file.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from conftest import wait_until

from minorch.clock import FakeClock
from minorch.scheduler import CREATE_AHEAD, Scheduler
from minorch.states import RunState


def queue_run(project, dag_id: str) -> None:
    done = project.minorch("trigger", dag_id)
    assert done.returncode == 0, done.stderr


def set_grace(project, grace: str) -> None:
    config = project.root / "minorch.toml"
    config.write_text(config.read_text().replace('grace = "0.5s"', f'grace = "{grace}"'))


def task_attempts(project, run_filter: Callable = lambda run: True) -> list:
    store = project.store()
    try:
        return [a for run in store.runs(limit=None) if run_filter(run) for a in store.attempts(run.pk)]
    finally:
        store.close()


SLEEPER = """\
[dags.sleeper]
[dags.sleeper.tasks.nap]
command = "sleep {seconds}"
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_says_ready_in_json_and_exits_0_on_a_stop_signal(project, up_processes, sig):
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=1))
    up = up_processes(project)
    ready = up.ready()
    assert ready["level"] == "info" and ready["dags"] == 1 and ready["load_errors"] == 0
    assert 0 < ready["ready_ms"] < 5000 and ready["pid"] == up.proc.pid
    assert up.signal(sig) == 0
    assert up.events[-1]["message"] == "scheduler stopped"


def test_a_stop_lets_running_tries_finish_and_creates_no_new_runs(project, up_processes):
    set_grace(project, "5s")
    project.write(
        "dags/every.toml",
        """\
        [dags.every]
        schedule = "* * * * * *"
        [dags.every.tasks.work]
        command = "sleep 0.6; echo done"
        """,
    )
    up = up_processes(project)
    up.wait_for(lambda e: e.get("task_id") == "work" and e.get("state") == "running")
    asked = time.time()
    assert up.signal(signal.SIGTERM) == 0
    attempts = task_attempts(project)
    assert attempts and all(a.outcome == "success" for a in attempts)
    store = project.store()
    runs = store.runs(limit=None)
    store.close()
    assert all(run.queued_at <= asked for run in runs)
    assert all(run.state is RunState.SUCCESS or run.state is RunState.RUNNING for run in runs)
    task_lines = [e for e in up.events if e.get("event") == "task"]
    assert {"dag_id": "every", "task_id": "work", "state": "success"}.items() <= task_lines[-1].items()


SLEEP_ONCE = """\
[dags.sleeper]
[dags.sleeper.tasks.nap]
command = "if [ -e napped ]; then exit 0; fi; touch napped; sleep 30"
"""


def test_a_stop_interrupts_tries_still_running_at_the_end_of_the_grace_and_the_next_start_reruns_them(
    project, up_processes, survivors
):
    project.configure(minorch='on_restart = "kill"')
    project.write("dags/sleeper.toml", SLEEP_ONCE)  # retries = 0: a counted failure would fail the run
    queue_run(project, "sleeper")
    up = up_processes(project)
    up.wait_for(lambda e: e.get("task_id") == "nap" and e.get("state") == "running")
    asked = time.monotonic()
    assert up.signal(signal.SIGTERM) == 0
    took = time.monotonic() - asked
    assert took < 0.5 + 0.5 + 2.0  # grace to finish, grace after SIGTERM, slack for a busy machine
    assert any("recorded as interrupted and run again at the next start" in e["message"] for e in up.events)
    [attempt] = task_attempts(project)
    assert attempt.outcome == "interrupted" and not attempt.counted
    assert attempt.reason.startswith("interrupted: the scheduler was stopped while this try ran")
    assert survivors([attempt.pid], {attempt.attempt_id}) == []
    store = project.store()
    [run] = store.runs(limit=None)
    assert store.task_instances([run.pk])[run.pk]["nap"].state.value == "none"
    again = up_processes(project)
    assert wait_until(lambda: store.run(run.pk).state.finished, timeout=10)
    assert again.signal(signal.SIGTERM) == 0
    assert store.run(run.pk).state is RunState.SUCCESS
    assert [(a.try_number, a.outcome, a.counted) for a in store.attempts(run.pk)] == [
        (1, "interrupted", False),
        (1, "success", True),
    ]
    store.close()


def test_a_second_signal_ends_the_grace_period_at_once(project, up_processes, survivors):
    project.configure(minorch='on_restart = "kill"')
    set_grace(project, "60s")
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=30))
    queue_run(project, "sleeper")
    up = up_processes(project)
    up.wait_for(lambda e: e.get("task_id") == "nap" and e.get("state") == "running")
    asked = time.monotonic()
    up.proc.send_signal(signal.SIGTERM)
    up.wait_for(lambda e: e.get("message", "").startswith("stopping:"))
    assert up.signal(signal.SIGINT) == 0
    assert time.monotonic() - asked < 5.0  # `sleep` ends on the SIGTERM the executor sends it
    [attempt] = task_attempts(project)
    assert attempt.outcome == "interrupted" and survivors([attempt.pid], {attempt.attempt_id}) == []


def test_a_second_up_on_the_same_state_names_the_holder_and_exits_2(project, up_processes):
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=1))
    first = up_processes(project)
    first.ready()
    second = project.minorch("up", "--no-ui")
    assert second.returncode == 2
    assert (
        f"another minorch scheduler is using {project.root / '.minorch'} (pid {first.proc.pid}, minorch up since "
        in second.stderr
    )
    assert "Traceback" not in second.stderr and len(second.stderr.splitlines()) == 1
    assert first.proc.poll() is None
    assert first.signal(signal.SIGTERM) == 0


def test_run_refuses_while_up_holds_the_state_and_names_the_holder(project, up_processes):
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=0))
    first = up_processes(project)
    first.ready()
    done = project.minorch("run", "sleeper")
    assert done.returncode == 2
    assert f"(pid {first.proc.pid}, minorch up since" in done.stderr
    assert first.signal(signal.SIGTERM) == 0


def test_a_scheduler_killed_with_sigkill_leaves_no_lock_behind(project, up_processes):
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=1))
    first = up_processes(project)
    first.ready()
    first.signal(signal.SIGKILL)
    second = up_processes(project)
    assert second.ready()["pid"] == second.proc.pid
    assert second.signal(signal.SIGTERM) == 0


def test_systemd_hears_ready_and_stopping(project, up_processes):
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=1))
    name = f"minorch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)  # an abstract socket, as systemd --user and containers use
        listener.settimeout(10)
        up = up_processes(project, env={**project.env(), "NOTIFY_SOCKET": "@" + name})
        assert listener.recv(1024).decode() == "READY=1\nSTATUS=scheduling 1 DAGs"
        up.proc.send_signal(signal.SIGTERM)
        assert listener.recv(1024) == b"STOPPING=1"
    assert up.proc.wait(10) == 0


EVERY_SECOND = """\
[dags.every]
schedule = "* * * * * *"
[dags.every.tasks.work]
command = "true"
"""


def test_a_run_created_at_its_fire_starts_in_the_same_turn_of_the_loop(project):
    project.write("dags/every.toml", EVERY_SECOND)
    store = project.store()
    clock = FakeClock(datetime(2024, 1, 15, 12, 0, 0, 500000, tzinfo=timezone.utc))
    sched = Scheduler(project.settings(), store, clock=clock)
    try:
        sched.step()  # sets the first fire: 12:00:01
        clock.advance(0.5)
        began = time.monotonic()
        sched.run_loop(until=lambda: bool(sched.inflight) or time.monotonic() - began > 2)
        took = time.monotonic() - began
        assert sched.inflight
        assert took < 0.2  # not at the next poll of the store, half a second later
    finally:
        sched.kill_running("test over")
        sched.close()
        store.close()


def test_a_fires_run_is_created_queued_just_before_the_fire_and_starts_with_its_task_at_the_fire(project):
    project.write("dags/every.toml", EVERY_SECOND)
    store = project.store()
    fire = datetime(2024, 1, 15, 12, 0, 1, tzinfo=timezone.utc)
    clock = FakeClock(datetime(2024, 1, 15, 12, 0, 0, 500000, tzinfo=timezone.utc))
    sched = Scheduler(project.settings(), store, clock=clock)
    try:
        assert sched.step() == fire - CREATE_AHEAD  # sets the first fire: 12:00:01
        clock.advance(0.4)  # 12:00:00.9, within CREATE_AHEAD of the fire
        sched.step()
        [made] = store.active_runs()
        assert (made.run_id, made.state) == ("scheduled__2024-01-15T12:00:01+00:00", RunState.QUEUED)
        assert sched.step() == fire  # nothing starts before the fire; the loop wakes for it
        assert store.active_runs()[0].state is RunState.QUEUED and not sched.inflight
        assert store.attempts(made.pk) == []
        clock.advance(0.1)  # the fire
        sched.step()
        assert store.active_runs()[0].state is RunState.RUNNING
        assert [a.try_number for a in store.attempts(made.pk, "work")] == [1] and len(sched.inflight) == 1
    finally:
        sched.kill_running("test over")
        sched.close()
        store.close()


def test_text_log_lines_carry_the_utc_offset(project):
    """A text line says its zone: local time (here TZ=Asia/Kolkata, +05:30) in ISO 8601 with its offset."""
    project.write("dags/sleeper.toml", SLEEPER.format(seconds=0))
    up = subprocess.Popen(
        [sys.executable, "-m", "minorch", "up", "--no-ui", "--log-format", "text"],
        cwd=project.root,
        env={**project.env(), "TZ": "Asia/Kolkata"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "scheduler ready" not in line and time.monotonic() < deadline:
            line = up.stdout.readline()
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(15)
    stamp, level, message = line.split(maxsplit=2)
    moment = datetime.fromisoformat(stamp)
    assert stamp.endswith("+05:30") and level == "INFO" and message.startswith("scheduler ready"), line
    assert abs((moment - datetime.now(timezone.utc)).total_seconds()) < 60
