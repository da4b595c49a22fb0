"""What the screens show, built from the store and the loaded DAG files; no Textual here.

Each builder takes a `Store` (the caller's own connection, in the caller's thread), the
`Registry` of DAG files and `now`, and returns frozen data the widgets only draw. The
worker thread builds these; the UI thread never queries SQLite.

A DAG is listed when it is in the DAG files or in the state file: a DAG whose file was
removed still shows its history, marked "not in any DAG file".

Load errors come from whoever loads the DAG files that count. With a scheduler running,
that is the scheduler: it reloads the files every second and rewrites the state file's
`load_errors` and each DAG's `error` (a DAG whose file broke keeps running its last good
version). With none running, those rows are whatever the last scheduler left behind, so
the UI's own load of the files is the truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from ..dag import Dag, Task
from ..gantt import Gantt
from ..records import Attempt, DagRow, RunRecord, TaskInstance, iso
from ..registry import Registry
from ..store import Store
from ..trend import Point, Trend
from ..views import first_look, map_inputs, run_gantt, short_item, started_by

LIST_RUNS = 12  # run cells per DAG in the DAG list
GRID_RUNS = 25  # run columns in a DAG's grid page, unless the screen asks for another number
MIN_PAGE = 5  # runs per grid page on the narrowest terminal (a page holds what fits across)
HISTORY_RUNS = 60  # runs a duration chart looks back over


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
    """A DAG's grid and graph: tasks in drawing order, runs oldest first, task instances by (run pk, task).

    `runs` is one page of the DAG's history: page 0 holds the newest `per_page` runs, page 1
    the `per_page` before them, and so on; `older` says whether runs older than the page exist.
    """

    item: DagItem
    task_ids: tuple[str, ...]
    upstream: Mapping[str, tuple[str, ...]]
    runs: tuple[RunRecord, ...]
    tis: Mapping[tuple[int, str], TaskInstance] = field(default_factory=dict)
    page: int = 0
    per_page: int = GRID_RUNS
    older: bool = False
    triggered_by: Mapping[int, list[str]] = field(default_factory=dict)  # run pk -> assets or run that started it
    groups: Mapping[str, str] = field(default_factory=dict)  # task id -> the task group it is in (drawn as a box)

    def run(self, pk: int | None) -> RunRecord | None:
        return next((r for r in self.runs if r.pk == pk), None)

    @property
    def latest(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True)
class TaskDetail:
    """One task instance: its tries in the order they started (a mapped task's copies' tries
    interleave; `Attempt.map_index` tells them apart), and what it runs (`template`: a command, a Python
    callable or what a sensor waits for). `result`: the JSON its last try returned (XCom), or None."""

    dag_id: str
    timezone: str
    run: RunRecord
    task_id: str
    ti: TaskInstance | None
    attempts: tuple[Attempt, ...]
    template: str | None
    result: str | None = None
    poked: bool = False  # a sensor the scheduler checks itself: it never has a try
    inputs: tuple | None = None  # a mapped task's items, by map index: what each copy got

    def input_of(self, attempt: Attempt | None) -> str | None:
        """The item a copy's try got, as short JSON text; None for a task that is not mapped."""
        if attempt is None or attempt.map_index < 0 or self.inputs is None:
            return None
        return short_item(self.inputs[attempt.map_index]) if attempt.map_index < len(self.inputs) else "?"

    def attempt(self, attempt_id: str | None) -> Attempt | None:
        """The given try, or the latest one when `attempt_id` is None."""
        if attempt_id is None:
            return self.attempts[-1] if self.attempts else None
        return next((a for a in self.attempts if a.attempt_id == attempt_id), None)


def _problem(dag: Dag | None, row: DagRow | None, registry: Registry, scheduler: bool) -> str | None:
    """Why a DAG cannot run as its file says: see the module docstring for whose word counts."""
    if scheduler and row is not None and row.error:
        return f"{row.error} (the scheduler runs its last good version)"  # the only DAGs it marks
    if dag is not None:
        return None
    file = row.file if row is not None else None
    error = next((str(e) for e in registry.errors if file and e.file == file), None)
    return error or "not in any DAG file: its history is kept, it does not run"


def _item(
    dag_id: str,
    dag: Dag | None,
    row: DagRow | None,
    recent: list[str],
    default_tz: str,
    now: datetime,
    problem: str | None,
) -> DagItem:
    schedule = dag.schedule.expr if dag is not None and dag.schedule else (row.schedule if row else None)
    next_fire = row.next_fire if row else None
    if next_fire is None and dag is not None and dag.schedule is not None:
        fire = dag.schedule.next_fire(first_look(dag, now))
        next_fire = iso(fire) if fire else None
    return DagItem(
        dag_id=dag_id,
        schedule=schedule,
        description=dag.description if dag is not None else (row.description if row else None),
        next_fire=next_fire,
        timezone=dag.timezone if dag is not None else default_tz,
        paused=row.paused if row else bool(dag and dag.paused),
        recent=tuple(reversed(recent)),
        tasks=len(dag.tasks) if dag is not None else 0,
        problem=problem,
    )


def dag_list(
    store: Store,
    registry: Registry,
    now: datetime,
    *,
    default_tz: str = "UTC",
    runs: int = LIST_RUNS,
    scheduler: bool = False,
) -> DagList:
    """Every DAG, and the DAG files that failed to load: as the running scheduler last loaded them
    (`scheduler` true), else as `registry` did."""
    rows = store.dag_rows()
    recent = store.recent_states(runs)
    ids = sorted(set(rows) | set(registry.dags))
    items = tuple(
        _item(
            d,
            registry.dags.get(d),
            rows.get(d),
            recent.get(d, []),
            default_tz,
            now,
            _problem(registry.dags.get(d), rows.get(d), registry, scheduler),
        )
        for d in ids
    )
    if scheduler:
        errors = tuple(message for _file, _line, message in store.load_errors())
    else:
        errors = tuple(str(e) for e in registry.errors)
    return DagList(items, errors)


def dag_detail(
    store: Store,
    registry: Registry,
    dag_id: str,
    now: datetime,
    *,
    default_tz: str = "UTC",
    runs: int = GRID_RUNS,
    page: int = 0,
    scheduler: bool = False,
) -> DagDetail:
    """Page `page` of `runs` runs (0: the newest); `scheduler` as for `dag_list`."""
    dag = registry.dags.get(dag_id)
    # An offset, not a date: a page is always full, whatever the logical dates (manual runs
    # can share one). Reading the newer pages' rows too costs ~1 us a run.
    newest = store.runs(dag_id, limit=runs * (page + 1) + 1)
    older = len(newest) > runs * (page + 1)
    records = newest[runs * page : runs * (page + 1)]
    records.reverse()
    by_run = store.task_instances(r.pk for r in records)
    row = store.dag_rows().get(dag_id)
    recent = [str(r.state) for r in newest[:LIST_RUNS]]
    item = _item(dag_id, dag, row, recent, default_tz, now, _problem(dag, row, registry, scheduler))
    task_ids = dag.topological() if dag is not None else []
    known = set(task_ids)
    # Tasks since removed from the DAG file still have rows in old runs: list them last.
    task_ids += sorted({tid for tis in by_run.values() for tid in tis} - known)
    upstream = {tid: tuple(t.upstream) for tid, t in dag.tasks.items()} if dag is not None else {}
    tis = {(pk, tid): ti for pk, tis_ in by_run.items() for tid, ti in tis_.items()}
    return DagDetail(
        item,
        tuple(task_ids),
        MappingProxyType(upstream),
        tuple(records),
        MappingProxyType(tis),
        page,
        runs,
        older,
        started_by(store, item.dag_id, records),
        MappingProxyType({tid: t.group for tid, t in dag.tasks.items() if t.group} if dag is not None else {}),
    )


def task_detail(
    store: Store, registry: Registry, run_pk: int, task_id: str, *, default_tz: str = "UTC"
) -> TaskDetail | None:
    run = store.run(run_pk)
    if run is None:
        return None
    dag = registry.dags.get(run.dag_id)
    task = dag.tasks.get(task_id) if dag is not None else None
    ti = store.task_instances([run_pk])[run_pk].get(task_id)
    results = store.xcoms(run_pk, [task_id])
    inputs = map_inputs(store, run_pk, task)
    return TaskDetail(
        run.dag_id,
        dag.timezone if dag is not None else default_tz,
        run,
        task_id,
        ti,
        tuple(store.attempts(run_pk, task_id)),
        _template(task),
        json.dumps(results[task_id]) if task_id in results else None,
        _poked(task),
        tuple(inputs) if inputs is not None else None,
    )


def _poked(task: Task | None) -> bool:
    """A sensor the scheduler checks itself (file, time, another DAG's task); a command sensor runs as tries."""
    return task is not None and task.sensor is not None and "command" not in task.sensor


def _template(task: Task | None) -> str | None:
    """What a task runs, in one line: "echo {{ ds }}", "python: load", "sensor command: test -s x"; for a
    sensor the scheduler checks itself, what it waits for: "file = in/{{ ds }}.csv"."""
    if task is None:
        return None
    if task.sensor is not None and _poked(task):
        return ", ".join(f"{key} = {value}" for key, value in task.sensor.items())
    if task.sensor is not None:
        return f"sensor command: {task.sensor['command']}"
    if task.command is not None:
        return task.command
    kind = f"python ({task.flavor.replace('_', '-')})" if task.flavor else "python"
    return f"{kind}: {task.python or getattr(task.func, '__qualname__', task.task_id)}"


@dataclass(frozen=True)
class Durations:
    """A DAG's run durations (`task_id` None), or a task's duration and peak memory, over its newest runs."""

    dag_id: str
    task_id: str | None
    timezone: str
    duration: Trend
    rss: Trend | None = None


def durations(
    store: Store,
    registry: Registry,
    dag_id: str,
    task_id: str | None,
    now: datetime,
    *,
    default_tz: str = "UTC",
    runs: int = HISTORY_RUNS,
) -> Durations:
    """A running run or try counts up to `now`. A task's duration is from its first try's start to its last
    try's end (retries and, for a mapped task, all its copies included); its `sla` is the chart's line."""
    dag = registry.dags.get(dag_id)
    tz = dag.timezone if dag is not None else default_tz
    stamp = now.timestamp()
    if task_id is None:
        records = store.runs(dag_id, limit=runs)
        records.reverse()
        points = tuple(
            Point(r.logical_date, str(r.state), _elapsed(r.start_date, r.end_date, stamp, r.state.finished))
            for r in records
        )
        return Durations(dag_id, None, tz, Trend("run duration", "seconds", points))
    rows = store.task_history(dag_id, task_id, runs)
    task = dag.tasks.get(task_id) if dag is not None else None
    took = tuple(Point(day, state or "none", _elapsed(start, end, stamp, False)) for day, state, start, end, _ in rows)
    rss = tuple(Point(day, state or "none", float(peak) if peak else None) for day, state, _s, _e, peak in rows)
    return Durations(
        dag_id,
        task_id,
        tz,
        Trend("duration", "seconds", took, task.opts.sla if task is not None else None),
        Trend("peak RSS", "bytes", rss),
    )


def _elapsed(start: float | None, end: float | None, now: float, finished: bool) -> float | None:
    if start is None:
        return None
    if end is None:
        return None if finished else max(0.0, now - start)
    return max(0.0, end - start)


def gantt(store: Store, registry: Registry, run_pk: int, now: datetime) -> Gantt | None:
    """The Gantt of run `run_pk` (None once it is gone); a running run's bars end at `now`."""
    run = store.run(run_pk)
    if run is None:
        return None
    return run_gantt(store, registry.dags.get(run.dag_id), run, now.timestamp())
