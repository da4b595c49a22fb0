"""The scheduler loop with real child processes, real log files and a real state file:
retries and their timing, timeouts, skips, templates, Python tasks and XCom, env, logs, faults.

Each test runs one DAG in the foreground in this process (`run_foreground`, as `minorch run` does).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from minorch.states import RunState, TaskState

DATE = "2024-01-15"


def states(result) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in result.tis.items()}


def log_of(result, task_id: str, try_index: int = -1) -> str:
    return Path(result.attempts[task_id][try_index].log_path).read_text()


# ---------------------------------------------------------------- retries


def test_a_task_is_retried_after_retry_delay_counted_from_the_end_of_the_failed_try(project):
    project.write(
        "dags/flaky.toml",
        """
        [dags.flaky]
        retries = 2
        retry_delay = "1s"

        [dags.flaky.tasks.third_time_lucky]
        command = "n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; sleep 0.2; [ $n -ge 2 ]"
    """,
    )
    result = project.run("flaky")
    assert result.run.state is RunState.SUCCESS
    tries = result.attempts["third_time_lucky"]
    assert [a.try_number for a in tries] == [1, 2, 3]
    assert [a.outcome for a in tries] == ["failed", "failed", "success"]
    for failed, retry in zip(tries, tries[1:], strict=False):
        assert failed.end_date - failed.start_date >= 0.2
        assert 1.0 <= retry.start_date - failed.end_date < 1.4
    assert any("up_for_retry (try 1)" in line and "try 2 of 3 in 1s" in line for line in project.lines)


def test_exponential_backoff_doubles_the_wait_up_to_max_retry_delay(project):
    project.write(
        "dags/backoff.toml",
        """
        [dags.backoff.tasks.always_fails]
        command = "exit 1"
        retries = 3
        retry_delay = "0.2s"
        retry_exponential_backoff = true
        max_retry_delay = "0.5s"
    """,
    )
    result = project.run("backoff")
    assert result.run.state is RunState.FAILED
    tries = result.attempts["always_fails"]
    assert len(tries) == 4
    waits = [b.start_date - a.end_date for a, b in zip(tries, tries[1:], strict=False)]
    for wait, low, high in zip(waits, (0.2, 0.4, 0.5), (0.22, 0.44, 0.5), strict=False):
        assert low <= wait < high + 0.3, waits


# ---------------------------------------------------------------- timeouts


def test_a_timed_out_task_fails_its_try_and_leaves_no_process_behind(project, survivors):
    project.write(
        "dags/slow.toml",
        """
        [dags.slow]
        timeout = "1s"
        grace = "0.5s"

        [dags.slow.tasks.sleeper]
        command = "echo $$ > sleeper.pid; exec sleep 30"

        [dags.slow.tasks.forker]
        command = "sleep 1000 & echo $! > forker.pid; sleep 30"

        [dags.slow.tasks.never_runs]
        command = "true"
        after = ["sleeper"]
    """,
    )
    result = project.run("slow")
    assert result.run.state is RunState.FAILED
    assert states(result) == {"sleeper": "failed", "forker": "failed", "never_runs": "upstream_failed"}
    for tid in ("sleeper", "forker"):
        [attempt] = result.attempts[tid]
        assert attempt.timed_out
        assert "timed out after 1s" in attempt.reason
        assert "timed out" in result.tis[tid].note
        assert 1.0 <= attempt.duration < 3.0
    pids = [int((project.root / f"{tid}.pid").read_text()) for tid in ("sleeper", "forker")]
    ids = {a.attempt_id for tries in result.attempts.values() for a in tries}
    assert survivors(pids, ids) == []


# ---------------------------------------------------------------- skips


def test_exit_code_99_skips_a_task_and_its_all_success_downstream(project):
    project.write(
        "dags/skips.toml",
        """
        [dags.skips.tasks.nothing_new]
        command = "echo no new files; exit 99"

        [dags.skips.tasks.process]
        command = "echo should not run"
        after = ["nothing_new"]

        [dags.skips.tasks.custom_code]
        command = "exit 3"
        skip_exit_code = 3

        [dags.skips.tasks.report]
        command = "echo report"
        after = ["process", "custom_code"]
        trigger_rule = "none_failed"
    """,
    )
    result = project.run("skips")
    assert states(result) == {
        "nothing_new": "skipped",
        "process": "skipped",
        "custom_code": "skipped",
        "report": "success",
    }
    assert result.run.state is RunState.SUCCESS
    assert "process" not in result.attempts


def test_skip_exit_code_can_be_set_for_every_task_in_defaults(project):
    project.configure(defaults="skip_exit_code = 4")
    project.write(
        "dags/skips.toml",
        """
        [dags.skips.tasks.four]
        command = "exit 4"
    """,
    )
    assert states(project.run("skips")) == {"four": "skipped"}


# ---------------------------------------------------------------- templates


def test_template_values_and_params_reach_the_command_shell_quoted(project):
    project.write(
        "dags/templ.toml",
        """
        [dags.templ]
        schedule = "@daily"
        params = { table = "orders" }

        [dags.templ.tasks.show]
        command = "echo ds={{ ds }} nodash={{ ds_nodash }} ts={{ ts }} table={{ params.table }} note={{ params.note }}"
    """,
    )
    result = project.run("templ", params={"note": "a b; touch pwned"})
    assert result.run.state is RunState.SUCCESS
    assert log_of(result, "show") == (
        "ds=2024-01-15 nodash=20240115 ts=2024-01-15T00:00:00+00:00 table=orders note=a b; touch pwned\n"
    )
    assert not (project.root / "pwned").exists()
    assert result.attempts["show"][0].command.endswith("note='a b; touch pwned'")


def test_an_unknown_template_variable_fails_the_try_with_the_template_line_in_its_log(project):
    project.write(
        "dags/typo.toml",
        '''
        [dags.typo.tasks.load]
        command = """echo start
        echo {{ dss }}"""
    ''',
    )
    result = project.run("typo")
    assert states(result) == {"load": "failed"}
    log = log_of(result, "load")
    assert "unknown template variable 'dss' in line 2: echo {{ dss }}" in log
    assert "did you mean 'ds'?" in log
    assert "start\n" not in log  # nothing of the command ran


# ---------------------------------------------------------------- Python tasks

PY_DAGS = """
from minorch import DAG, task

with DAG("pyflow", params={"greeting": "hi"}):

    @task
    def produce(ds, params):
        return {"ds": ds, "greeting": params["greeting"], "numbers": [1, 2, 3]}

    @task
    def consume(data):
        print("consumed", data["ds"], data["greeting"], sum(data["numbers"]))

    consume(data=produce())

with DAG("pybad"):

    @task
    def returns_a_set():
        return {1, 2}

    @task
    def returns_too_much():
        return "x" * 70000

    returns_a_set()
    returns_too_much()
"""


def test_a_python_task_gets_its_context_and_passes_its_result_to_the_next_task(project):
    project.write("dags/py_dags.py", PY_DAGS)
    result = project.run("pyflow", params={"greeting": "hello"})
    assert states(result) == {"produce": "success", "consume": "success"}
    store = project.store()
    try:
        assert store.xcoms(result.run.pk, ["produce"]) == {
            "produce": {"ds": "2024-01-15", "greeting": "hello", "numbers": [1, 2, 3]}
        }
    finally:
        store.close()
    assert log_of(result, "consume") == "consumed 2024-01-15 hello 6\n"


def test_a_python_result_that_is_not_json_or_too_big_fails_with_a_clear_message(project):
    project.write("dags/py_dags.py", PY_DAGS)
    result = project.run("pybad")
    assert states(result) == {"returns_a_set": "failed", "returns_too_much": "failed"}
    assert "task returned a set, which cannot be stored as JSON" in log_of(result, "returns_a_set")
    assert "over the 64 KB limit for results" in log_of(result, "returns_too_much")


# ---------------------------------------------------------------- environment and logs


def test_the_child_sees_minorch_variables_its_task_env_and_its_cwd(project):
    (project.root / "work").mkdir()
    project.write(
        "dags/envy.toml",
        """
        [dags.envy.tasks.show]
        command = "env | grep -E '^(MINORCH_|REGION=)' | sort; pwd"
        env = { REGION = "eu-west" }
        cwd = "work"
    """,
    )
    result = project.run("envy")
    [attempt] = result.attempts["show"]
    lines = log_of(result, "show").splitlines()
    env = dict(line.split("=", 1) for line in lines[:-1])
    assert env == {
        "MINORCH_ATTEMPT_ID": attempt.attempt_id,
        "MINORCH_CONFIG": str(project.root / "minorch.toml"),  # the project, for Variable.get and `minorch`
        "MINORCH_DAG_ID": "envy",
        "MINORCH_DS": "2024-01-15",
        "MINORCH_LOGICAL_DATE": "2024-01-15T00:00:00+00:00",
        "MINORCH_RUN_ID": result.run.run_id,
        "MINORCH_TASK_ID": "show",
        "MINORCH_TRY_NUMBER": "1",
        "REGION": "eu-west",
    }
    assert lines[-1] == str(project.root / "work")


def test_each_try_has_its_own_private_log_file_under_dag_run_task(project):
    project.write(
        "dags/logs.toml",
        """
        [dags.logs.tasks.twice]
        command = "echo try $MINORCH_TRY_NUMBER; [ $MINORCH_TRY_NUMBER -ge 2 ]"
        retries = 1
    """,
    )
    result = project.run("logs")
    paths = [Path(a.log_path) for a in result.attempts["twice"]]
    run_folder = project.root / ".minorch" / "logs" / "logs" / "manual__2024-01-15T00-00-00_00-00" / "twice"
    assert paths == [run_folder / "1.log", run_folder / "2.log"]
    assert [p.read_text() for p in paths] == ["try 1\n", "try 2\n"]
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in paths} == {0o600}


# ---------------------------------------------------------------- faults


def test_a_missing_command_fails_with_exit_127_and_says_so_in_the_log(project):
    project.write(
        "dags/missing.toml",
        """
        [dags.missing.tasks.typo]
        command = "no-such-command-xyz --flag"
    """,
    )
    result = project.run("missing")
    [attempt] = result.attempts["typo"]
    assert result.tis["typo"].state is TaskState.FAILED
    assert attempt.exit_code == 127
    assert "command not found" in attempt.reason
    assert "no-such-command-xyz" in log_of(result, "typo") and "not found" in log_of(result, "typo")


def test_a_task_printing_fifty_megabytes_completes_with_its_log_capped(project):
    project.configure(minorch="log_cap = 1048576")
    project.write(
        "dags/chatty.toml",
        """
        [dags.chatty.tasks.yes]
        command = "yes | head -c 50000000; echo done"
    """,
    )
    result = project.run("chatty")
    assert states(result) == {"yes": "success"}
    log = Path(result.attempts["yes"][0].log_path)
    assert log.stat().st_size <= 1048576 + 100
    assert "[minorch: log truncated at" in log.read_text()


def test_the_last_line_a_task_prints_survives_the_log_cap(project):
    project.configure(minorch="log_cap = 1048576")
    project.write(
        "dags/burst.toml",
        """
        [dags.burst.tasks.burst]
        command = "head -c 3000000 /dev/zero; echo the error that matters; exit 1"
    """,
    )
    result = project.run("burst")
    assert log_of(result, "burst").endswith("the error that matters\n")


def test_dagrun_timeout_fails_the_run_kills_its_running_tries_and_closes_their_attempts(project, survivors):
    project.write(
        "dags/long.toml",
        """
        [dags.long]
        dagrun_timeout = "1s"

        [dags.long.tasks.first]
        command = "true"

        [dags.long.tasks.sleeper]
        command = "echo $$ > sleeper.pid; exec sleep 30"
        after = ["first"]

        [dags.long.tasks.after]
        command = "true"
        after = ["sleeper"]
    """,
    )
    result = project.run("long")
    assert result.run.state is RunState.FAILED
    assert survivors([int((project.root / "sleeper.pid").read_text())]) == []
    assert states(result) == {"first": "success", "sleeper": "failed", "after": "failed"}
    [attempt] = result.attempts["sleeper"]
    assert attempt.end_date is not None and "dagrun_timeout" in attempt.reason


def test_dagrun_timeout_is_enforced_on_time_when_the_run_starts_with_a_long_task(project):
    project.write(
        "dags/long.toml",
        """
        [dags.long]
        dagrun_timeout = "1s"

        [dags.long.tasks.sleeper]
        command = "sleep 3"
    """,
    )
    result = project.run("long")
    assert result.run.state is RunState.FAILED
    assert result.run.end_date - result.run.start_date < 2.0


def test_an_sla_miss_is_notified_once_while_the_task_still_runs(project):
    project.write(
        "dags/slow.toml",
        """
        [dags.slow]
        on_sla_miss = [{ command = "cat >> sla-events.jsonl; echo >> sla-events.jsonl" }]

        [dags.slow.tasks.crawl]
        command = "sleep 1.5"
        sla = "0.3s"
    """,
    )
    result = project.run("slow")
    assert states(result) == {"crawl": "success"}
    deadline = time.monotonic() + 5
    events = project.root / "sla-events.jsonl"
    while time.monotonic() < deadline and not (events.exists() and events.read_text().strip()):
        time.sleep(0.05)
    [event] = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    assert (event["event"], event["task_id"], event["state"]) == ("on_sla_miss", "crawl", "running")
    assert "missed its SLA of 0.3s" in event["text"]
