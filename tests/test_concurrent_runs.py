"""One-shot `minorch run`s of different DAGs share a state file and go on together; never two
schedulers on one DAG: a second run of the same DAG and a `minorch up` are refused, naming who
holds it. Real `python -m minorch` processes, real task processes, one real state file."""

from __future__ import annotations

import json
import signal

from conftest import wait_until

# runs until the test creates marks/release (however slow the machine, it is still running meanwhile)
SLOW = """
[dags.slow.tasks.nap]
command = "touch {marks}/slow-started; while [ ! -e {marks}/release ]; do sleep 0.05; done; touch {marks}/slow-ended"
"""

QUICK = """
[dags.quick.tasks.one]
command = "echo one"

[dags.quick.tasks.two]
command = "echo two"
after = ["one"]
"""


def _attempts(project, dag_id: str) -> list:
    store = project.store()
    try:
        [run] = store.runs(dag_id)
        return store.attempts(run.pk)
    finally:
        store.close()


def test_runs_of_different_dags_go_together_and_a_second_run_of_one_dag_or_an_up_is_refused(project, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    project.write("dags/slow.toml", SLOW.format(marks=marks))
    project.write("dags/quick.toml", QUICK)
    slow = project.start("run", "slow", "--date", "2024-01-15")
    try:
        assert wait_until(lambda: (marks / "slow-started").exists(), 20), slow.stderr.read() if slow.poll() else ""

        quick = project.minorch("run", "quick", "--date", "2024-01-15")
        assert quick.returncode == 0, quick.stderr
        assert not (marks / "slow-ended").exists()  # it ran while `slow` was still running

        again = project.minorch("run", "slow", "--date", "2024-01-16")
        assert again.returncode == 2
        held = f"another minorch run is driving DAG slow in {project.root / '.minorch'} (pid {slow.pid}, "
        assert held in again.stderr
        assert len(again.stderr.splitlines()) == 1 and "Traceback" not in again.stderr

        up = project.minorch("up", "--no-ui")
        assert up.returncode == 2
        assert f"(pid {slow.pid}, minorch run since " in up.stderr and "on DAG slow" in up.stderr

        status = json.loads(project.minorch("status", "--json").stdout)
        assert status["scheduler"]["pid"] == slow.pid and status["scheduler"]["what"] == "minorch run"

        (marks / "release").touch()
        assert slow.wait(30) == 0, slow.stderr.read()
    finally:
        if slow.poll() is None:
            slow.send_signal(signal.SIGINT)
            slow.wait(10)
    assert [(a.task_id, a.outcome) for a in _attempts(project, "slow")] == [("nap", "success")]
    quick_tries = sorted((a.task_id, a.outcome) for a in _attempts(project, "quick"))
    assert quick_tries == [("one", "success"), ("two", "success")]
    # with both ended, an `up` may start again
    assert project.minorch("status", "--json").returncode == 1


def test_a_run_killed_mid_try_is_left_to_the_next_driver_of_its_own_dag(project, tmp_path, survivors):
    """A one-shot run of another DAG neither adopts nor kills the open try of a killed run; the next
    run of that DAG takes it up (adopts it, records it once)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    project.write("dags/slow.toml", SLOW.format(marks=marks))
    project.write("dags/quick.toml", QUICK)
    try:
        slow = project.start("run", "slow", "--date", "2024-01-15")
        assert wait_until(lambda: (marks / "slow-started").exists(), 20)
        slow.send_signal(signal.SIGKILL)
        slow.wait(10)
        [open_try] = _attempts(project, "slow")
        assert open_try.end_date is None

        quick = project.minorch("run", "quick", "--date", "2024-01-15")
        assert quick.returncode == 0, quick.stderr
        [still] = _attempts(project, "slow")
        assert still.end_date is None and not (marks / "slow-ended").exists()
        assert survivors([open_try.pid]) != []  # not killed by the other DAG's run
    finally:  # the orphaned try ends once released, whatever failed above
        (marks / "release").touch()
    resumed = project.minorch("run", "slow", "--date", "2024-01-15")
    assert resumed.returncode == 0, resumed.stderr
    assert (marks / "slow-ended").exists()
    assert [(a.attempt_id, a.outcome) for a in _attempts(project, "slow")] == [(open_try.attempt_id, "success")]
