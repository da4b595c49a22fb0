"""Incremental planning against a full re-read, after random interleavings of writes.

The scheduler keeps the active runs' task instances in memory (`live.LiveState`, fed by the store's
change feed) and plans only what changed (`planner.plan(memory=..., changed=...)`). Here a real state
file takes random sequences of what the CLI does (trigger, clear, mark a task or a run, pause) through
a second connection, and of what a scheduler does (apply the plan's actions, end running tries as
success, failure or a retry) through the first. After every write the in-memory state must equal a
full read of the file, and the incremental plan must equal a plan made from that full read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minorch import operations as ops
from minorch import planner as P
from minorch.errors import MinorchError
from minorch.live import LiveState
from minorch.spec import build_dag
from minorch.states import RunState, TaskState
from minorch.store import Store

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)

# One DAG with a chain, a fan-in with other trigger rules, a mapped task, an empty task; one with
# priorities (its launches are ordered across runs); one that looks at the previous run.
DAGS = {
    "shapes": {
        "max_active_runs": 2,
        "max_active_tasks": 3,
        "tasks": {
            "a": {"command": "true"},
            "b": {"command": "true", "after": ["a"]},
            "c": {"command": "true", "after": ["a"]},
            "join": {"command": "true", "after": ["b", "c"], "trigger_rule": "one_failed"},
            "done": {"command": "true", "after": ["b", "c"], "trigger_rule": "all_done"},
            "copies": {"command": "true", "map_over": [1, 2, 3], "after": ["b"]},
            "nothing": {"empty": True, "after": ["c"]},
            "waits": {"sensor": {"file": "never-there"}, "after": ["a"]},
        },
    },
    "ranked": {
        "tasks": {
            "low": {"command": "true", "priority_weight": 1},
            "high": {"command": "true", "priority_weight": 5},
            "last": {"command": "true", "after": ["low", "high"]},
        },
    },
    "pastly": {
        "tasks": {
            "first": {"command": "true", "depends_on_past": True},
            "second": {"command": "true", "after": ["first"]},
        },
    },
}

ACTIONS = st.one_of(
    st.tuples(st.just("trigger"), st.sampled_from(sorted(DAGS)), st.integers(0, 5)),
    st.tuples(st.just("clear"), st.integers(0, 20), st.integers(0, 10), st.booleans()),
    st.tuples(
        st.just("mark"), st.integers(0, 20), st.integers(0, 10), st.sampled_from(["success", "failed", "skipped"])
    ),
    st.tuples(st.just("mark_run"), st.integers(0, 20), st.sampled_from(["success", "failed"])),
    st.tuples(st.just("pause"), st.sampled_from(sorted(DAGS)), st.booleans()),
    st.tuples(st.just("end"), st.integers(0, 20), st.sampled_from(["success", "failed", "up_for_retry", "due"])),
)


@pytest.fixture(scope="module")
def dags():
    return {dag_id: build_dag(dag_id, spec, file=f"dags/{dag_id}.toml") for dag_id, spec in DAGS.items()}


def full_snapshot(store: Store) -> P.Snapshot:
    runs = store.active_runs()
    pks = [r.pk for r in runs]
    return P.Snapshot(store.dag_rows(), runs, store.task_instances(pks), store.mapped_instances(pks))


def assert_same_state(live: LiveState, store: Store) -> None:
    full = full_snapshot(store)
    assert live.ordered_runs() == full.runs
    assert live.tis == full.tis
    assert {pk: m for pk, m in live.mapped.items() if m} == {pk: m for pk, m in full.mapped.items() if m}
    held = {
        (pk, tid, index): run.dag_id
        for run in full.runs
        for pk, tis in [(run.pk, full.tis[run.pk])]
        for (tid, index), ti in [((t, -1), ti) for t, ti in tis.items()]
        + [((t, i), ti) for t, copies in full.mapped.get(pk, {}).items() for i, ti in copies.items()]
        if ti.state.active
    }
    assert live.held == held


def with_previous(snap: P.Snapshot, store: Store, dags) -> P.Snapshot:
    for run in snap.runs:
        if P.links(dags[run.dag_id]).looks_at_past:
            previous = store.previous_run_states(run.dag_id, run.logical_date)
            if previous is not None:
                snap.previous[run.pk] = previous
    return snap


def apply(store: Store, dags, decided: P.Plan, step: int) -> None:
    """What the scheduler's step writes for each action (no processes: a launch is a running row)."""
    stamp = NOW.timestamp()
    for action in decided.actions:
        if isinstance(action, P.StartRun):
            store.set_run_state(action.run_pk, RunState.RUNNING, [RunState.QUEUED], now=stamp)
        elif isinstance(action, P.FinishRun):
            store.set_run_state(action.run_pk, action.state, [RunState.RUNNING], now=stamp)
        elif isinstance(action, P.AddTasks):
            store.add_task_instances(action.run_pk, action.task_ids)
        elif isinstance(action, P.SetTaskState):
            store.set_task_state(action.run_pk, action.task_id, action.state, [action.expect], note=action.note)
        elif isinstance(action, P.Expand):
            store.expand_task(action.run_pk, action.task_id, 1 + step % 3, now=stamp, note="mapped")
        elif isinstance(action, P.FinishMapped):
            store.set_task_state(action.run_pk, action.task_id, action.state, [TaskState.RUNNING], note=action.note)
        elif isinstance(action, P.Launch):
            ti = store.task_instance(action.run_pk, action.task_id, action.map_index)
            store.set_task_state(
                action.run_pk,
                action.task_id,
                TaskState.RUNNING,
                [TaskState.NONE, TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE],
                map_index=action.map_index,
                try_number=ti.try_number + 1,
            )


def cli_write(store: Store, dags, action: tuple) -> None:
    kind = action[0]
    runs = store.runs(limit=None)
    run = runs[action[1] % len(runs)] if runs and kind in ("clear", "mark", "mark_run") else None
    stamp = NOW.timestamp()
    try:
        if kind == "trigger":
            ops.new_run(store, dags[action[1]], NOW - timedelta(days=action[2]), "manual", None, stamp)
        elif kind == "clear" and run is not None:
            dag = dags[run.dag_id]
            task = sorted(dag.tasks)[action[2] % len(dag.tasks)]
            ops.clear(store, dag, run, [task], downstream=action[3], now=stamp)
        elif kind == "mark" and run is not None:
            dag = dags[run.dag_id]
            task = sorted(dag.tasks)[action[2] % len(dag.tasks)]
            ops.mark_task(store, dag, run, task, action[3], stamp)
        elif kind == "mark_run" and run is not None:
            ops.mark_run(store, dags[run.dag_id], run, action[2], stamp)
        elif kind == "pause":
            ops.set_paused(store, action[1], action[2])
    except MinorchError:
        pass  # refused (a task that cannot be marked so, a run id taken): nothing was written


def end_try(store: Store, action: tuple) -> None:
    """A running try ends (the scheduler records it): success, failure, or a retry later or now."""
    running = [
        (pk, tid, index)
        for pk, tid, index, *_ in (
            (ti.run_pk, ti.task_id, ti.map_index)
            for r in store.active_runs()
            for ti in list(store.task_instances([r.pk])[r.pk].values())
            + [c for copies in store.mapped_instances([r.pk]).get(r.pk, {}).values() for c in copies.values()]
            if ti.state is TaskState.RUNNING
        )
    ]
    if not running:
        return
    pk, tid, index = running[action[1] % len(running)]
    state = TaskState.UP_FOR_RETRY if action[2] == "due" else TaskState(action[2])
    later = NOW.timestamp() + (60 if action[2] == "up_for_retry" else -1)
    store.set_task_state(
        pk,
        tid,
        state,
        [TaskState.RUNNING],
        map_index=index,
        next_try_at=later if state is TaskState.UP_FOR_RETRY else None,
    )


def step(live: LiveState, store: Store, dags, memory: dict, number: int) -> None:
    """One scheduler step both ways: the incremental plan must equal the plan of a full read."""
    live.refresh()
    assert_same_state(live, store)
    kept = P.Snapshot(store.dag_rows(), live.ordered_runs(), live.tis, live.mapped, held=live.held)
    parallelism = 2 + number % 3
    incremental = P.plan(
        dags, with_previous(kept, store, dags), NOW, parallelism=parallelism, pools={}, memory=memory,
        changed=live.take_changed(),
    )  # fmt: skip
    full = P.plan(dags, with_previous(full_snapshot(store), store, dags), NOW, parallelism=parallelism, pools={})
    assert incremental.actions == full.actions
    assert incremental.wake_at == full.wake_at
    apply(store, dags, full, number)
    live.refresh()
    assert_same_state(live, store)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(st.tuples(st.sampled_from(sorted(DAGS)), st.integers(0, 5)), min_size=1, max_size=4),
    script=st.lists(ACTIONS, min_size=1, max_size=30),
)
def test_incremental_state_and_plan_equal_a_full_read_after_every_write(tmp_path_factory, dags, first, script):
    path = Path(tmp_path_factory.mktemp("live")) / "minorch.db"
    scheduler, cli = Store(path), Store(path)
    try:
        for dag_id in dags:
            scheduler.sync_dag(dag_id, file=None, schedule=None, description=None, paused_default=False, now=0.0)
        live, memory = LiveState(scheduler), {}
        for dag_id, days in first:
            cli_write(cli, dags, ("trigger", dag_id, days))
        for number, action in enumerate(script):
            step(live, scheduler, dags, memory, number)
            if action[0] == "end":
                end_try(scheduler, action)
            else:
                cli_write(cli, dags, action)
            live.refresh()
            assert_same_state(live, scheduler)
        for number in range(len(script), len(script) + 3):
            step(live, scheduler, dags, memory, number)
    finally:
        scheduler.close()
        cli.close()


def test_pruned_feed_entries_make_a_reader_read_everything_again(tmp_path, dags):
    path = tmp_path / "minorch.db"
    scheduler, cli = Store(path), Store(path)
    live = LiveState(scheduler)
    live.refresh()
    ops.new_run(cli, dags["shapes"], NOW, "manual", None, NOW.timestamp())
    cli.prune_changes(cli.last_change())  # as another reader would, before this one read them
    ops.new_run(cli, dags["ranked"], NOW, "manual", None, NOW.timestamp())
    live.refresh()
    assert_same_state(live, scheduler)
    assert {r.dag_id for r in live.ordered_runs()} == {"shapes", "ranked"}


def test_a_sensor_is_poked_while_every_slot_is_taken_incrementally_too(tmp_path):
    dag = build_dag("busy", {"tasks": {"x": {"command": "true"}, "y": {"command": "true"},
                                       "s": {"sensor": {"file": "never-there"}}}}, file="dags/busy.toml")  # fmt: skip
    store = Store(tmp_path / "minorch.db")
    store.sync_dag("busy", file=None, schedule=None, description=None, paused_default=False, now=0.0)
    pk = ops.new_run(store, dag, NOW, "manual", None, NOW.timestamp())
    store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=NOW.timestamp())
    store.set_task_state(pk, "x", TaskState.RUNNING, [TaskState.NONE], try_number=1)
    live, memory = LiveState(store), {}
    for _ in range(2):  # the first plan looks at the whole run, the second only at what it remembers
        live.refresh()
        snap = P.Snapshot(store.dag_rows(), live.ordered_runs(), live.tis, live.mapped, held=live.held)
        decided = P.plan({"busy": dag}, snap, NOW, parallelism=1, pools={}, memory=memory, changed=live.take_changed())
        assert decided.actions == [P.Poke(pk, "s")]
    store.close()
