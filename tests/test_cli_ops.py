"""Operator commands through the real CLI: exit codes, output, and their effect on the state file;
backfill end to end with real task processes; actions racing a running `minorch up`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import child_env

from minorch import operations as ops
from minorch.cli import main
from minorch.config import load_settings
from minorch.states import RunState, TaskState
from minorch.store import Store

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["backfill", "clear", "retry", "mark", "mark-run", "pause", "unpause", "runs", "tasks", "logs", "db"]

CONFIG = '[minorch]\nstate_dir = ".minorch"\nparallelism = 8\n'
PARTITIONS = """
[dags.parts]
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
max_active_runs = 4
[dags.parts.tasks.write]
command = "mkdir -p out && echo '{{ ds }} from {{ data_interval_start }} to {{ data_interval_end }}' > out/{{ ds }}.txt"
[dags.parts.tasks.check]
command = "grep -q '{{ ds }}' out/{{ ds }}.txt"
after = ["write"]
"""
FLAKY = """
[dags.flaky]
schedule = "@daily"
[dags.flaky.tasks.first]
command = "echo first of {{ ds }}"
[dags.flaky.tasks.second]
command = "echo second; test {{ ds }} != 2024-01-02"
after = ["first"]
[dags.flaky.tasks.third]
command = "echo third"
after = ["second"]
"""
WORK = """
[dags.work]
schedule = "manual"
max_active_runs = 16
[dags.work.tasks.a]
command = "true"
[dags.work.tasks.b]
command = "true"
after = ["a"]
[dags.other]
schedule = "manual"
[dags.other.tasks.only]
command = "true"
[dags.slow]
schedule = "manual"
[dags.slow.tasks.talk]
command = "echo first; sleep 0.4; echo second"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A project folder (the current folder) with the three DAG files; returns minorch.toml."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "parts.toml").write_text(PARTITIONS)
    (tmp_path / "dags" / "flaky.toml").write_text(FLAKY)
    (tmp_path / "dags" / "work.toml").write_text(WORK)
    config = tmp_path / "minorch.toml"
    config.write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return config


def cli(config: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["--config", str(config), *args], input=input, catch_exceptions=False)


def open_store(config: Path) -> Store:
    return Store(load_settings(config).db_path)


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.txt"))}


# ---------------------------------------------------------------- backfill end to end


def test_a_backfill_with_wait_writes_every_partition_and_reprocessing_all_writes_the_same(project: Path):
    result = cli(project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-14", "--wait")
    assert result.exit_code == 0, result.output
    assert "created 14 runs" in result.output and "14/14 runs done, 0 failed" in result.output
    first = outputs(project.parent / "out")
    assert sorted(first) == [f"2024-01-{d:02d}.txt" for d in range(1, 15)]
    assert first["2024-01-05.txt"] == b"2024-01-05 from 2024-01-04T02:30:00+01:00 to 2024-01-05T02:30:00+01:00\n"

    again = cli(
        project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-14", "--reprocess", "all", "--wait"
    )
    assert again.exit_code == 0, again.output
    assert "created 0 runs, re-running 14" in again.output
    assert outputs(project.parent / "out") == first
    tasks = json.loads(cli(project, "tasks", "parts", "2024-01-05", "--json").output)
    assert [(t["task_id"], t["state"], t["tries"]) for t in tasks["tasks"]] == [
        ("write", "success", 2),
        ("check", "success", 2),
    ]


def test_a_backfill_with_max_active_runs_1_runs_its_runs_one_after_another(project: Path):
    # In a child process with a time limit: a run waiting for a free slot must start when the
    # run before it finishes, not at some later, unrelated event.
    command = [
        sys.executable,
        "-c",
        "import sys; from minorch.cli import main; main(sys.argv[1:])",
        "--config",
        str(project),
        "backfill",
        "parts",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-04",
        "--wait",
        "--max-active-runs",
        "1",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("the next queued run never started after the one before it finished")
    assert done.returncode == 0, done.stdout + done.stderr
    runs = sorted(open_store(project).runs("parts"), key=lambda r: r.start_date)
    assert len(runs) == 4
    assert all(later.start_date >= earlier.end_date for earlier, later in zip(runs, runs[1:], strict=False))


def test_a_backfill_without_reprocessing_skips_the_dates_that_ran(project: Path):
    cli(project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-03", "--wait")
    result = cli(project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-04", "--dry-run")
    assert result.exit_code == 0
    assert "would create 1 runs, would re-run 0, skipping 3" in result.output
    actions = [line.split()[-1] for line in result.output.splitlines()[3:]]
    assert actions == ["skip", "skip", "skip", "create"]


def test_a_backfill_in_which_a_run_fails_exits_1_and_names_the_failed_tasks(project: Path):
    result = cli(project, "backfill", "flaky", "--start", "2024-01-01", "--end", "2024-01-03", "--wait")
    assert result.exit_code == 1
    assert "3/3 runs done, 1 failed" in result.output
    assert (
        "scheduled" not in result.stderr
        and "backfill__2024-01-02T00:00:00+00:00: failed: second (failed), third (upstream_failed)" in result.stderr
    )


def test_a_backfill_without_wait_only_queues_the_runs(project: Path):
    result = cli(project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-02")
    assert result.exit_code == 0
    assert "no scheduler is running: the next `minorch up` acts on it" in result.output
    store = open_store(project)
    assert [r.state for r in store.runs("parts")] == [RunState.QUEUED, RunState.QUEUED]


def test_backfill_errors_are_one_line_with_exit_code_2(project: Path):
    backwards = cli(project, "backfill", "parts", "--start", "2024-01-10", "--end", "2024-01-01")
    assert backwards.exit_code == 2 and "swap the start and end dates" in backwards.stderr
    manual = cli(project, "backfill", "work", "--start", "2024-01-01", "--end", "2024-01-02")
    assert manual.exit_code == 2 and "has no logical dates to backfill" in manual.stderr
    limit = cli(project, "backfill", "parts", "--start", "2024-01-01", "--end", "2024-01-02", "--max-active-runs", "2")
    assert limit.exit_code == 2 and "--max-active-runs works with --wait only" in limit.stderr
    assert "Traceback" not in backwards.output + manual.output + limit.output


# ---------------------------------------------------------------- clear, retry, mark


@pytest.fixture
def failed_run(project: Path) -> Path:
    """flaky's run for 2024-01-02 has run and failed at task 'second'."""
    assert cli(project, "backfill", "flaky", "--start", "2024-01-02", "--end", "2024-01-02", "--wait").exit_code == 1
    return project


def test_clear_asks_first_and_a_no_changes_nothing(failed_run: Path):
    result = cli(failed_run, "clear", "flaky", "2024-01-02", input="n\n")
    assert (
        result.exit_code == 1
        and "clear 3 tasks of flaky run backfill__2024-01-02T00:00:00+00:00: first, second, third?" in result.output
    )
    assert open_store(failed_run).runs("flaky")[0].state is RunState.FAILED


def test_clear_with_yes_requeues_the_run_and_says_who_acts_on_it(failed_run: Path):
    result = cli(failed_run, "clear", "flaky", "latest", "second", "--downstream", "--yes")
    assert result.exit_code == 0
    assert result.output.startswith(
        "cleared 2 tasks of flaky run backfill__2024-01-02T00:00:00+00:00: second, third; no scheduler is running"
    )
    store = open_store(failed_run)
    run = store.runs("flaky")[0]
    assert run.state is RunState.QUEUED
    assert {t: ti.state.value for t, ti in store.task_instances([run.pk])[run.pk].items()} == {
        "first": "success",
        "second": "none",
        "third": "none",
    }


def test_retry_clears_only_the_failed_part_of_a_run(failed_run: Path):
    result = cli(failed_run, "retry", "flaky", "2024-01-02")
    assert result.exit_code == 0 and "retrying 2 tasks" in result.output and "second, third" in result.output
    again = cli(failed_run, "retry", "flaky", "2024-01-02")
    assert again.exit_code == 0 and again.output.startswith("no failed tasks in flaky run")


def test_mark_and_mark_run_change_states_and_refuse_unknown_names(failed_run: Path):
    assert cli(failed_run, "mark", "flaky", "latest", "second", "success").exit_code == 0
    store = open_store(failed_run)
    run = store.runs("flaky")[0]
    assert store.task_instances([run.pk])[run.pk]["third"].state is TaskState.NONE
    assert cli(failed_run, "mark-run", "flaky", "latest", "success").exit_code == 0
    assert store.run(run.pk).state is RunState.SUCCESS
    typo = cli(failed_run, "mark", "flaky", "latest", "secnd", "success")
    assert typo.exit_code == 2 and "did you mean 'second'?" in typo.stderr
    bad_state = cli(failed_run, "mark", "flaky", "latest", "second", "running")
    assert bad_state.exit_code == 2


def test_pause_and_unpause_set_the_flag_a_scheduler_reads(project: Path):
    assert cli(project, "pause", "parts").output.startswith("paused parts; no scheduler is running")
    assert open_store(project).dag_rows()["parts"].paused is True
    assert cli(project, "unpause", "parts").exit_code == 0
    assert open_store(project).dag_rows()["parts"].paused is False
    assert cli(project, "pause", "prts").exit_code == 2


# ---------------------------------------------------------------- runs, tasks, logs


def test_runs_lists_newest_first_filters_by_state_and_prints_json(failed_run: Path):
    cli(failed_run, "backfill", "flaky", "--start", "2024-01-03", "--end", "2024-01-03", "--wait")
    table = cli(failed_run, "runs", "flaky").output.splitlines()
    assert table[0].split()[:3] == ["run", "state", "logical"]
    assert table[2].startswith("backfill__2024-01-03T00:00:00+00:00  success")
    assert "1 success, 1 failed, 1 upstream_failed" in table[3]
    rows = json.loads(cli(failed_run, "runs", "flaky", "--state", "failed", "--json").output)
    assert [r["run_id"] for r in rows] == ["backfill__2024-01-02T00:00:00+00:00"]
    assert rows[0]["tasks"] == {"success": 1, "failed": 1, "upstream_failed": 1}
    assert cli(failed_run, "runs", "flaky", "--state", "running").output == "no runs of flaky in state running\n"


def test_tasks_shows_state_tries_exit_code_and_log_of_the_latest_try(failed_run: Path):
    result = cli(failed_run, "tasks", "flaky", "latest")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "flaky run backfill__2024-01-02T00:00:00+00:00: failed"
    second = next(line for line in lines if line.startswith("second"))
    assert second.split()[:5] == ["second", "failed", "1", second.split()[3], "1"]
    assert ".minorch/logs/flaky/" in second and "exited with code 1" in second
    rows = json.loads(cli(failed_run, "tasks", "flaky", "latest", "--json").output)["tasks"]
    assert rows[2]["state"] == "upstream_failed" and rows[2]["log_path"] is None


def test_logs_prints_a_try_and_refuses_one_that_does_not_exist(failed_run: Path):
    result = cli(failed_run, "logs", "flaky", "2024-01-02", "second")
    assert result.exit_code == 0 and result.output == "second\n"
    assert cli(failed_run, "logs", "flaky", "2024-01-02", "second", "--try", "1", "-f").output == "second\n"
    missing = cli(failed_run, "logs", "flaky", "2024-01-02", "second", "--try", "2")
    assert missing.exit_code == 2 and "has no try 2 (tries: 1)" in missing.stderr
    never = cli(failed_run, "logs", "flaky", "2024-01-02", "third")
    assert never.exit_code == 2 and "has not run yet" in never.stderr


def test_an_unknown_run_is_exit_code_2_with_the_newest_run_ids(failed_run: Path):
    result = cli(failed_run, "tasks", "flaky", "2023-05-05")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "minorch: error: DAG 'flaky' has no run '2023-05-05' (newest runs: "
        "backfill__2024-01-02T00:00:00+00:00; a date or `latest` works too)"
    )


# ---------------------------------------------------------------- db


def test_db_check_passes_on_a_sound_file_and_fails_on_a_stuck_task(failed_run: Path):
    ok = cli(failed_run, "db", "check")
    assert ok.exit_code == 0 and "no problems found" in ok.output
    store = open_store(failed_run)
    run = store.runs("flaky")[0]
    store.set_task_state(run.pk, "third", TaskState.RUNNING, [TaskState.UPSTREAM_FAILED])
    bad = cli(failed_run, "db", "check", "--full")
    assert bad.exit_code == 1 and "queued or running but no scheduler runs" in bad.stderr


def test_db_prune_asks_then_deletes_old_runs_and_their_logs(failed_run: Path):
    logs = failed_run.parent / ".minorch" / "logs" / "flaky"
    assert any(logs.iterdir())
    assert cli(failed_run, "db", "prune", "--older-than", "90d").output == "no finished runs older than 90d\n"
    bare = cli(failed_run, "db", "prune", "--older-than", "90", "--yes")
    assert (
        bare.exit_code == 2 and "--older-than 90 needs a unit" in bare.stderr and open_store(failed_run).runs("flaky")
    )
    declined = cli(failed_run, "db", "prune", "--older-than", "0s", input="n\n")
    assert declined.exit_code == 1 and "delete 1 runs (3 task instances, 2 tries) older than 0s" in declined.output
    done = cli(failed_run, "db", "prune", "--older-than", "0s", "--yes")
    assert done.output == "deleted 1 runs, 3 task instances, 2 tries and 1 log folders\n"
    assert not any(logs.iterdir()) and open_store(failed_run).runs("flaky") == []


def test_db_prune_json_needs_yes_and_says_what_it_deleted(failed_run: Path):
    asking = cli(failed_run, "db", "prune", "--older-than", "0s", "--json")
    assert asking.exit_code == 2 and json.loads(asking.stdout)["error"]["hint"] == "add --yes"
    assert open_store(failed_run).runs("flaky")
    nothing = cli(failed_run, "db", "prune", "--older-than", "90d", "--json", "--yes")
    assert json.loads(nothing.stdout) == {
        "older_than": "90d",
        "runs": 0,
        "task_instances": 0,
        "attempts": 0,
        "log_folders": 0,
        "dry_run": False,
    }
    done = cli(failed_run, "db", "prune", "--older-than", "0s", "--json", "--yes")
    assert done.exit_code == 0
    assert json.loads(done.stdout) == {
        "older_than": "0s",
        "runs": 1,
        "task_instances": 3,
        "attempts": 2,
        "log_folders": 1,
        "dry_run": False,
    }
    assert open_store(failed_run).runs("flaky") == []


# ---------------------------------------------------------------- help and docs


def test_every_command_has_help_and_a_section_in_the_docs():
    docs = (ROOT / "docs" / "operations.md").read_text()
    ctx = click.Context(main, info_name="minorch")
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command.help and command.help.strip(), name
        assert f"minorch {name}" in docs, name
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                assert sub.help and f"minorch {name} {sub.name}" in docs, sub.name


# ---------------------------------------------------------------- with a running scheduler


def start_scheduler(config: Path) -> subprocess.Popen:
    """`minorch up --no-ui` logging to a file (a pipe nobody reads meanwhile would fill and block it)."""
    env = child_env()
    with (config.parent / "up.log").open("w") as log:  # the child writes to its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "minorch", "--config", str(config), "up", "--no-ui"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    settings = load_settings(config)
    deadline = time.monotonic() + 10
    while not ops.scheduler_running(settings):  # the process starting up, not a clock
        assert proc.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
        time.sleep(0.02)
    return proc


def stop_scheduler(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    config = Path(proc.args[4])  # [python, -m, minorch, --config, CONFIG, up, --no-ui]
    return (config.parent / "up.log").read_text()


def wait_until(check, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def minute(i: int) -> str:
    return f"2024-01-01T{i // 60:02d}:{i % 60:02d}"


def test_two_hundred_twenty_actions_race_a_running_scheduler_and_none_is_lost(project: Path):
    proc = start_scheduler(project)
    outputs_ = []
    try:
        for i in range(100):  # 100 runs of 2 tasks, with a pause or unpause after each trigger
            outputs_.append(cli(project, "trigger", "work", "--date", minute(i)))
            outputs_.append(cli(project, "pause" if i % 2 else "unpause", "other"))
        store = open_store(project)
        cleared = 0
        for i in range(0, 100, 5):  # clear 20 runs once they got going: some running, some just finished
            run = store.run_by_id("work", f"manual__{minute(i)}:00+00:00")
            wait_until(lambda run=run: store.task_instances([run.pk])[run.pk]["a"].state is TaskState.SUCCESS)
            outputs_.append(cli(project, "clear", "work", minute(i), "--yes"))
            cleared += len(outputs_[-1].output.split(": ", 1)[1].split(";")[0].split(", "))
        assert all(r.exit_code == 0 for r in outputs_), [r.output for r in outputs_ if r.exit_code]
        assert len(outputs_) == 220 and "running scheduler acts on it" in outputs_[-1].output
        wait_until(lambda: sum(r.state is RunState.SUCCESS for r in store.runs("work", limit=None)) == 100)
        runs = store.runs("work", limit=None)
        tis = store.task_instances(r.pk for r in runs)
        assert sum(ti.state is TaskState.SUCCESS for by_task in tis.values() for ti in by_task.values()) == 200
        assert sum(len(store.attempts(r.pk)) for r in runs) == 200 + cleared  # each cleared task ran once more
        assert store.dag_rows()["other"].paused is True
    finally:
        log = stop_scheduler(proc)
    text = log + "".join(r.output for r in outputs_)
    assert "database is locked" not in text and "Traceback" not in text


def test_a_backfill_with_wait_leaves_the_runs_to_a_running_scheduler_and_waits_for_them(project: Path):
    proc = start_scheduler(project)
    try:
        result = cli(project, "backfill", "flaky", "--start", "2024-01-01", "--end", "2024-01-03", "--wait")
    finally:
        stop_scheduler(proc)
    assert result.exit_code == 1
    assert "waiting for the running scheduler" in result.output and "3/3 runs done, 1 failed" in result.output


def test_logs_follow_prints_a_running_try_until_it_ends(project: Path):
    proc = start_scheduler(project)
    try:
        assert cli(project, "trigger", "slow").exit_code == 0
        store = open_store(project)
        wait_until(lambda: bool(store.runs("slow")) and bool(store.attempts(store.runs("slow")[0].pk)))
        followed = cli(project, "logs", "slow", "latest", "talk", "-f")
        assert followed.exit_code == 0 and followed.output == "first\nsecond\n"
        assert store.attempts(store.runs("slow")[0].pk)[0].end_date is not None
    finally:
        stop_scheduler(proc)


def test_a_damaged_or_empty_state_file_is_one_line_not_a_traceback(tmp_path: Path):
    config = tmp_path / "minorch.toml"
    config.write_text("[minorch]\n")
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "flaky.toml").write_text('[dags.flaky.tasks.a]\ncommand = "true"\n')
    db = tmp_path / ".minorch" / "minorch.db"
    db.parent.mkdir()
    db.write_bytes(bytes(range(256)) * 20)
    for args, code in ((("runs", "flaky"), 2), (("db", "check"), 1)):  # db check found a problem: exit 1
        done = cli(config, *args)
        assert done.exit_code == code and "cannot be used as a state file: file is not a database" in done.stderr
        assert "Traceback" not in done.stderr
    db.write_bytes(b"")
    empty = cli(config, "runs", "flaky")
    assert empty.exit_code == 2 and "no state yet (the file is empty)" in empty.stderr
