"""Operator actions against real SQLite files: resolve, trigger, clear, retry, mark, pause,
backfill, prune, check. Task states are set through the store, as a scheduler would."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import try_row

from minorch import operations as ops
from minorch.config import load_settings
from minorch.errors import ConfigError, MinorchError, NotFound, ScheduleError
from minorch.lock import SchedulerLock
from minorch.spec import build_dag
from minorch.states import RunState, TaskState
from minorch.store import Store

NOW = datetime(2024, 2, 1, 12, 0, tzinfo=timezone.utc).timestamp()
DAY = 86400.0

ETL = {
    "schedule": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "tasks": {
        "extract": {"command": "echo extract"},
        "transform": {"command": "echo transform", "after": ["extract"]},
        "load": {"command": "echo load", "after": ["transform"]},
        "report": {"command": "echo report", "after": ["load"]},
        "audit": {"command": "echo audit"},
    },
}


def make_dag(spec: dict = ETL, dag_id: str = "etl"):
    return build_dag(dag_id, spec, file="dags/etl.toml")


@pytest.fixture
def settings(tmp_path: Path):
    config = tmp_path / "minorch.toml"
    config.write_text('[minorch]\nstate_dir = ".minorch"\n')
    return load_settings(config)


@pytest.fixture
def store(settings):
    opened = Store(settings.db_path)
    yield opened
    opened.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def new(store, dag, when: str, run_type: str = "scheduled"):
    pk = ops.new_run(store, dag, at(when), run_type, {}, NOW)
    return store.run(pk)


def settle(store, run, states: dict[str, str], run_state: str | None = None, now: float = NOW):
    """Put task instances (and the run) into states, as a scheduler finishing tries would."""
    for tid, state in states.items():
        store.set_task_state(
            run.pk, tid, TaskState(state), list(TaskState), try_number=1, end_date=now, note=f"was {state}"
        )
    if run_state:
        store.set_run_state(run.pk, RunState.RUNNING, [RunState.QUEUED], now=now)
        store.set_run_state(run.pk, RunState(run_state), [RunState.RUNNING], now=now)
    return store.run(run.pk)


def states_of(store, run) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in store.task_instances([run.pk])[run.pk].items()}


# ---------------------------------------------------------------- resolve_run


def test_a_run_is_found_by_id_latest_day_in_the_dag_timezone_and_iso_time(store):
    dag = make_dag()
    late = new(store, dag, "2024-01-14T23:30:00+00:00")  # 2024-01-15 00:30 in Berlin
    early = new(store, dag, "2024-01-14T01:30:00+00:00")
    assert ops.resolve_run(store, dag, late.run_id).pk == late.pk
    assert ops.resolve_run(store, dag, "latest").pk == late.pk
    assert ops.resolve_run(store, dag, "2024-01-15").pk == late.pk
    assert ops.resolve_run(store, dag, "2024-01-14").pk == early.pk
    assert ops.resolve_run(store, dag, "2024-01-14T02:30").pk == early.pk


def test_the_newest_run_of_a_day_wins_when_a_day_has_several(store):
    dag = make_dag()
    new(store, dag, "2024-01-15T01:30:00+00:00")
    newer = new(store, dag, "2024-01-15T20:00:00+00:00", "manual")
    assert ops.resolve_run(store, dag, "2024-01-15").pk == newer.pk


def test_an_unknown_run_names_the_newest_three_runs(store):
    dag = make_dag()
    for day in range(10, 15):
        new(store, dag, f"2024-01-{day}T01:30:00+00:00")
    with pytest.raises(NotFound) as err:
        ops.resolve_run(store, dag, "2023-12-01")
    text = str(err.value)
    assert "no run '2023-12-01'" in text
    assert "scheduled__2024-01-14T01:30:00+00:00" in text and "2024-01-12" in text and "2024-01-11" not in text


def test_a_dag_without_runs_says_how_to_start_one(store):
    with pytest.raises(NotFound, match="minorch trigger etl"):
        ops.resolve_run(store, make_dag(), "latest")


# ---------------------------------------------------------------- trigger and new_run


def test_trigger_queues_a_manual_run_for_a_day_in_the_dag_timezone(settings, store):
    dag = make_dag()
    run_id = ops.trigger(settings, dag, "2024-01-15", {"table": "orders"}, now=NOW)
    assert run_id == "manual__2024-01-14T23:00:00+00:00"
    run = store.run_by_id("etl", run_id)
    assert run.state is RunState.QUEUED and run.run_type == "manual" and run.conf == {"table": "orders"}
    assert run.data_interval_start == "2024-01-14T01:30:00+00:00"  # the fire before: 02:30 Berlin on the 14th
    assert set(states_of(store, run)) == set(dag.tasks)


def test_trigger_without_a_date_uses_now_to_the_second(settings):
    assert ops.trigger(settings, make_dag(), None, {}, now=NOW + 0.75) == "manual__2024-02-01T12:00:00+00:00"


def test_two_triggers_without_a_date_in_one_second_get_two_runs(settings):
    dag = make_dag()
    first = ops.trigger(settings, dag, None, {}, now=NOW + 0.25)
    second = ops.trigger(settings, dag, None, {}, now=NOW + 0.5)
    assert (first, second) == ("manual__2024-02-01T12:00:00+00:00", "manual__2024-02-01T12:00:01+00:00")


def test_a_second_trigger_for_the_same_date_is_refused_with_a_hint(settings):
    dag = make_dag()
    ops.trigger(settings, dag, "2024-01-15", {}, now=NOW)
    with pytest.raises(MinorchError, match="already has a run") as err:
        ops.trigger(settings, dag, "2024-01-15", {}, now=NOW)
    assert "minorch clear etl" in str(err.value)


def test_a_run_with_interval_semantics_covers_the_interval_after_its_logical_date(store):
    dag = make_dag({**ETL, "interval_semantics": True, "timezone": "UTC"})
    run = new(store, dag, "2024-01-15T02:30:00+00:00", "backfill")
    assert (run.logical_date, run.data_interval_start, run.data_interval_end) == (
        "2024-01-15T02:30:00+00:00",
        "2024-01-15T02:30:00+00:00",
        "2024-01-16T02:30:00+00:00",
    )


def test_a_run_of_a_manual_only_dag_has_one_instant_for_all_its_dates(store):
    dag = make_dag({**ETL, "schedule": "manual"})
    run = new(store, dag, "2024-01-15T10:00:00+00:00", "manual")
    assert run.data_interval_start == run.data_interval_end == run.logical_date


# ---------------------------------------------------------------- clear


def test_clear_resets_every_task_with_fresh_retries_and_requeues_a_finished_run(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"), "success")
    store.set_task_state(run.pk, "load", TaskState.SUCCESS, [TaskState.SUCCESS], try_number=3)
    store.put_xcom(run.pk, "load", '{"rows": 3}')
    cleared = ops.clear(store, dag, run, now=NOW + 60)
    assert cleared == ["extract", "transform", "load", "report", "audit"]
    tis = store.task_instances([run.pk])[run.pk]
    assert {ti.state for ti in tis.values()} == {TaskState.NONE}
    assert tis["load"].try_number == 3 and tis["load"].tries_since_clear == 0 and tis["load"].note == "cleared"
    assert store.xcoms(run.pk, ["load"]) == {}
    again = store.run(run.pk)
    assert again.state is RunState.QUEUED and again.queued_at == NOW + 60 and again.end_date is None


def test_clear_with_downstream_takes_the_named_task_and_everything_after_it(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"), "success")
    assert ops.clear(store, dag, run, ["transform"], downstream=True, now=NOW) == ["transform", "load", "report"]
    assert states_of(store, run)["extract"] == "success" and states_of(store, run)["audit"] == "success"


def test_clear_with_upstream_takes_the_named_task_and_everything_before_it(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"), "success")
    assert ops.select_clear(store, dag, run, ["load"], upstream=True) == ["extract", "transform", "load"]


def test_clear_failed_only_leaves_successful_tasks_alone(store):
    dag = make_dag()
    run = settle(
        store,
        new(store, dag, "2024-01-15T01:30:00+00:00"),
        {
            "extract": "success",
            "transform": "failed",
            "load": "upstream_failed",
            "report": "upstream_failed",
            "audit": "success",
        },
        "failed",
    )
    assert ops.clear(store, dag, run, failed_only=True, now=NOW) == ["transform", "load", "report"]
    assert states_of(store, run)["extract"] == "success"


def test_clear_takes_a_running_task_back_to_none_so_the_scheduler_kills_its_try(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), {"extract": "running"})
    assert ops.clear(store, dag, run, ["extract"], now=NOW) == ["extract"]
    assert states_of(store, run)["extract"] == "none"


def test_clearing_a_task_of_a_running_run_requeues_the_run_so_a_stale_finish_cannot_land(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"))
    store.set_run_state(run.pk, RunState.RUNNING, [RunState.QUEUED], now=NOW)
    ops.clear(store, dag, run, ["audit"], now=NOW + 1)
    assert store.run(run.pk).state is RunState.QUEUED
    # the scheduler's finish, decided from a snapshot taken before the clear, is guarded on 'running'
    assert not store.set_run_state(run.pk, RunState.SUCCESS, [RunState.RUNNING], now=NOW + 2)


def test_clear_of_tasks_that_never_ran_changes_nothing(store):
    dag = make_dag()
    run = new(store, dag, "2024-01-15T01:30:00+00:00")
    assert ops.clear(store, dag, run, now=NOW) == []


def test_clear_of_an_unknown_task_suggests_the_closest_name(store):
    dag = make_dag()
    run = new(store, dag, "2024-01-15T01:30:00+00:00")
    with pytest.raises(NotFound, match="did you mean 'transform'"):
        ops.clear(store, dag, run, ["transfrom"], now=NOW)


# ---------------------------------------------------------------- retry


def test_retry_clears_failed_tasks_and_the_skipped_ones_after_them(store):
    dag = make_dag()
    run = settle(
        store,
        new(store, dag, "2024-01-15T01:30:00+00:00"),
        {
            "extract": "success",
            "transform": "failed",
            "load": "upstream_failed",
            "report": "skipped",
            "audit": "skipped",
        },
        "failed",
    )
    assert ops.retry(store, dag, run, NOW) == ["transform", "load", "report"]
    assert states_of(store, run) == {
        "extract": "success",
        "transform": "none",
        "load": "none",
        "report": "none",
        "audit": "skipped",
    }
    assert store.run(run.pk).state is RunState.QUEUED


def test_retry_of_a_run_without_failures_leaves_it_as_it_is(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"), "success")
    assert ops.retry(store, dag, run, NOW) == []
    assert store.run(run.pk).state is RunState.SUCCESS


# ---------------------------------------------------------------- mark


def test_marking_a_failed_task_success_clears_the_failures_after_it_and_requeues_the_run(store):
    dag = make_dag()
    run = settle(
        store,
        new(store, dag, "2024-01-15T01:30:00+00:00"),
        {
            "extract": "success",
            "transform": "failed",
            "load": "upstream_failed",
            "report": "upstream_failed",
            "audit": "success",
        },
        "failed",
    )
    ops.mark_task(store, dag, run, "transform", "success", NOW)
    assert states_of(store, run) == {
        "extract": "success",
        "transform": "success",
        "load": "none",
        "report": "none",
        "audit": "success",
    }
    ti = store.task_instances([run.pk])[run.pk]["transform"]
    assert ti.note == "marked success by user" and ti.end_date == NOW
    assert store.run(run.pk).state is RunState.QUEUED


def test_marking_a_task_failed_leaves_the_tasks_after_it_alone(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), dict.fromkeys(dag.tasks, "success"), "success")
    ops.mark_task(store, dag, run, "load", "failed", NOW)
    assert states_of(store, run)["load"] == "failed" and states_of(store, run)["report"] == "success"
    assert store.run(run.pk).state is RunState.QUEUED  # the scheduler settles it as failed


def test_a_task_can_be_marked_only_success_failed_or_skipped(store):
    dag = make_dag()
    run = new(store, dag, "2024-01-15T01:30:00+00:00")
    with pytest.raises(ConfigError, match="success, failed or skipped"):
        ops.mark_task(store, dag, run, "load", "running", NOW)


def test_a_queued_task_cannot_be_marked_until_it_runs(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), {"extract": "queued"})
    with pytest.raises(MinorchError, match="is queued and cannot be marked success"):
        ops.mark_task(store, dag, run, "extract", "success", NOW)


def test_marking_a_run_failed_fails_running_tasks_and_skips_those_not_started(store):
    dag = make_dag()
    run = settle(
        store,
        new(store, dag, "2024-01-15T01:30:00+00:00"),
        {"extract": "success", "transform": "running", "audit": "up_for_retry"},
    )
    store.set_run_state(run.pk, RunState.RUNNING, [RunState.QUEUED], now=NOW)
    ops.mark_run(store, dag, run, "failed", NOW + 5)
    assert states_of(store, run) == {
        "extract": "success",
        "transform": "failed",
        "load": "skipped",
        "report": "skipped",
        "audit": "failed",
    }
    done = store.run(run.pk)
    assert done.state is RunState.FAILED and done.end_date == NOW + 5


def test_marking_a_run_success_finishes_every_unfinished_task_as_success(store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), {"extract": "failed"}, "failed")
    ops.mark_run(store, dag, run, "success", NOW)
    assert states_of(store, run)["extract"] == "failed" and states_of(store, run)["report"] == "success"
    assert store.run(run.pk).state is RunState.SUCCESS


# ---------------------------------------------------------------- pause


def test_pausing_a_dag_no_scheduler_has_seen_yet_survives_its_first_sync(store):
    ops.set_paused(store, "etl", True)
    store.sync_dag("etl", file="dags/etl.toml", schedule="30 2 * * *", description=None, paused_default=False, now=NOW)
    assert store.dag_rows()["etl"].paused is True
    ops.set_paused(store, "etl", False)
    assert store.dag_rows()["etl"].paused is False


# ---------------------------------------------------------------- backfill

DAILY = {"schedule": "@daily", "timezone": "Europe/Berlin", "tasks": {"part": {"command": "echo {{ ds }}"}}}


def test_backfill_creates_one_run_per_day_and_an_end_day_covers_the_whole_day(settings, store):
    dag = make_dag({**DAILY, "schedule": "30 2 * * *"}, "daily")
    plan = ops.backfill(settings, store, dag, "2024-01-01", "2024-01-14", now=NOW)
    assert len(plan.created) == 14 and plan.cleared == [] and plan.skipped == [] and len(plan.run_pks) == 14
    runs = store.runs("daily", limit=None)
    assert {r.run_type for r in runs} == {"backfill"} and {r.state for r in runs} == {RunState.QUEUED}
    assert runs[0].run_id == "backfill__2024-01-14T01:30:00+00:00"


def test_a_backfill_racing_another_over_the_same_days_skips_the_runs_the_other_created(settings, store, monkeypatch):
    # Another backfill (its own connection to the same file) writes days 1-3 after this one has read
    # the existing runs and before it writes: those days are skipped, not reported as runs with no pk.
    dag = make_dag({**DAILY, "schedule": "30 2 * * *"}, "daily")
    read_runs = store.runs

    def read_then_another_backfill_writes(*args, **kwargs):
        runs = read_runs(*args, **kwargs)
        other = Store(settings.db_path)
        try:
            ops.backfill(settings, other, dag, "2024-01-01", "2024-01-03", now=NOW)
        finally:
            other.close()
        return runs

    monkeypatch.setattr(store, "runs", read_then_another_backfill_writes)
    plan = ops.backfill(settings, store, dag, "2024-01-01", "2024-01-05", now=NOW)
    assert len(plan.skipped) == 3 and len(plan.created) == 2
    assert len(plan.run_pks) == 2 and all(isinstance(pk, int) for pk in plan.run_pks)
    assert len(read_runs("daily", limit=None)) == 5


def test_a_big_backfill_writes_in_bounded_transactions_so_a_scheduler_can_write_in_between(settings, store):
    dag = make_dag({**DAILY, "schedule": "30 2 * * *"}, "daily")
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    plan = ops.backfill(settings, store, dag, "2020-01-01", "2021-12-31", yes=True, now=NOW)
    store.db.set_trace_callback(None)
    assert len(plan.created) == 731 and len(store.runs("daily", limit=None)) == 731
    begins = [i for i, sql in enumerate(statements) if sql == "BEGIN IMMEDIATE"]
    commits = [i for i, sql in enumerate(statements) if sql == "COMMIT"]
    assert len(begins) == len(commits) == -(-731 // ops.BACKFILL_BATCH)  # 4 transactions of at most 200 runs
    inserts = [
        sum(1 for sql in statements[b:c] if sql.startswith("INSERT OR IGNORE INTO dag_runs"))
        for b, c in zip(begins, commits, strict=True)
    ]
    assert inserts == [200, 200, 200, 131]


def test_a_dry_run_backfill_plans_without_writing(settings, store):
    dag = make_dag(DAILY, "daily")
    plan = ops.backfill(settings, store, dag, "2024-01-01", "2024-01-07", dry_run=True, now=NOW)
    assert plan.runs == 7 and plan.run_pks == [] and store.runs("daily") == []


def test_backfill_skips_dates_that_ran_and_reprocesses_failed_or_all_on_request(settings, store):
    dag = make_dag(DAILY, "daily")
    ok = settle(store, new(store, dag, "2024-01-01T23:00:00+00:00"), {"part": "success"}, "success")
    bad = settle(store, new(store, dag, "2024-01-02T23:00:00+00:00"), {"part": "failed"}, "failed")
    busy = new(store, dag, "2024-01-03T23:00:00+00:00")
    dates = ("2024-01-02", "2024-01-05")  # local days 2..5: fires at local midnight

    plan = ops.backfill(settings, store, dag, *dates, reprocess="none", dry_run=True, now=NOW)
    assert (len(plan.created), len(plan.cleared), len(plan.skipped)) == (1, 0, 3)

    plan = ops.backfill(settings, store, dag, *dates, reprocess="failed", now=NOW)
    assert plan.cleared == [bad.logical_date] and len(plan.created) == 1 and bad.pk in plan.run_pks
    assert store.run(bad.pk).state is RunState.QUEUED and states_of(store, bad) == {"part": "none"}

    settle(store, store.run(bad.pk), {"part": "success"}, "success")
    plan = ops.backfill(settings, store, dag, *dates, reprocess="all", now=NOW)
    assert plan.cleared == [ok.logical_date, bad.logical_date]
    assert busy.logical_date in plan.skipped  # active runs are left alone
    assert len(store.runs("daily", limit=None)) == 4


def test_backfill_refuses_a_range_that_ends_before_it_starts(settings, store):
    with pytest.raises(ScheduleError, match="swap"):
        ops.backfill(settings, store, make_dag(DAILY, "daily"), "2024-01-10", "2024-01-01", now=NOW)


def test_backfill_refuses_a_dag_without_a_schedule(settings, store):
    with pytest.raises(ScheduleError, match="no logical dates"):
        ops.backfill(
            settings, store, make_dag({**DAILY, "schedule": "manual"}, "daily"), "2024-01-01", "2024-01-02", now=NOW
        )


def test_backfill_refuses_a_range_in_which_the_schedule_never_fires(settings, store):
    dag = make_dag({**DAILY, "schedule": "0 0 1 * *"}, "monthly")
    with pytest.raises(ScheduleError, match="does not fire between 2024-01-02 and 2024-01-20"):
        ops.backfill(settings, store, dag, "2024-01-02", "2024-01-20", now=NOW)


def test_backfill_of_more_than_ten_thousand_runs_needs_yes(settings, store):
    dag = make_dag({**DAILY, "schedule": "every 1m"}, "minutely")
    with pytest.raises(ConfigError, match="would create 10080 runs") as err:
        ops.backfill(settings, store, dag, "2024-01-01", "2024-01-07", now=NOW)
    assert "--yes" in str(err.value)
    assert ops.backfill(settings, store, dag, "2024-01-01", "2024-01-07", yes=True, dry_run=True, now=NOW).runs == 10080


# ---------------------------------------------------------------- prune


def add_try(store, settings, run, task_id: str) -> Path:
    log = settings.log_dir / run.dag_id / run.run_id.replace(":", "-") / task_id / "1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("hello\n")
    store.start_attempt(
        try_row(
            f"{run.pk}-{task_id}",
            run.pk,
            task_id,
            NOW,
            end_date=NOW + 1,
            duration=1.0,
            exit_code=0,
            outcome="success",
            reason="exited with code 0",
            log_path=str(log),
            command="echo",
        )
    )
    return log


def test_prune_deletes_old_finished_runs_with_their_rows_and_log_folders(settings, store):
    dag = make_dag(DAILY, "daily")
    old = settle(
        store, new(store, dag, "2023-01-01T23:00:00+00:00"), {"part": "success"}, "success", now=NOW - 100 * DAY
    )
    recent = settle(store, new(store, dag, "2024-01-30T23:00:00+00:00"), {"part": "success"}, "success")
    active = new(store, dag, "2024-01-31T23:00:00+00:00")
    old_log, recent_log = add_try(store, settings, old, "part"), add_try(store, settings, recent, "part")
    store.put_xcom(old.pk, "part", "1")

    preview = ops.prune(settings, store, 90 * DAY, NOW, dry_run=True)
    assert (preview.runs, preview.task_instances, preview.attempts) == (1, 1, 1) and old_log.exists()

    done = ops.prune(settings, store, 90 * DAY, NOW)
    assert (done.runs, done.task_instances, done.attempts, done.log_folders) == (1, 1, 1, 1)
    assert store.run(old.pk) is None and store.attempts(old.pk) == [] and store.xcoms(old.pk, ["part"]) == {}
    assert not old_log.parent.parent.exists() and recent_log.exists()
    assert store.run(recent.pk) is not None and store.run(active.pk) is not None


# ---------------------------------------------------------------- check


def test_a_sound_state_file_has_no_problems(settings, store):
    new(store, make_dag(), "2024-01-15T01:30:00+00:00")
    assert ops.check(settings, store) == []
    assert ops.check(settings, store, full=True) == []


def test_check_reports_rows_whose_run_is_gone(settings, store):
    raw = sqlite3.connect(settings.db_path)
    raw.execute("INSERT INTO task_instances (run_pk, task_id) VALUES (999, 'ghost')")
    raw.commit()
    raw.close()
    problems = ops.check(settings, store)
    assert problems == [
        "1 rows of task_instances belong to runs that no longer exist (delete them, or restore the file from a backup)"
    ]


def test_check_reports_tries_left_open_only_when_no_scheduler_holds_the_lock(settings, store):
    dag = make_dag()
    run = settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), {"extract": "running"})
    store.start_attempt(try_row("a1", run.pk, "extract", NOW, pid=12345, create_time=1.0, command="echo"))
    problems = ops.check(settings, store)
    assert len(problems) == 1 and "1 tries were left running" in problems[0]
    with SchedulerLock(settings.state_dir):
        assert ops.scheduler_running(settings)
        assert ops.check(settings, store) == []
    assert not ops.scheduler_running(settings)


def test_check_reports_tasks_stuck_running_without_a_try(settings, store):
    dag = make_dag()
    settle(store, new(store, dag, "2024-01-15T01:30:00+00:00"), {"load": "running"})
    problems = ops.check(settings, store)
    assert len(problems) == 1 and "etl scheduled__2024-01-15T01:30:00+00:00 load: running" in problems[0]
