"""What the screens show, built from the store and the loaded DAG files; no Textual here.

Each builder takes a `Store` (the caller's own connection, in the caller's thread), the
`Registry` of DAG files and `now`, and returns frozen data the widgets only draw. The
worker thread builds these; the UI thread never queries SQLite.

A DAG is listed when it is in the DAG files or in the state file: a DAG whose file was
removed still shows its history, marked "not in any DAG file".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from ..dag import Dag
from ..registry import Registry
from ..store import Attempt, DagRow, RunRecord, Store, TaskInstance, iso

LIST_RUNS = 12  # run cells per DAG in the DAG list
GRID_RUNS = 25  # run columns in a DAG's grid


@dataclass(frozen=True)
class DagItem:
    """One line of the DAG list. `recent` holds run states, oldest first."""

    dag_id: str
    schedule: str | None
    description: str | None
    next_fire: str | None  # ISO UTC
    timezone: str
    paused: bool
    recent: tuple[str, ...]
    tasks: int
    problem: str | None  # why this DAG cannot run as it is, or None


@dataclass(frozen=True)
class DagList:
    dags: tuple[DagItem, ...]
    errors: tuple[str, ...]  # DAG files that failed to load, one line each

    def get(self, dag_id: str) -> DagItem | None:
        return next((d for d in self.dags if d.dag_id == dag_id), None)


@dataclass(frozen=True)
class DagDetail:
    """A DAG's grid and graph: tasks in drawing order, runs oldest first, task instances by (run pk, task)."""

    item: DagItem
    task_ids: tuple[str, ...]
    upstream: Mapping[str, tuple[str, ...]]
    runs: tuple[RunRecord, ...]
    tis: Mapping[tuple[int, str], TaskInstance] = field(default_factory=dict)

    def run(self, pk: int | None) -> RunRecord | None:
        return next((r for r in self.runs if r.pk == pk), None)

    @property
    def latest(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True)
class TaskDetail:
    """One task instance: its tries, oldest first, and the command template when no try ran yet."""

    dag_id: str
    timezone: str
    run: RunRecord
    task_id: str
    ti: TaskInstance | None
    attempts: tuple[Attempt, ...]
    template: str | None

    def attempt(self, try_number: int | None) -> Attempt | None:
        """The given try, or the latest one when `try_number` is None."""
        if try_number is None:
            return self.attempts[-1] if self.attempts else None
        return next((a for a in self.attempts if a.try_number == try_number), None)


def _item(dag_id: str, dag: Dag | None, row: DagRow | None, runs: list[RunRecord], default_tz: str,
          now: datetime) -> DagItem:
    schedule = dag.schedule.expr if dag is not None and dag.schedule else (row.schedule if row else None)
    next_fire = row.next_fire if row else None
    if next_fire is None and dag is not None and dag.schedule is not None:
        fire = dag.schedule.next_fire(now)
        next_fire = iso(fire) if fire else None
    problem = row.error if row and row.error else None
    if dag is None:
        problem = problem or "not in any DAG file: its history is kept, it does not run"
    return DagItem(dag_id=dag_id, schedule=schedule,
                   description=dag.description if dag is not None else (row.description if row else None),
                   next_fire=next_fire, timezone=dag.timezone if dag is not None else default_tz,
                   paused=row.paused if row else bool(dag and dag.paused),
                   recent=tuple(str(r.state) for r in reversed(runs)),
                   tasks=len(dag.tasks) if dag is not None else 0, problem=problem)


def dag_list(store: Store, registry: Registry, now: datetime, *, default_tz: str = "UTC",
             runs: int = LIST_RUNS) -> DagList:
    rows = store.dag_rows()
    recent = store.recent_runs(runs)
    ids = sorted(set(rows) | set(registry.dags))
    items = tuple(_item(d, registry.dags.get(d), rows.get(d), recent.get(d, []), default_tz, now) for d in ids)
    errors = [str(e) for e in registry.errors]
    errors += [message for _file, _line, message in store.load_errors() if message not in errors]
    return DagList(items, tuple(errors))


def dag_detail(store: Store, registry: Registry, dag_id: str, now: datetime, *, default_tz: str = "UTC",
               runs: int = GRID_RUNS) -> DagDetail:
    dag = registry.dags.get(dag_id)
    records = store.runs(dag_id, limit=runs)
    records.reverse()
    by_run = store.task_instances(r.pk for r in records)
    item = _item(dag_id, dag, store.dag_rows().get(dag_id), records[-LIST_RUNS:][::-1], default_tz, now)
    task_ids = dag.topological() if dag is not None else []
    known = set(task_ids)
    # Tasks since removed from the DAG file still have rows in old runs: list them last.
    task_ids += sorted({tid for tis in by_run.values() for tid in tis} - known)
    upstream = {tid: tuple(t.upstream) for tid, t in dag.tasks.items()} if dag is not None else {}
    tis = {(pk, tid): ti for pk, tis_ in by_run.items() for tid, ti in tis_.items()}
    return DagDetail(item, tuple(task_ids), MappingProxyType(upstream), tuple(records), MappingProxyType(tis))


def task_detail(store: Store, registry: Registry, run_pk: int, task_id: str, *,
                default_tz: str = "UTC") -> TaskDetail | None:
    run = store.run(run_pk)
    if run is None:
        return None
    dag = registry.dags.get(run.dag_id)
    task = dag.tasks.get(task_id) if dag is not None else None
    ti = store.task_instances([run_pk])[run_pk].get(task_id)
    template = None
    if task is not None and task.command is not None:
        template = task.command
    elif task is not None:
        template = f"python: {task.python or getattr(task.func, '__qualname__', task_id)}"
    return TaskDetail(run.dag_id, dag.timezone if dag is not None else default_tz, run, task_id, ti,
                      tuple(store.attempts(run_pk, task_id)), template)
