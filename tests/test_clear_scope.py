"""Which tasks `clear --upstream/--downstream` picks, table-tested on the bundled DAGs (the CLI and
the UI both go through operations.clear_scope): upstream means ancestors, downstream descendants."""

from __future__ import annotations

from pathlib import Path

import pytest

from minorch import operations as ops
from minorch.config import load_settings
from minorch.registry import load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundled():
    registry = load(load_settings(ROOT / "minorch.toml"))
    assert not registry.errors
    return registry.dags


PIPELINE_TASKS = [
    "extract_orders",
    "extract_customers",
    "transform_orders",
    "transform_customers",
    "load_orders",
    "build_mart",
    "run_checks",
]

# (task named, downstream, upstream) -> tasks cleared, in daily_pipeline:
#   extract_orders -> transform_orders -> load_orders -> build_mart -> run_checks
#   extract_customers -> transform_customers ---------> build_mart
#   transform_orders -> build_mart
PIPELINE = [
    ("transform_customers", False, False, {"transform_customers"}),
    ("transform_customers", True, False, {"transform_customers", "build_mart", "run_checks"}),
    ("transform_customers", False, True, {"transform_customers", "extract_customers"}),
    ("transform_customers", True, True, {"extract_customers", "transform_customers", "build_mart", "run_checks"}),
    ("load_orders", True, True, {"extract_orders", "transform_orders", "load_orders", "build_mart", "run_checks"}),
    ("load_orders", False, True, {"extract_orders", "transform_orders", "load_orders"}),
    ("extract_orders", True, False, {"extract_orders", "transform_orders", "load_orders", "build_mart", "run_checks"}),
    ("extract_orders", True, True, {"extract_orders", "transform_orders", "load_orders", "build_mart", "run_checks"}),
    ("run_checks", False, True, set(PIPELINE_TASKS)),
    ("run_checks", True, False, {"run_checks"}),
]


@pytest.mark.parametrize(("named", "down", "up", "expected"), PIPELINE)
def test_daily_pipeline_scope(bundled, named, down, up, expected):
    assert ops.clear_scope(bundled["daily_pipeline"], [named], down, up) == expected


def _closure(dag, start: str, edges) -> set[str]:
    seen, todo = set(), list(edges(dag, start))
    while todo:
        tid = todo.pop()
        if tid not in seen:
            seen.add(tid)
            todo.extend(edges(dag, tid))
    return seen


def _parents(dag, tid):
    return dag.tasks[tid].upstream


def _children(dag, tid):
    return [t for t, task in dag.tasks.items() if tid in task.upstream]


def test_every_bundled_task_and_flag_combination(bundled):
    """For every task of every bundled DAG: the scope is the task, its ancestors if --upstream,
    its descendants if --downstream, and nothing else (no sibling of an ancestor) but the setups
    and teardowns those need."""
    checked = 0
    for dag in bundled.values():
        for tid in dag.tasks:
            ancestors, descendants = _closure(dag, tid, _parents), _closure(dag, tid, _children)
            for down in (False, True):
                for up in (False, True):
                    expected = {tid} | (descendants if down else set()) | (ancestors if up else set())
                    expected = dag.with_setups_and_teardowns(expected)  # a cleared task gets its resource again
                    assert ops.clear_scope(dag, [tid], down, up) == expected, (dag.dag_id, tid, down, up)
                    checked += 1
    assert checked == 4 * sum(len(d.tasks) for d in bundled.values())


def test_two_named_tasks_union_their_own_scopes(bundled):
    dag = bundled["daily_pipeline"]
    both = ops.clear_scope(dag, ["transform_customers", "load_orders"], False, True)
    assert both == {"extract_customers", "transform_customers", "extract_orders", "transform_orders", "load_orders"}


def test_the_cli_clears_ancestors_and_descendants_only(project):
    """A real run of the bundled daily_pipeline, then `clear --upstream --downstream` as a user types it."""
    (project.root / "dags" / "daily_pipeline.py").write_text((ROOT / "examples/etl/daily_pipeline.py").read_text())
    done = project.minorch("run", "daily_pipeline", "--date", "2024-01-15", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    cleared = project.minorch(
        "clear", "daily_pipeline", "latest", "transform_customers", "--upstream", "--downstream", "-y"
    )
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.startswith(
        "cleared 4 tasks of daily_pipeline run manual__2024-01-15T00:00:00+00:00: "
        "extract_customers, transform_customers, build_mart, run_checks;"
    ), cleared.stdout


def test_a_mark_that_loses_a_race_exits_1_saying_it_changed_meanwhile(project):
    """Another writer moves the task between mark's read and its guarded write."""
    from minorch.errors import Conflict
    from minorch.states import TaskState

    project.write("dags/one.toml", '[dags.one]\nschedule = "manual"\n[dags.one.tasks.a]\ncommand = "false"\n')
    assert project.run("one").run.state.value == "failed"
    settings = project.settings()
    dag = load(settings).dags["one"]
    store, other = project.store(), project.store()
    run = store.runs("one")[0]
    read = store.task_instances

    def stale_then_changed(pks):
        snapshot = read(pks)  # mark reads 'failed' ...
        with other.write():  # ... and meanwhile another command clears it
            other.clear_task_instances(run.pk, ["a"], {TaskState.FAILED}, note="cleared")
        return snapshot

    store.task_instances = stale_then_changed
    with pytest.raises(Conflict, match="changed meanwhile") as caught:
        ops.mark_task(store, dag, run, "a", "success", now=0.0)
    assert caught.value.exit_code == 1
    assert other.task_instances([run.pk])[run.pk]["a"].state is TaskState.NONE
