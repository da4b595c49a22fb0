"""Authoring decisions with plain data and a fixed NOW: which tasks a branch or a short-circuit
skips (`branch_skips`), what a sensor's poke means (`sensor_outcome`), and that sensors are
poked by the scheduler itself, outside parallelism, max_active_tasks and pools (`Poke`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from minorch import planner as P
from minorch.options import resolve_options
from minorch.records import DagRow, RunRecord, TaskInstance, iso
from minorch.spec import build_dag
from minorch.states import RunState, TaskState

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc)
T0 = NOW.timestamp()
N, R, WAIT = TaskState.NONE, TaskState.RUNNING, TaskState.UP_FOR_RESCHEDULE


def make(tasks: dict, dag_id: str = "etl", **options):
    """A built DAG from task tables; a table without command, python or sensor runs `true`."""
    spec = {
        "schedule": "0 * * * *",
        **options,
        "tasks": {
            tid: entry if {"command", "python", "sensor"} & set(entry) else {"command": "true", **entry}
            for tid, entry in tasks.items()
        },
    }
    return build_dag(dag_id, spec, file=f"dags/{dag_id}.toml")


def branching(flavor: str = "branch") -> dict:
    """pick -> [left, right]; left -> left_after (all_success); right -> right_after;
    [left_after, right_after] -> join (none_failed_min_one_success); join -> done (all_done)."""
    return {
        "pick": {"python": "flows:pick", flavor: True},
        "left": {"after": ["pick"]},
        "right": {"after": ["pick"]},
        "left_after": {"after": ["left"]},
        "right_after": {"after": ["right"]},
        "join": {"after": ["left_after", "right_after"], "trigger_rule": "none_failed_min_one_success"},
        "done": {"after": ["join"], "trigger_rule": "all_done"},
    }


# ---------------------------------------------------------------- branch_skips: branch


@pytest.mark.parametrize(
    "value, skipped",
    [
        ("left", ["right"]),
        (["left"], ["right"]),
        (["left", "right"], []),
        ([], ["left", "right"]),
        (None, ["left", "right"]),
    ],
)
def test_a_branch_skips_the_direct_downstream_tasks_it_did_not_choose(value, skipped):
    assert P.branch_skips(make(branching()), "pick", value) == (skipped, None)


def test_a_branch_skips_only_direct_downstream_tasks_and_leaves_the_rest_to_trigger_rules():
    skipped, error = P.branch_skips(make(branching()), "pick", "right")
    assert (skipped, error) == (["left"], None)  # left_after, join and done decide by their own rules


def test_a_branch_choosing_a_task_that_is_not_directly_downstream_is_an_error_naming_the_choices():
    assert P.branch_skips(make(branching()), "pick", "join") == (
        [],
        "branch chose 'join', which is not directly downstream of 'pick' (choose from: left, right)",
    )


def test_a_branch_choosing_an_unknown_task_is_an_error():
    skipped, error = P.branch_skips(make(branching()), "pick", ["left", "rihgt"])
    assert skipped == [] and error.startswith("branch chose 'rihgt', which is not directly downstream")


@pytest.mark.parametrize("value", [5, {"task": "left"}, ["left", 2], True])
def test_a_branch_returning_something_other_than_ids_is_an_error(value):
    assert P.branch_skips(make(branching()), "pick", value) == (
        [],
        f"branch returned {value!r}; return a task id or a list of task ids",
    )


def test_a_join_directly_under_the_branch_is_not_skipped_when_it_follows_the_chosen_task():
    dag = make(
        {
            "pick": {"python": "flows:pick", "branch": True},
            "left": {"after": ["pick"]},
            "join": {"after": ["pick", "left"], "trigger_rule": "none_failed_min_one_success"},
        }
    )
    assert P.branch_skips(dag, "pick", "left") == ([], None)


# ---------------------------------------------------------------- branch_skips: short-circuit


@pytest.mark.parametrize("value", [False, None, 0, "", [], {}])
def test_a_falsy_short_circuit_skips_everything_downstream_whatever_its_trigger_rule(value):
    dag = make(branching("short_circuit"))
    skipped, error = P.branch_skips(dag, "pick", value)
    assert error is None
    assert skipped == [t for t in dag.topological() if t != "pick"]  # done (all_done) too, upstream first


@pytest.mark.parametrize("value", [True, 1, "yes", [0], {"rows": 0}])
def test_a_truthy_short_circuit_skips_nothing(value):
    assert P.branch_skips(make(branching("short_circuit")), "pick", value) == ([], None)


def test_a_short_circuit_leaves_tasks_that_are_not_downstream_of_it_alone():
    dag = make(
        {
            "check": {"python": "flows:check", "short_circuit": True},
            "after_check": {"after": ["check"]},
            "independent": {},
            "both": {"after": ["after_check", "independent"], "trigger_rule": "all_done"},
        }
    )
    assert P.branch_skips(dag, "check", False) == (["after_check", "both"], None)


# ---------------------------------------------------------------- sensor_outcome


def opts(**given):
    return resolve_options(given)


def test_a_met_sensor_succeeds():
    assert P.sensor_outcome(opts(timeout="1m"), True, T0 - 600, T0) == (TaskState.SUCCESS, None)


def test_an_unmet_sensor_waits_for_the_next_poke_without_a_slot():
    assert P.sensor_outcome(opts(poke_interval="30s"), False, T0, T0) == (WAIT, T0 + 30)


def test_the_default_poke_interval_is_a_minute():
    assert P.sensor_outcome(opts(), False, T0, T0) == (WAIT, T0 + 60)


def test_a_known_moment_sooner_than_the_next_poke_is_when_the_sensor_looks_again():
    assert P.sensor_outcome(opts(poke_interval="1h"), False, T0, T0, check_at=T0 + 90) == (WAIT, T0 + 90)
    assert P.sensor_outcome(opts(poke_interval="1m"), False, T0, T0, check_at=T0 + 3600) == (WAIT, T0 + 60)


def test_a_known_moment_already_past_means_poke_again_now():
    assert P.sensor_outcome(opts(poke_interval="1h"), False, T0, T0, check_at=T0 - 5) == (WAIT, T0)


def test_the_last_poke_is_due_when_the_timeout_ends_not_a_whole_interval_later():
    assert P.sensor_outcome(opts(poke_interval="10m", timeout="15m"), False, T0 - 600, T0) == (WAIT, T0 + 300)


def test_timeout_counts_the_whole_wait_from_the_first_poke_and_fails_the_sensor():
    assert P.sensor_outcome(opts(poke_interval="1m", timeout="10m"), False, T0 - 600, T0) == (TaskState.FAILED, None)
    assert P.sensor_outcome(opts(poke_interval="1m", timeout="10m"), False, T0 - 599, T0)[0] is WAIT


def test_soft_fail_skips_a_timed_out_sensor_instead_of_failing_it():
    assert P.sensor_outcome(opts(timeout="10m", soft_fail=True), False, T0 - 600, T0) == (TaskState.SKIPPED, None)


def test_a_sensor_met_at_its_last_poke_succeeds_even_past_its_timeout():
    assert P.sensor_outcome(opts(timeout="10m"), True, T0 - 900, T0) == (TaskState.SUCCESS, None)


# ---------------------------------------------------------------- Poke actions


def running_run(pk: int, dag_id: str) -> RunRecord:
    logical = NOW - timedelta(hours=1)
    return RunRecord(
        pk,
        dag_id,
        f"scheduled__{iso(logical)}",
        "scheduled",
        iso(logical),
        None,
        None,
        RunState.RUNNING,
        {},
        None,
        T0 - 300,
        None,
    )


def ti(pk: int, tid: str, state: TaskState, next_try_at: float | None = None) -> TaskInstance:
    return TaskInstance(
        pk,
        tid,
        -1,
        state,
        0 if state is N else 1,
        0,
        next_try_at,
        T0 - 60 if state is not N else None,
        None,
        None,
        None,
    )


def decide(
    dags: list, instances: dict[int, dict[str, TaskInstance]], *, parallelism: int = 16, pools: dict | None = None
) -> P.Plan:
    runs = [running_run(pk, dags[0].dag_id if len(dags) == 1 else f"dag{pk}") for pk in instances]
    rows = {
        d.dag_id: DagRow(d.dag_id, False, None, None, None, iso(NOW + timedelta(hours=1)), None, None) for d in dags
    }
    snap = P.Snapshot(rows, runs, instances)
    return P.plan({d.dag_id: d for d in dags}, snap, NOW, parallelism=parallelism, pools=pools or {})


def acted(plan: P.Plan, kind: type) -> list[str]:
    return [a.task_id for a in plan.actions if isinstance(a, kind)]


def sensors_and_shells(sensors: int, shells: int, **sensor_options) -> dict:
    tasks = {f"wait{i:03}": {"sensor": {"file": "never/{{ ds }}.csv"}, **sensor_options} for i in range(sensors)}
    tasks.update({f"work{i:02}": {} for i in range(shells)})
    return tasks


def test_a_hundred_sensors_are_all_poked_and_parallelism_still_launches_other_tasks():
    dag = make(sensors_and_shells(100, 20))
    plan = decide([dag], {1: {tid: ti(1, tid, N) for tid in dag.tasks}}, parallelism=2)
    assert len(acted(plan, P.Poke)) == 100
    assert acted(plan, P.Launch) == ["work00", "work01"]


def test_waiting_sensors_hold_no_slot_so_the_next_tasks_launch():
    dag = make(sensors_and_shells(100, 20))
    states = {tid: ti(1, tid, WAIT, T0 + 30) for tid in dag.tasks if tid.startswith("wait")}
    states.update({tid: ti(1, tid, N) for tid in dag.tasks if tid.startswith("work")})
    plan = decide([dag], {1: states}, parallelism=2)
    assert acted(plan, P.Poke) == []
    assert acted(plan, P.Launch) == ["work00", "work01"]
    assert plan.wake_at == NOW + timedelta(seconds=30)


def test_sensors_due_again_are_poked_even_when_parallelism_is_used_up():
    dag = make(sensors_and_shells(3, 2))
    states = {
        "wait000": ti(1, "wait000", WAIT, T0 - 1),
        "wait001": ti(1, "wait001", WAIT, T0),
        "wait002": ti(1, "wait002", WAIT, T0 + 1),
        "work00": ti(1, "work00", R),
        "work01": ti(1, "work01", R),
    }
    plan = decide([dag], {1: states}, parallelism=2)
    assert acted(plan, P.Poke) == ["wait000", "wait001"]
    assert plan.wake_at == NOW + timedelta(seconds=1)


def test_sensors_in_a_full_pool_and_past_max_active_tasks_are_still_poked():
    dag = make(
        {
            "busy": {"pool": "db"},
            "wait": {"sensor": {"until": "{{ ds }}T06:00"}, "pool": "db"},
            "queued": {"pool": "db"},
        },
        max_active_tasks=1,
    )
    plan = decide(
        [dag], {1: {"busy": ti(1, "busy", R), "wait": ti(1, "wait", N), "queued": ti(1, "queued", N)}}, pools={"db": 1}
    )
    assert acted(plan, P.Poke) == ["wait"]
    assert acted(plan, P.Launch) == []


def test_a_command_sensor_runs_as_a_try_and_so_takes_a_slot():
    dag = make({"busy": {}, "ready": {"sensor": {"command": "test -f ready"}}, "file": {"sensor": {"file": "ready"}}})
    plan = decide(
        [dag], {1: {"busy": ti(1, "busy", R), "ready": ti(1, "ready", N), "file": ti(1, "file", N)}}, parallelism=1
    )
    assert acted(plan, P.Poke) == ["file"]
    assert acted(plan, P.Launch) == []
    freed = decide(
        [dag],
        {
            1: {
                "busy": ti(1, "busy", TaskState.SUCCESS),
                "ready": ti(1, "ready", WAIT, T0),
                "file": ti(1, "file", WAIT, T0 + 60),
            }
        },
        parallelism=1,
    )
    assert acted(freed, P.Launch) == ["ready"]


def test_a_sensor_waits_for_its_upstream_tasks_like_any_task():
    dag = make({"first": {}, "wait": {"sensor": {"file": "x"}, "after": ["first"]}})
    plan = decide([dag], {1: {"first": ti(1, "first", R), "wait": ti(1, "wait", N)}})
    assert acted(plan, P.Poke) == []
