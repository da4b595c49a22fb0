"""The planner's scheduling options, table-tested with plain data: depends_on_past, wait_for_downstream,
priority_weight with weight_rule, max_active_tis_per_dag(run), empty and latest-only tasks, setup and
teardown in the run's state."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_planner import HOUR, NOW, launched, make, of, row, run, tis

from minorch import planner as P
from minorch.states import RunState, TaskState

S, F, N, R, SK, UF = (
    TaskState.SUCCESS,
    TaskState.FAILED,
    TaskState.NONE,
    TaskState.RUNNING,
    TaskState.SKIPPED,
    TaskState.UPSTREAM_FAILED,
)


def plan_with_previous(dag, states: dict, previous: dict | None, **kw):
    by_id = {dag.dag_id: dag}
    snap = P.Snapshot({dag.dag_id: row(dag.dag_id, next_fire=NOW + HOUR)}, [run(1)], {1: tis(1, states)})
    if previous is not None:
        snap.previous[1] = previous
    return P.plan(by_id, snap, NOW, parallelism=kw.get("parallelism", 16), pools={})


# (the previous run's states, the verdict for task b this run)
PAST = [
    (None, True),  # no previous run: runs
    ({"a": S, "b": S}, True),
    ({"a": S, "b": SK}, True),
    ({"a": S, "b": F}, False),
    ({"a": S, "b": R}, False),
    ({"a": S}, True),  # b is new since the previous run
]


@pytest.mark.parametrize(("previous", "runs"), PAST)
def test_depends_on_past_waits_for_the_previous_runs_instance(previous, runs):
    dag = make(tasks={"a": {}, "b": {"depends_on_past": True}})
    plan = plan_with_previous(dag, {"a": N, "b": N}, previous)
    assert ((1, "b") in launched(plan)) is runs
    assert (1, "a") in launched(plan)
    assert not [a for a in of(plan, P.SetTaskState) if a.task_id == "b"]  # waiting changes no state


@pytest.mark.parametrize(
    ("previous", "runs"),
    [({"a": S, "b": S}, True), ({"a": S, "b": F}, False), ({"a": S, "b": N}, False), ({"a": F, "b": UF}, False)],
)
def test_wait_for_downstream_also_waits_for_the_direct_downstream_of_the_previous_instance(previous, runs):
    dag = make(tasks={"a": {"wait_for_downstream": True}, "b": {"after": ["a"]}})
    plan = plan_with_previous(dag, {"a": N, "b": N}, previous)
    assert ((1, "a") in launched(plan)) is runs


def test_priority_weight_decides_which_ready_task_gets_the_short_slots():
    dag = make(
        tasks={
            "low": {"priority_weight": 1},
            "high": {"priority_weight": 5, "weight_rule": "absolute"},
            "chain_head": {},  # downstream rule: 1 + the two below
            "c2": {"after": ["chain_head"]},
            "c3": {"after": ["c2"]},
        }
    )
    assert {t: dag.tasks[t].weight for t in dag.tasks} == {"low": 1, "high": 5, "chain_head": 3, "c2": 2, "c3": 1}
    plan = plan_with_previous(dag, dict.fromkeys(dag.tasks, N), None, parallelism=2)
    assert launched(plan) == [(1, "high"), (1, "chain_head")]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_weights_equal_the_sum_over_every_task_reached_in_any_dag(data):
    """Each task's weight is its own priority_weight plus those of every task it reaches by its rule
    (each counted once, also through diamonds), checked against a walk from the task."""
    size = data.draw(st.integers(1, 12))
    tasks = {}
    for i in range(size):
        tasks[f"t{i}"] = {
            "after": data.draw(st.lists(st.sampled_from([f"t{j}" for j in range(i)]), unique=True)) if i else [],
            "priority_weight": data.draw(st.integers(-3, 5)),
            "weight_rule": data.draw(st.sampled_from(["downstream", "upstream", "absolute"])),
        }
    dag = make(tasks=tasks)
    below = {t: [d for d in tasks if t in tasks[d]["after"]] for t in tasks}
    for tid, entry in tasks.items():
        edges = below if entry["weight_rule"] == "downstream" else {t: tasks[t]["after"] for t in tasks}
        seen, stack = set(), list(edges[tid]) if entry["weight_rule"] != "absolute" else []
        while stack:
            if (found := stack.pop()) not in seen:
                seen.add(found)
                stack.extend(edges[found])
        assert dag.tasks[tid].weight == entry["priority_weight"] + sum(tasks[t]["priority_weight"] for t in seen)


def test_the_upstream_weight_rule_sums_the_tasks_upstream():
    dag = make(tasks={"a": {"weight_rule": "upstream"}, "b": {"after": ["a"], "weight_rule": "upstream"}})
    assert (dag.tasks["a"].weight, dag.tasks["b"].weight) == (1, 2)


def test_max_active_tis_per_dag_counts_the_task_across_runs_and_per_dagrun_within_one():
    dag = make(tasks={"a": {"max_active_tis_per_dag": 1}, "b": {"max_active_tis_per_dagrun": 1}})
    snap = P.Snapshot(
        {"etl": row(next_fire=NOW + HOUR)},
        [run(1), run(2, logical=NOW)],
        {1: tis(1, {"a": R, "b": R}), 2: tis(2, {"a": N, "b": N})},
    )
    plan = P.plan({"etl": dag}, snap, NOW, parallelism=16, pools={})
    assert launched(plan) == [(2, "b")]  # a runs in run 1 already; b may run once per run


def test_an_empty_task_succeeds_without_a_process_and_its_downstream_runs_in_the_same_look():
    dag = make(tasks={"start": {"command": None, "empty": True}, "b": {"after": ["start"]}})
    plan = plan_with_previous(dag, {"start": N, "b": N}, None)
    assert [(a.task_id, a.state) for a in of(plan, P.SetTaskState)] == [("start", S)]
    assert launched(plan) == [(1, "b")]


@pytest.mark.parametrize(
    ("run_type", "logical", "skipped"),
    [
        ("scheduled", NOW, False),  # the 12:00 run at 12:59: the latest
        ("scheduled", NOW - HOUR, True),  # the 11:00 run at 12:59: the schedule fired since
        ("manual", NOW - 3 * HOUR, False),  # a manual run is never skipped
    ],
)
def test_latest_only_skips_direct_downstream_unless_the_run_is_the_latest(run_type, logical, skipped):
    dag = make(tasks={"latest": {"command": None, "latest_only": True}, "b": {"after": ["latest"]}})
    made = run(1, logical=logical.replace(minute=0, second=0))
    made = P.RunRecord(*(made[:3] + (run_type,) + made[4:])) if hasattr(made, "_fields") else made
    made.run_type = run_type
    snap = P.Snapshot({"etl": row(next_fire=NOW + HOUR)}, [made], {1: tis(1, {"latest": N, "b": N})})
    plan = P.plan({"etl": dag}, snap, NOW.replace(minute=59), parallelism=16, pools={})
    states = {(a.task_id, a.state) for a in of(plan, P.SetTaskState)}
    assert ("latest", S) in states
    assert (("b", SK) in states) is skipped
    assert ((1, "b") in launched(plan)) is not skipped


def test_a_failed_teardown_does_not_fail_the_run_but_failed_work_does():
    dag = make(
        tasks={
            "create": {"setup": True},
            "work": {"after": ["create"]},
            "delete": {"after": ["work"], "teardown": {"setups": ["create"]}},
        }
    )
    for work, delete, outcome in ((S, F, RunState.SUCCESS), (F, S, RunState.FAILED)):
        plan = plan_with_previous(dag, {"create": S, "work": work, "delete": delete}, None)
        assert [a.state for a in of(plan, P.FinishRun)] == [outcome]
