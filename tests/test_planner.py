"""The planner with plain data and a fixed NOW: which runs, which launches, when to look again.
And `outcome` / `retry_delay`: what a finished try means."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from minorch import planner as P
from minorch.options import TaskOptions, resolve_options
from minorch.records import DagRow, RunRecord, TaskInstance, iso
from minorch.spec import build_dag
from minorch.states import RunState, TaskState

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
S, F, N, R = TaskState.SUCCESS, TaskState.FAILED, TaskState.NONE, TaskState.RUNNING


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def make(dag_id: str = "etl", tasks: dict | None = None, **options):
    """A built DAG; `tasks` maps ids to their table (default: one task 'a')."""
    spec = {
        "schedule": "0 * * * *",
        **options,
        "tasks": {tid: {"command": "true", **entry} for tid, entry in (tasks or {"a": {}}).items()},
    }
    return build_dag(dag_id, spec, file=f"dags/{dag_id}.toml")


def chain(*ids: str, **rules: str) -> dict:
    """Tasks a -> b -> c ...; keyword arguments give trigger rules."""
    return {
        tid: ({"after": [ids[i - 1]]} if i else {}) | ({"trigger_rule": rules[tid]} if tid in rules else {})
        for i, tid in enumerate(ids)
    }


def row(dag_id: str = "etl", next_fire: datetime | None = None, paused: bool = False) -> DagRow:
    return DagRow(dag_id, paused, None, None, None, iso(next_fire) if next_fire else None, None, None)


def run(
    pk: int,
    dag_id: str = "etl",
    state: RunState = RunState.RUNNING,
    logical: datetime = NOW - HOUR,
    started: datetime | None = NOW - timedelta(minutes=5),
) -> RunRecord:
    return RunRecord(
        pk,
        dag_id,
        f"scheduled__{iso(logical)}",
        "scheduled",
        iso(logical),
        None,
        None,
        state,
        {},
        None,
        started.timestamp() if started else None,
        None,
    )


def tis(pk: int, states: dict[str, TaskState], next_try_at: float | None = None) -> dict[str, TaskInstance]:
    return {
        tid: TaskInstance(
            pk,
            tid,
            -1,
            state,
            1 if state is not N else 0,
            0,
            next_try_at if state is TaskState.UP_FOR_RETRY else None,
            None,
            None,
            None,
            None,
        )
        for tid, state in states.items()
    }


def decide(
    dags: list,
    rows: list[DagRow] = (),
    runs: list[RunRecord] = (),
    instances: dict | None = None,
    now: datetime = NOW,
    parallelism: int = 16,
    pools: dict | None = None,
    only_runs: set | None = None,
    create_ahead: timedelta = timedelta(0),
):
    by_id = {d.dag_id: d for d in dags}
    rows = {r.dag_id: r for r in rows} or {d.dag_id: row(d.dag_id, next_fire=now + HOUR) for d in dags}
    snap = P.Snapshot(rows, list(runs), instances or {})
    return P.plan(
        by_id, snap, now, parallelism=parallelism, pools=pools or {}, only_runs=only_runs, create_ahead=create_ahead
    )


def of(plan: P.Plan, kind: type) -> list:
    return [a for a in plan.actions if isinstance(a, kind)]


def launched(plan: P.Plan) -> list[tuple[int, str]]:
    return [(a.run_pk, a.task_id) for a in of(plan, P.Launch)]


# ---------------------------------------------------------------- fires and catchup


def test_first_sight_of_a_dag_sets_its_next_fire_without_creating_a_run():
    plan = decide([make()], [row(next_fire=None)])
    assert of(plan, P.CreateRun) == []
    assert of(plan, P.SetFires) == [P.SetFires("etl", at("2024-03-01T13:00"), None)]
    assert plan.wake_at == at("2024-03-01T13:00")


def test_first_sight_with_catchup_starts_from_the_start_date():
    plan = decide([make(catchup=True, start_date="2024-03-01")], [row(next_fire=None)])
    assert of(plan, P.SetFires) == [P.SetFires("etl", at("2024-03-01T00:00"), None)]
    assert of(plan, P.CreateRun) == []


@pytest.mark.parametrize(
    ("catchup", "created"),
    [
        (True, [at(f"2024-03-01T{h:02d}:00") for h in range(13)]),
        ("latest", [at("2024-03-01T12:00")]),
        (False, [at("2024-03-01T12:00")]),
    ],
)
def test_after_twelve_hours_down_catchup_decides_how_many_runs_are_created(catchup, created):
    plan = decide([make(catchup=catchup)], [row(next_fire=at("2024-03-01T00:00"))])
    assert [a.fire for a in of(plan, P.CreateRun)] == created
    assert of(plan, P.SetFires) == [P.SetFires("etl", at("2024-03-01T13:00"), created[-1])]
    assert plan.wake_at == at("2024-03-01T13:00")


def test_without_catchup_a_fire_missed_by_more_than_a_minute_creates_no_run():
    later = NOW + timedelta(minutes=5)
    plan = decide([make(catchup=False)], [row(next_fire=at("2024-03-01T00:00"))], now=later)
    assert of(plan, P.CreateRun) == []
    assert of(plan, P.SetFires) == [P.SetFires("etl", at("2024-03-01T13:00"), None)]
    assert [
        a.fire
        for a in of(decide([make(catchup="latest")], [row(next_fire=at("2024-03-01T00:00"))], now=later), P.CreateRun)
    ] == [at("2024-03-01T12:00")]


def test_a_fire_not_yet_due_creates_nothing_and_says_when_to_look_again():
    plan = decide([make()], [row(next_fire=at("2024-03-01T13:00"))])
    assert plan.actions == []
    assert plan.wake_at == at("2024-03-01T13:00")


def test_the_end_date_stops_fires_and_leaves_no_next_fire():
    dag = make(catchup=True, end_date="2024-03-01T06:30")
    plan = decide([dag], [row(next_fire=at("2024-03-01T00:00"))])
    assert [a.fire.hour for a in of(plan, P.CreateRun)] == [0, 1, 2, 3, 4, 5, 6]
    assert of(plan, P.SetFires) == [P.SetFires("etl", None, at("2024-03-01T06:00"))]
    assert plan.wake_at is None


AHEAD = timedelta(seconds=0.25)


def test_a_fire_within_create_ahead_gets_its_run_now_and_the_next_fire_is_looked_at_that_much_before_it():
    just_before = at("2024-03-01T13:00") - timedelta(seconds=0.1)
    plan = decide([make()], [row(next_fire=at("2024-03-01T13:00"))], now=just_before, create_ahead=AHEAD)
    assert of(plan, P.CreateRun) == [P.CreateRun("etl", at("2024-03-01T13:00"))]
    assert of(plan, P.SetFires) == [P.SetFires("etl", at("2024-03-01T14:00"), at("2024-03-01T13:00"))]
    assert plan.wake_at == at("2024-03-01T14:00") - AHEAD


def test_a_fire_further_off_than_create_ahead_creates_nothing_and_wakes_that_much_before_it():
    earlier = at("2024-03-01T13:00") - timedelta(seconds=0.3)
    plan = decide([make()], [row(next_fire=at("2024-03-01T13:00"))], now=earlier, create_ahead=AHEAD)
    assert plan.actions == []
    assert plan.wake_at == at("2024-03-01T13:00") - AHEAD
    first = decide([make()], [row(next_fire=None)], create_ahead=AHEAD)
    assert first.wake_at == at("2024-03-01T13:00") - AHEAD


def ahead_of(fire: datetime, pk: int = 1, run_type: str = "scheduled") -> RunRecord:
    """A queued run made for `fire` (data interval [fire - 1h, fire]) before the fire came."""
    made = run(pk, state=RunState.QUEUED, logical=fire, started=None)
    made.run_type, made.run_id = run_type, f"{run_type}__{iso(fire)}"
    made.data_interval_start, made.data_interval_end = iso(fire - HOUR), iso(fire)
    return made


def test_a_run_created_ahead_of_its_fire_starts_and_launches_only_once_the_fire_comes():
    fire = at("2024-03-01T13:00")
    dag, rows = make(), [row(next_fire=fire + HOUR)]
    early = decide([dag], rows, [ahead_of(fire)], {1: tis(1, {"a": N})}, now=fire - timedelta(seconds=0.1))
    assert of(early, P.StartRun) == [] and launched(early) == []
    assert early.wake_at == fire
    on_time = decide([dag], rows, [ahead_of(fire)], {1: tis(1, {"a": N})}, now=fire)
    assert of(on_time, P.StartRun) == [P.StartRun(1)]
    assert launched(on_time) == [(1, "a")]


@pytest.mark.parametrize("run_type", ["manual", "backfill", "asset_triggered"])
def test_only_scheduled_runs_wait_for_their_fire_a_run_asked_for_with_a_later_date_starts_now(run_type):
    later = at("2024-03-01T13:00")
    plan = decide([make()], [], [ahead_of(later, run_type=run_type)], {1: tis(1, {"a": N})})
    assert of(plan, P.StartRun) == [P.StartRun(1)]


def test_a_paused_dag_gets_no_runs_and_no_launches():
    dag = make(tasks=chain("a", "b"))
    plan = decide([dag], [row(next_fire=at("2024-03-01T00:00"), paused=True)], [run(1)], {1: tis(1, {"a": N, "b": N})})
    assert plan.actions == []


# ---------------------------------------------------------------- runs


def test_max_active_runs_starts_the_oldest_queued_run_and_queues_the_rest():
    dag = make(max_active_runs=1)
    queued = [run(pk, state=RunState.QUEUED, logical=NOW - pk * HOUR, started=None) for pk in (3, 2, 1)]
    instances = {r.pk: tis(r.pk, {"a": N}) for r in queued}
    plan = decide([dag], runs=queued, instances=instances)
    assert of(plan, P.StartRun) == [P.StartRun(3)]
    assert launched(plan) == [(3, "a")]


def test_a_running_run_holds_the_only_slot_of_max_active_runs():
    dag = make(max_active_runs=1)
    runs = [run(1), run(2, state=RunState.QUEUED, logical=NOW, started=None)]
    plan = decide([dag], runs=runs, instances={1: tis(1, {"a": R}), 2: tis(2, {"a": N})})
    assert of(plan, P.StartRun) == []
    assert launched(plan) == []


def test_a_run_finishes_by_its_leaves():
    dag = make(tasks=chain("a", "b", b="all_done") | {"c": {}})
    failed_middle = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": F, "b": S, "c": S})})
    assert of(failed_middle, P.FinishRun) == [P.FinishRun(1, RunState.SUCCESS, "all tasks done")]
    failed_leaf = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": S, "b": S, "c": F})})
    assert of(failed_leaf, P.FinishRun) == [P.FinishRun(1, RunState.FAILED, "failed: c")]
    blamed = decide(
        [make(tasks=chain("a", "b"))], runs=[run(1)], instances={1: tis(1, {"a": F, "b": TaskState.UPSTREAM_FAILED})}
    )
    assert of(blamed, P.FinishRun) == [P.FinishRun(1, RunState.FAILED, "failed: a (1 more not run: upstream_failed)")]
    skipped_leaf = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": S, "b": TaskState.SKIPPED, "c": S})})
    assert [a.state for a in of(skipped_leaf, P.FinishRun)] == [RunState.SUCCESS]


def test_a_run_with_an_unfinished_task_does_not_finish():
    dag = make(tasks=chain("a", "b"))
    plan = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": S, "b": R})})
    assert of(plan, P.FinishRun) == []


def test_dagrun_timeout_fails_the_run_once_its_deadline_passed_and_wakes_for_it_before():
    dag = make(dagrun_timeout="1h")
    before = decide([dag], runs=[run(1, started=NOW - timedelta(minutes=59))], instances={1: tis(1, {"a": R})})
    assert of(before, P.FinishRun) == []
    assert before.wake_at == NOW + timedelta(minutes=1)
    after = decide([dag], runs=[run(1, started=NOW - HOUR)], instances={1: tis(1, {"a": R})})
    [finish] = of(after, P.FinishRun)
    assert finish.state is RunState.FAILED
    assert "dagrun_timeout" in finish.reason


def test_tasks_added_to_the_dag_after_the_run_was_created_are_added_and_launched():
    dag = make(tasks={"a": {}, "new": {}})
    plan = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": S})})
    assert of(plan, P.AddTasks) == [P.AddTasks(1, ("new",))]
    assert launched(plan) == [(1, "new")]


def test_a_queued_run_starts_and_launches_its_first_tasks_in_the_same_plan():
    dag = make(tasks=chain("a", "b"))
    plan = decide([dag], runs=[run(1, state=RunState.QUEUED, started=None)], instances={1: tis(1, {"a": N, "b": N})})
    assert of(plan, P.StartRun) == [P.StartRun(1)]
    assert launched(plan) == [(1, "a")]


# ---------------------------------------------------------------- tasks


def test_a_failure_marks_every_level_downstream_upstream_failed_in_one_plan():
    dag = make(tasks=chain("a", "b", "c", "d", "cleanup", cleanup="all_done"))
    plan = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": F, "b": N, "c": N, "d": N, "cleanup": N})})
    moves = [(a.task_id, a.state, a.expect) for a in of(plan, P.SetTaskState)]
    assert moves == [(t, TaskState.UPSTREAM_FAILED, N) for t in ("b", "c", "d")]
    assert launched(plan) == [(1, "cleanup")]


def test_a_skip_propagates_down_a_chain_of_all_success_tasks_in_one_plan():
    dag = make(tasks=chain("a", "b", "c", "d", d="none_failed_min_one_success"))
    plan = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": TaskState.SKIPPED, "b": N, "c": N, "d": N})})
    assert [(a.task_id, a.state) for a in of(plan, P.SetTaskState)] == [
        ("b", TaskState.SKIPPED),
        ("c", TaskState.SKIPPED),
        ("d", TaskState.SKIPPED),
    ]
    assert "all_success" in of(plan, P.SetTaskState)[0].note


def test_up_for_retry_waits_until_next_try_at_and_wake_at_says_when():
    dag = make()
    due = (NOW + timedelta(seconds=30)).timestamp()
    waiting = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": TaskState.UP_FOR_RETRY}, next_try_at=due)})
    assert launched(waiting) == []
    assert waiting.wake_at == NOW + timedelta(seconds=30)
    ready = decide(
        [dag],
        runs=[run(1)],
        instances={1: tis(1, {"a": TaskState.UP_FOR_RETRY}, next_try_at=due)},
        now=NOW + timedelta(seconds=30),
    )
    assert launched(ready) == [(1, "a")]


def test_max_active_tasks_limits_launches_per_dag_counting_running_tasks():
    dag = make(tasks={t: {} for t in "abcde"}, max_active_tasks=2)
    fresh = decide([dag], runs=[run(1)], instances={1: tis(1, dict.fromkeys("abcde", N))})
    assert launched(fresh) == [(1, "a"), (1, "b")]
    one_running = decide([dag], runs=[run(1)], instances={1: tis(1, {"a": R} | dict.fromkeys("bcde", N))})
    assert launched(one_running) == [(1, "b")]


def test_parallelism_limits_launches_across_dags():
    one, two = make("one", tasks={"a": {}, "b": {}}), make("two", tasks={"a": {}, "b": {}})
    runs = [run(1, "one"), run(2, "two")]
    instances = {1: tis(1, {"a": R, "b": N}), 2: tis(2, {"a": N, "b": N})}
    plan = decide([one, two], runs=runs, instances=instances, parallelism=3)
    assert launched(plan) == [(1, "b"), (2, "a")]


def test_a_named_pool_limits_its_tasks_and_leaves_other_tasks_alone():
    dag = make(tasks={"db1": {"pool": "db"}, "db2": {"pool": "db"}, "db3": {"pool": "db"}, "cpu": {}})
    fresh = decide([dag], runs=[run(1)], instances={1: tis(1, dict.fromkeys(dag.tasks, N))}, pools={"db": 2})
    assert launched(fresh) == [(1, "db1"), (1, "db2"), (1, "cpu")]
    busy = decide(
        [dag], runs=[run(1)], instances={1: tis(1, {"db1": R, "db2": R, "db3": N, "cpu": S})}, pools={"db": 2}
    )
    assert launched(busy) == []


def test_only_runs_limits_work_to_those_runs_creates_no_runs_and_ignores_pause():
    one, two = make("one"), make("two")
    rows = [row("one", next_fire=at("2024-03-01T12:00"), paused=True), row("two", next_fire=at("2024-03-01T12:00"))]
    plan = decide(
        [one, two],
        rows,
        runs=[run(1, "one"), run(2, "two")],
        instances={1: tis(1, {"a": N}), 2: tis(2, {"a": N})},
        only_runs={1},
    )
    assert launched(plan) == [(1, "a")]
    assert of(plan, P.CreateRun) == [] and of(plan, P.SetFires) == []


# ---------------------------------------------------------------- what a try's end means


def opts(**given) -> TaskOptions:
    return resolve_options(given)


@pytest.mark.parametrize(
    ("code", "try_number", "state"),
    [
        (0, 1, TaskState.SUCCESS),
        (99, 1, TaskState.SKIPPED),
        (1, 1, TaskState.UP_FOR_RETRY),
        (1, 2, TaskState.UP_FOR_RETRY),
        (None, 2, TaskState.UP_FOR_RETRY),
        (1, 3, TaskState.FAILED),
        (None, 3, TaskState.FAILED),
    ],
)
def test_a_try_succeeds_is_skipped_retries_or_fails_by_its_exit_and_the_retries_left(code, try_number, state):
    new, next_try_at = P.outcome(opts(retries=2, retry_delay="30s"), try_number, code, end=1000.0)
    assert new is state
    assert next_try_at == (1030.0 if state is TaskState.UP_FOR_RETRY else None)


def test_skip_exit_code_is_configurable_and_skips_instead_of_retrying():
    custom = opts(retries=3, skip_exit_code=3)
    assert P.outcome(custom, 1, 3, end=0.0) == (TaskState.SKIPPED, None)
    assert P.outcome(custom, 1, 99, end=0.0)[0] is TaskState.UP_FOR_RETRY


def test_exponential_backoff_doubles_per_try_with_at_most_ten_percent_jitter_and_a_cap():
    backoff = opts(retry_delay="10s", retry_exponential_backoff=True, max_retry_delay="1m")
    rand = random.Random(7)
    for _ in range(200):
        delays = [P.retry_delay(backoff, n, rand) for n in (1, 2, 3, 4, 5)]
        assert 10 <= delays[0] <= 11
        assert 20 <= delays[1] <= 22
        assert 40 <= delays[2] <= 44
        assert delays[3] == delays[4] == 60


def test_jitter_spreads_retries_that_failed_together():
    backoff = opts(retry_delay="10s", retry_exponential_backoff=True)
    rand = random.Random(1)
    assert len({round(P.retry_delay(backoff, 1, rand), 6) for _ in range(20)}) > 10


def test_a_plain_retry_delay_is_constant_and_capped_by_max_retry_delay():
    assert [P.retry_delay(opts(retry_delay="10s"), n) for n in (1, 2, 5)] == [10, 10, 10]
    assert P.retry_delay(opts(retry_delay="10m", max_retry_delay="1m"), 1) == 60
    assert P.retry_delay(opts(retry_delay="10s", retry_exponential_backoff=True), 30) == 86400
