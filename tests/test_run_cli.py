"""`minorch run DAG` as CI uses it: real `python -m minorch` processes, exit codes, the printed
lines and table, JSON and JUnit reports, re-running a date, Ctrl-C, and the bundled example."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PIPELINE = """
[dags.etl.tasks.extract]
command = "echo extracting {{ ds }}"

[dags.etl.tasks.load]
command = "echo loading"
after = ["extract"]
"""

BROKEN = """
[dags.broken.tasks.ok]
command = "echo fine"

[dags.broken.tasks.crash]
command = "echo boom; exit 3"

[dags.broken.tasks.publish]
command = "echo never"
after = ["crash"]
"""


def test_a_successful_run_exits_0_with_one_line_per_state_change_then_a_summary(project):
    project.write("dags/etl.toml", PIPELINE)
    done = project.minorch("run", "etl", "--date", "2024-01-15")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    events = [line.split("  ", 1)[1] for line in lines[:6]]
    assert events == [
        "etl run manual__2024-01-15T00:00:00+00:00: running - run manual__2024-01-15T00:00:00+00:00 started",
        "etl.extract: running (try 1) - try 1 started",
        "etl.extract: success (try 1) - exited with code 0",
        "etl.load: running (try 1) - try 1 started",
        "etl.load: success (try 1) - exited with code 0",
        "etl run manual__2024-01-15T00:00:00+00:00: success - all tasks done",
    ]
    assert lines[6].split() == ["task", "state", "tries", "duration", "exit", "log"]
    assert lines[8].split()[:3] == ["extract", "success", "1"]
    assert lines[9].split()[:3] == ["load", "success", "1"]
    assert lines[-1].startswith("etl manual__2024-01-15T00:00:00+00:00: SUCCESS in ")
    assert done.stderr == ""


def test_quiet_prints_only_the_summary(project):
    project.write("dags/etl.toml", PIPELINE)
    done = project.minorch("run", "etl", "--quiet")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0].split()[:2] == ["task", "state"]
    assert "started" not in done.stdout


def test_a_failed_run_exits_1_and_reports_every_task_in_json_and_junit(project):
    project.write("dags/broken.toml", BROKEN)
    done = project.minorch("run", "broken", "--date", "2024-01-15", "--json", "--junit", "report.xml")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["run_id"], report["state"], report["exit_code"]) == (
        "manual__2024-01-15T00:00:00+00:00",
        "failed",
        1,
    )
    tasks = {t["task_id"]: t for t in report["tasks"]}
    assert {tid: (t["state"], t["tries"], t["exit_code"]) for tid, t in tasks.items()} == {
        "ok": ("success", 1, 0),
        "crash": ("failed", 1, 3),
        "publish": ("upstream_failed", 0, None),
    }
    assert tasks["crash"]["duration"] > 0
    assert Path(tasks["crash"]["log_path"]).read_text() == "boom\n"
    assert tasks["publish"]["log_path"] is None

    suite = ET.parse(project.root / "report.xml").getroot()
    assert (suite.tag, suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "testsuite",
        "broken",
        "3",
        "1",
        "1",
    )
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"ok", "crash", "publish"}
    assert cases["ok"].find("failure") is None
    failure = cases["crash"].find("failure")
    assert failure.get("message") == "failed: exited with code 3"
    assert "boom" in failure.text
    assert cases["publish"].find("failure") is None  # it did not fail itself
    assert cases["publish"].find("skipped").get("message").startswith("upstream_failed: ")


def test_bad_usage_exits_2_with_one_line_and_a_hint(project):
    project.write("dags/etl.toml", PIPELINE)
    for args, expected in [
        (["run", "etl", "--date", "not-a-date"], "--date 'not-a-date' is not a date (write YYYY-MM-DD"),
        (["run", "etl", "--param", "x"], "--param 'x' is not KEY=VALUE (write e.g. --param table=orders)"),
        (["run", "etk"], "no DAG 'etk' (did you mean 'etl'?)"),
    ]:
        done = project.minorch(*args)
        assert done.returncode == 2, args
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_params_from_the_command_line_reach_the_task(project):
    project.write(
        "dags/greet.toml",
        """
        [dags.greet.tasks.hello]
        command = "echo hello {{ params.name }} {{ params.count }}"
    """,
    )
    done = project.minorch("run", "greet", "--param", "name=Ada Lovelace", "--param", "count=3", "--json")
    assert done.returncode == 0
    [task] = json.loads(done.stdout)["tasks"]
    assert Path(task["log_path"]).read_text() == "hello Ada Lovelace 3\n"


def test_running_the_same_date_again_runs_it_again_and_exits_by_the_second_run(project):
    project.write(
        "dags/gate.toml",
        """
        [dags.gate.tasks.check]
        command = "test -f ready"
    """,
    )
    first = project.minorch("run", "gate", "--date", "2024-01-15")
    (project.root / "ready").touch()
    second = project.minorch("run", "gate", "--date", "2024-01-15")
    assert (first.returncode, second.returncode) == (1, 0)
    store = project.store()
    try:
        [run] = store.runs("gate")
        assert run.state.value == "success"
        assert [a.outcome for a in store.attempts(run.pk)] == ["failed", "success"]
    finally:
        store.close()


def test_ctrl_c_kills_the_running_task_records_the_failure_and_exits_130(project, survivors):
    project.write(
        "dags/slow.toml",
        """
        [dags.slow.tasks.sleeper]
        command = "echo $$ > sleeper.pid; exec sleep 30"

        [dags.slow.tasks.after]
        command = "true"
        after = ["sleeper"]
    """,
    )
    child = project.start("run", "slow", "--date", "2024-01-15")
    try:
        seen = read_until(child, "slow.sleeper: running (try 1)", limit=10.0)
        pid_file = project.root / "sleeper.pid"
        deadline = time.monotonic() + 5.0
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline, "the task did not start"
            time.sleep(0.01)
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C at a terminal sends
        stopped = time.monotonic()
        out, err = child.communicate(timeout=10.0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert time.monotonic() - stopped < 3.0
    assert "interrupted" in seen + out
    assert "INTERRUPTED" in out
    assert survivors([int(pid_file.read_text())]) == []
    store = project.store()
    try:
        [run] = store.runs("slow")
        assert run.state.value == "failed" and run.end_date is not None
        tis = store.task_instances([run.pk])[run.pk]
        assert {tid: ti.state.value for tid, ti in tis.items()} == {"sleeper": "failed", "after": "failed"}
        [attempt] = store.attempts(run.pk)
        assert attempt.end_date is not None and attempt.outcome == "interrupted" and not attempt.counted
        assert store.open_attempts() == []
    finally:
        store.close()


def test_every_bundled_example_loads_without_an_error_or_a_warning(project):
    shutil.copytree(REPO / "examples", project.root / "examples")
    shutil.copy(REPO / "minorch.toml", project.root / "minorch.toml")
    done = project.minorch("validate", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [] and report["warnings"] == [], report
    assert len(report["dags"]) >= 10


def test_the_bundled_daily_pipeline_succeeds_and_its_flaky_task_takes_two_tries(project):
    shutil.copytree(REPO / "examples", project.root / "examples")
    shutil.copy(REPO / "minorch.toml", project.root / "minorch.toml")
    done = project.minorch("run", "daily_pipeline", "--date", "2024-01-15", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    tries = {t["task_id"]: t["tries"] for t in report["tasks"]}
    assert tries.pop("extract_customers") == 2
    assert set(tries.values()) == {1}
    assert all(t["state"] == "success" for t in report["tasks"])


def read_until(child, text: str, limit: float) -> str:
    """Read the child's stdout until it has printed `text`; returns what was read. Reads the pipe
    itself, not through the buffered file object: a readline() may buffer the line after the one it
    returns, and select() would then wait for output that already came."""
    seen = b""
    fd = child.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    try:
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0 and child.poll() is None, f"no {text!r} in: {seen.decode()}"
            if selector.select(left):
                seen += os.read(fd, 65536)
    finally:
        selector.close()
    return seen.decode()
