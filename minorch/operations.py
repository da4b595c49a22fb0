"""What an operator does to runs: trigger, clear, retry, mark, pause, backfill, prune, check.

Each action is one function used by both the CLI and the TUI, and each is one short guarded
write to the store (`UPDATE ... WHERE state IN (...)`). None talks to a scheduler: a running
`minorch up` notices the write within a second (it polls `PRAGMA data_version`); with no
scheduler running the change stands until the next `minorch up`.

`now` is float seconds since the epoch everywhere (as in the store); it stamps the rows written
(queued_at, end_date). Only `trigger` reads the clock, and only when not given `now`.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Settings
from .dag import Dag
from .durations import parse_date
from .errors import ConfigError, Conflict, MinorchError, NotFound, ScheduleError, did_you_mean
from .lock import held_run_locks
from .params import check_conf
from .records import RunRecord, iso
from .schedule import dates_for_logical, logical_dates_in
from .states import FAILED_LIKE, FINISHED, RunState, TaskState, can_move
from .store import Store

MAX_BACKFILL = 10_000  # runs one backfill may create without `yes=True`
BACKFILL_BATCH = 200  # dates per transaction of a backfill: the write lock is held for milliseconds
_MARKABLE = (TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED)


# ---------------------------------------------------------------- finding a run


def resolve_run(store: Store, dag: Dag, ref: str) -> RunRecord:
    """The run `ref` names: a run id, "latest", a day "2024-01-15" (the newest run whose logical
    date falls on that day in the DAG's timezone) or an ISO time (that exact logical date)."""
    ref = ref.strip()
    if ref == "latest":
        found = store.runs(dag.dag_id, limit=1)
    elif (run := store.run_by_id(dag.dag_id, ref)) is not None:
        return run
    else:
        try:
            moment = parse_date(ref, name="run", tz=dag.timezone)
        except ConfigError:
            found = []
        else:
            if len(ref) == 10:  # a day: [local midnight, next local midnight)
                day_end = _next_midnight(moment, dag.timezone)
                found = store.runs_between(dag.dag_id, iso(moment), iso(day_end))
            else:
                found = store.runs(dag.dag_id, since=iso(moment), until=iso(moment), limit=1)
    if found:
        return found[0]
    newest = [r.run_id for r in store.runs(dag.dag_id, limit=3)]
    if not newest:
        raise NotFound(f"DAG '{dag.dag_id}' has no runs yet", hint=f"start one with `minorch trigger {dag.dag_id}`")
    hint = did_you_mean(ref, newest) or "newest runs: " + ", ".join(newest) + "; a date or `latest` works too"
    raise NotFound(f"DAG '{dag.dag_id}' has no run '{ref}'", hint=hint)


def _next_midnight(day: datetime, tz: str) -> datetime:
    """Local midnight after `day` (a local midnight), correct across DST changes."""
    local = day.astimezone(ZoneInfo(tz))
    following = local.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=ZoneInfo(tz))


# ---------------------------------------------------------------- creating runs


def new_run(store: Store, dag: Dag, logical_date: datetime, run_type: str, conf: dict | None, now: float) -> int | None:
    """Queue a run for a logical date with its task instances; its pk, or None if that run id exists.

    Run id "<run_type>__<logical date ISO UTC>". Data interval: [previous fire, logical date]
    (with interval semantics [logical date, next fire]); a DAG without a schedule gets
    logical date = interval start = interval end.
    """
    from .planner import run_id_for  # here: the planner's many classes cost the commands that make no run

    logical = logical_date.astimezone(timezone.utc).replace(microsecond=0)
    dates = dates_for_logical(dag.schedule, logical, dag.interval_semantics, dag.data_interval == "point")
    return store.create_run(
        dag.dag_id,
        run_id_for(run_type, logical),
        run_type,
        iso(dates.logical_date),
        iso(dates.data_interval_start),
        iso(dates.data_interval_end),
        list(dag.tasks),
        conf=conf,
        now=now,
    )


def trigger(settings: Settings, dag: Dag, date: str | None, conf: dict, *, now: float | None = None) -> str:
    """Queue a manual run for `date` (a day or ISO time in the DAG's timezone; default: now, to the
    second). Returns its run id, "manual__2024-01-15T00:00:00+00:00"."""
    from .planner import run_id_for

    now = datetime.now(timezone.utc).timestamp() if now is None else now
    logical = parse_date(date, name="--date", tz=dag.timezone) if date else datetime.fromtimestamp(now, timezone.utc)
    check_conf(dag.param_schemas, dag.params, conf)
    store = Store(settings.db_path)
    try:
        pk = new_run(store, dag, logical, "manual", conf, now)
        while pk is None and date is None:  # run ids have one-second resolution: take the next free second
            logical += timedelta(seconds=1)
            pk = new_run(store, dag, logical, "manual", conf, now)
    finally:
        store.close()
    run_id = run_id_for("manual", logical.replace(microsecond=0))
    if pk is None:
        raise MinorchError(
            f"DAG '{dag.dag_id}' already has a run {run_id}",
            hint=f"run it again with `minorch clear {dag.dag_id} {run_id}`, or pass another --date",
        )
    return run_id


# ---------------------------------------------------------------- clear, retry, mark


def select_clear(
    store: Store,
    dag: Dag,
    run: RunRecord,
    task_ids: Iterable[str] | None = None,
    *,
    downstream: bool = False,
    upstream: bool = False,
    failed_only: bool = False,
) -> list[str]:
    """The task ids `clear` with the same arguments would clear (for a confirmation), in DAG order."""
    return _pick(
        store, dag, run, clear_scope(dag, _known_tasks(store, dag, run, task_ids), downstream, upstream), failed_only
    )


def clear_scope(dag: Dag, named: Iterable[str], downstream: bool, upstream: bool) -> set[str]:
    """The named tasks, plus their descendants (downstream) and their ancestors (upstream); both
    are taken from the named tasks only, so a sibling of an ancestor is never included. The
    setups and teardowns of the chosen work tasks come along."""
    named = set(named)
    chosen = set(named)
    if downstream:
        chosen |= _reach(named, dag.downstream())
    if upstream:
        chosen |= _reach(named, {tid: list(t.upstream) for tid, t in dag.tasks.items()})
    return dag.with_setups_and_teardowns(chosen)


def _pick(store: Store, dag: Dag, run: RunRecord, chosen: set[str], failed_only: bool) -> list[str]:
    tis = store.task_instances([run.pk])[run.pk]
    wanted = FAILED_LIKE if failed_only else set(TaskState) - {TaskState.NONE}
    return [tid for tid in in_dag_order(dag, tis) if tid in chosen and tis[tid].state in wanted]


def clear(
    store: Store,
    dag: Dag,
    run: RunRecord,
    task_ids: Iterable[str] | None = None,
    *,
    downstream: bool = False,
    upstream: bool = False,
    failed_only: bool = False,
    now: float,
    dags: dict[str, Dag] | None = None,
) -> list[str]:
    """Run tasks again: their instances go back to 'none' (note "cleared") with fresh retries and
    their XCom deleted; the run goes back to 'queued'. `task_ids` None means every task.
    A running task is cleared too; the scheduler then kills its try. Returns the ids cleared.
    Given the loaded `dags`, external task markers among them clear their tasks in other DAGs too
    (`marked_clears`), in the same transaction."""
    ids = select_clear(store, dag, run, task_ids, downstream=downstream, upstream=upstream, failed_only=failed_only)
    expect = FAILED_LIKE if failed_only else set(TaskState) - {TaskState.NONE}
    marked = marked_clears(store, dags, dag, run, ids, failed_only=failed_only) if dags else []
    with store.write():
        for other in marked:
            _clear(store, other.run, other.task_ids, expect, now)
        return _clear(store, run, ids, expect, now)


@dataclass(frozen=True)
class MarkedClear:
    """Tasks of another DAG's run that clearing an external task marker clears too."""

    dag: Dag
    run: RunRecord
    task_ids: list[str]


def marked_clears(
    store: Store, dags: dict[str, Dag], dag: Dag, run: RunRecord, ids: Iterable[str], *, failed_only: bool = False
) -> list[MarkedClear]:
    """What clearing `ids` of `run` clears in other DAGs, as Airflow's ExternalTaskMarker does: each marker among
    `ids` names a task of another DAG and a logical date (templated, default this run's); that task and its
    downstream in the run of that date are cleared, following the markers among them in turn. The first marker's
    `recursion_depth` bounds how many DAGs deep this goes; going deeper is an error (a cycle, or a limit too low)."""
    found: list[MarkedClear] = []
    seen: set[tuple[int, str]] = set()
    limit: list[int] = []

    def follow(dag: Dag, run: RunRecord, ids: Iterable[str], depth: int) -> None:
        for tid in ids:
            marker = dag.tasks[tid].marker if tid in dag.tasks else None
            if marker is None:
                continue
            if not limit:
                limit.append(marker["recursion_depth"])
            if depth + 1 > limit[0]:
                raise MinorchError(
                    f"clearing reached the maximum recursion depth {limit[0]} at marker {dag.dag_id}.{tid}",
                    hint="the markers may form a cycle; otherwise raise recursion_depth on the first marker",
                )
            other = dags.get(marker["dag"])
            if other is None or marker["task"] not in other.tasks:
                what = f"DAG '{marker['dag']}'" if other is None else f"task {marker['dag']}.{marker['task']}"
                raise NotFound(f"marker {dag.dag_id}.{tid} names {what}, which is not loaded", hint="fix the marker")
            logical = _marker_date(dag, tid, run, marker)
            runs = store.runs_between(other.dag_id, iso(logical), iso(logical + timedelta(seconds=1)))
            for other_run in runs:
                if (other_run.pk, marker["task"]) in seen:
                    continue
                seen.add((other_run.pk, marker["task"]))
                scope = clear_scope(other, [marker["task"]], downstream=True, upstream=False)
                chosen = _pick(store, other, other_run, scope, failed_only)
                if chosen:
                    found.append(MarkedClear(other, other_run, chosen))
                    follow(other, other_run, chosen, depth + 1)

    follow(dag, run, ids, 0)
    return found


def _marker_date(dag: Dag, task_id: str, run: RunRecord, marker: dict) -> datetime:
    """The logical date a marker points at: its `logical_date` rendered for this run, or the run's own."""
    logical = datetime.fromisoformat(run.logical_date)
    if "logical_date" not in marker:
        return logical
    from .templates import build_context, render

    context = build_context(
        dag_id=dag.dag_id,
        task_id=task_id,
        run_id=run.run_id,
        logical_date=logical,
        data_interval_start=datetime.fromisoformat(run.data_interval_start or run.logical_date),
        data_interval_end=datetime.fromisoformat(run.data_interval_end or run.logical_date),
        prev_logical_date=None,
        next_logical_date=None,
        params={**dag.params, **run.conf},
        try_number=0,
        timezone=dag.timezone,
        xcom={},
        conf=run.conf,
    )
    text = render(marker["logical_date"], context, shell=False)
    return parse_date(text, name=f"marker {dag.dag_id}.{task_id} logical_date", tz=dag.timezone)


def retry(store: Store, dag: Dag, run: RunRecord, now: float) -> list[str]:
    """Clear the failed and upstream_failed tasks of a run, and the skipped tasks downstream of them."""
    tis = store.task_instances([run.pk])[run.pk]
    failed = {tid for tid, ti in tis.items() if ti.state in FAILED_LIKE}
    skipped = {tid for tid in _reach(failed, dag.downstream()) if tid in tis and tis[tid].state is TaskState.SKIPPED}
    scope = dag.with_setups_and_teardowns(failed | skipped)
    ids = [tid for tid in in_dag_order(dag, tis) if tid in scope]
    return _clear(store, run, ids, set(TaskState) - {TaskState.NONE}, now)


def _clear(store: Store, run: RunRecord, ids: list[str], expect: Iterable[TaskState], now: float) -> list[str]:
    with store.write():
        cleared = store.clear_task_instances(run.pk, ids, expect, note="cleared")
        if cleared:
            _requeue(store, run, now)
    return [tid for tid in ids if tid in cleared]


def _requeue(store: Store, run: RunRecord, now: float) -> None:
    """Back to 'queued', also from 'running': a scheduler that decided to finish the run from a
    snapshot taken before this change then finds it no longer running (its write is guarded on
    'running') and looks again, instead of finishing a run whose tasks were just reset."""
    store.set_run_state(run.pk, RunState.QUEUED, [RunState.RUNNING, RunState.SUCCESS, RunState.FAILED], now=now)


def mark_task(store: Store, dag: Dag, run: RunRecord, task_id: str, state: str, now: float) -> None:
    """Set one task to success, failed or skipped, as Airflow's "mark" does. After success or
    skipped, failed tasks downstream are cleared so the run can go on; the run goes back to
    'queued' so the scheduler settles its outcome again. A running try is killed."""
    new = _markable(state)
    _known_tasks(store, dag, run, [task_id])
    ti = store.task_instances([run.pk])[run.pk].get(task_id)
    if ti is None or ti.state is new:
        return
    if not can_move(ti.state, new):
        raise MinorchError(
            f"task '{task_id}' of run {run.run_id} is {ti.state.value} and cannot be marked {new.value}",
            hint="wait until it runs or finishes",
        )
    with store.write():
        if not store.set_task_state(
            run.pk, task_id, new, [ti.state], end_date=now, next_try_at=None, note=f"marked {new.value} by user"
        ):
            raise Conflict(
                f"task '{task_id}' of run {run.run_id} changed meanwhile (it is no longer {ti.state.value})",
                hint=f"`minorch tasks {dag.dag_id} {run.run_id}` shows its state now",
            )
        if new is not TaskState.FAILED:
            below = [t for t in in_dag_order(dag, dag.tasks) if t in _reach({task_id}, dag.downstream())]
            store.clear_task_instances(run.pk, below, FAILED_LIKE, note="cleared")
        _requeue(store, run, now)


def mark_run(store: Store, dag: Dag, run: RunRecord, state: str, now: float) -> None:
    """Finish a run as success or failed. Its unfinished tasks become success (for success), or
    failed if they were running or waiting to retry and skipped if they had not started (for failed)."""
    new = {"success": RunState.SUCCESS, "failed": RunState.FAILED}.get(state)
    if new is None:
        raise ConfigError(f"a run can be marked success or failed, not {state!r}")
    with store.write():
        for tid, ti in store.task_instances([run.pk])[run.pk].items():
            if ti.state in FINISHED:
                continue
            if new is RunState.SUCCESS:
                target = TaskState.SUCCESS
            elif ti.state in (TaskState.NONE, TaskState.SCHEDULED):
                target = TaskState.SKIPPED
            else:
                target = TaskState.FAILED
            store.set_task_state(
                run.pk, tid, target, [ti.state], end_date=now, next_try_at=None, note=f"run marked {new.value} by user"
            )
        others = [s for s in RunState if s is not new]
        store.set_run_state(run.pk, new, others, now=now)


def set_paused(store: Store, dag_id: str, paused: bool) -> None:
    """Pause (no new runs, no new tries; running tries finish) or unpause a DAG."""
    store.upsert_paused(dag_id, paused)


def _markable(state: str) -> TaskState:
    try:
        new = TaskState(state)
    except ValueError:
        new = None
    if new not in _MARKABLE:
        raise ConfigError(
            f"a task can be marked success, failed or skipped, not {state!r}",
            hint=did_you_mean(str(state), [s.value for s in _MARKABLE]),
        )
    return new


def _known_tasks(store: Store, dag: Dag, run: RunRecord, task_ids: Iterable[str] | None) -> list[str]:
    if task_ids is None:
        return list(dag.tasks)
    ids = list(task_ids)
    for tid in ids:
        if tid not in dag.tasks:
            raise NotFound(
                f"DAG '{dag.dag_id}' has no task '{tid}'",
                hint=did_you_mean(tid, dag.tasks) or "tasks: " + ", ".join(dag.tasks),
            )
    return ids


def _reach(start: set[str], edges: dict[str, list[str]]) -> set[str]:
    """Every task reachable from `start` along `edges`, not counting `start` itself."""
    seen: set[str] = set()
    todo = [n for s in start for n in edges.get(s, [])]
    while todo:
        tid = todo.pop()
        if tid not in seen:
            seen.add(tid)
            todo.extend(edges.get(tid, []))
    return seen


def in_dag_order(dag: Dag, present: Iterable[str]) -> list[str]:
    """`present` in the DAG's topological order; ids the DAG no longer has come last."""
    present = set(present)
    order = [t for t in dag.topological() if t in present]
    return order + sorted(present - set(order))


# ---------------------------------------------------------------- backfill


@dataclass
class BackfillPlan:
    """What a backfill did (or, with dry_run, would do). Dates are logical dates, ISO UTC."""

    dag_id: str
    created: list[str] = field(default_factory=list)  # dates that get a new run
    cleared: list[str] = field(default_factory=list)  # dates whose existing run runs again
    skipped: list[str] = field(default_factory=list)  # dates left alone: a run exists or is active
    run_pks: list[int] = field(default_factory=list)  # created and cleared runs (none on a dry run)
    dry_run: bool = False

    @property
    def runs(self) -> int:
        return len(self.created) + len(self.cleared)


def backfill(
    settings: Settings,
    store: Store,
    dag: Dag,
    start: str,
    end: str,
    *,
    reprocess: str = "none",
    dry_run: bool = False,
    yes: bool = False,
    now: float,
) -> BackfillPlan:
    """One run per logical date the schedule yields in [start, end] (dates in the DAG's timezone;
    an end given as a day covers that whole day), run type "backfill", run id "backfill__<iso>".

    Dates that already have a run (of any type): reprocess "none" skips them; "failed" also
    re-runs the failed tasks of a date whose newest run failed; "all" clears and re-runs every
    finished run. Active (queued or running) runs are always left alone. Written in batches of
    `BACKFILL_BATCH` dates, one transaction each, so the write lock is never held for long (a
    running scheduler's writes go in between); a backfill stopped halfway keeps the runs written
    so far, and running it again skips them.
    """
    if reprocess not in ("none", "failed", "all"):
        raise ConfigError(f"reprocess must be none, failed or all, not {reprocess!r}")
    first = parse_date(start, name="--start", tz=dag.timezone)
    last = parse_date(end, name="--end", tz=dag.timezone)
    if len(end.strip()) == 10:
        last = _next_midnight(last, dag.timezone) - timedelta(microseconds=1)
    dates = logical_dates_in(dag.schedule, first, last, dag.interval_semantics, dag.data_interval == "point")
    if not dates:
        raise ScheduleError(
            f"schedule '{dag.schedule.expr}' of DAG '{dag.dag_id}' does not fire between {start} and {end}",
            hint=f"`minorch next {dag.dag_id}` shows when it fires; widen the range",
        )
    if len(dates) > MAX_BACKFILL and not yes and not dry_run:
        raise ConfigError(
            f"backfill of DAG '{dag.dag_id}' from {start} to {end} would create {len(dates)} runs "
            f"(more than {MAX_BACKFILL})",
            hint="narrow the range, or pass --yes if you mean it",
        )
    existing: dict[str, RunRecord] = {}
    for run in store.runs(dag.dag_id, since=iso(dates[0].logical_date), until=iso(dates[-1].logical_date), limit=None):
        existing.setdefault(run.logical_date, run)  # newest first: keep the newest per date
    plan = BackfillPlan(dag.dag_id, dry_run=dry_run)
    for at in range(0, len(dates), BACKFILL_BATCH):
        _backfill_batch(store, dag, dates[at : at + BACKFILL_BATCH], existing, reprocess, plan, now)
    return plan


def _backfill_batch(
    store: Store,
    dag: Dag,
    dates: list,
    existing: dict[str, RunRecord],
    reprocess: str,
    plan: BackfillPlan,
    now: float,
) -> None:
    dry_run = plan.dry_run
    with nullcontext() if dry_run else store.write():
        for dates_of in dates:
            day = iso(dates_of.logical_date)
            run = existing.get(day)
            if run is None and dry_run:
                plan.created.append(day)
            elif run is None:
                pk = new_run(store, dag, dates_of.logical_date, "backfill", {}, now)
                if pk is None:  # another backfill created this run since the existing runs were read
                    plan.skipped.append(day)
                else:
                    plan.created.append(day)
                    plan.run_pks.append(pk)
            elif run.state.finished and (
                reprocess == "all" or (reprocess == "failed" and run.state is RunState.FAILED)
            ):
                plan.cleared.append(day)
                if not dry_run:
                    if not (reprocess == "failed" and retry(store, dag, run, now)):
                        clear(store, dag, run, now=now)
                    plan.run_pks.append(run.pk)
            else:
                plan.skipped.append(day)


# ---------------------------------------------------------------- housekeeping


@dataclass
class PruneResult:
    runs: int
    task_instances: int
    attempts: int
    log_folders: int
    dry_run: bool = False


def prune(
    settings: Settings, store: Store, older_than_seconds: float, now: float, *, dry_run: bool = False
) -> PruneResult:
    """Delete finished runs that ended more than `older_than_seconds` before `now`, with their
    task instances, attempts, XCom and log folders (logs/<dag>/<run>/). Active runs are kept."""
    runs = store.finished_runs_before(now - older_than_seconds)
    if dry_run:
        return PruneResult(len(runs), *store.count_run_rows(r.pk for r in runs), 0, dry_run=True)
    import shutil

    tis, attempts, paths = store.delete_runs(r.pk for r in runs)
    logs = settings.log_dir.resolve()
    folders = {Path(p).resolve().parent.parent for p in paths}
    removed = 0
    for folder in sorted(folders):
        if folder.is_relative_to(logs) and folder != logs and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return PruneResult(len(runs), tis, attempts, removed)


def scheduler_running(settings: Settings) -> bool:
    """Whether a scheduler (`minorch up`, or a foreground run) holds the state folder's lock."""
    return scheduler_holder(settings) is not None


@dataclass
class Holder:
    """Who holds the scheduler lock, from the lock file's line "pid 1234, minorch up since ..."."""

    pid: int | None
    what: str  # "minorch up", "minorch run", or the raw line when it does not parse
    since: str | None
    version: str | None

    @property
    def is_up(self) -> bool:
        """A `minorch up`, which works on every run; a foreground run only works on its own."""
        return self.what == "minorch up"


def scheduler_holder(settings: Settings) -> Holder | None:
    """The holder of the state folder's scheduler lock, or None when nothing holds it.

    Probes with a shared, non-blocking flock released at once, leaving the lock file's text alone."""
    path = settings.state_dir / "scheduler.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(os.pread(fd, 200, 0).decode(errors="replace").strip())
        runs = held_run_locks(settings.state_dir)  # one-shot runs share the lock; each holds its DAG's
        return _holder(runs[0][1]) if runs else None
    finally:
        os.close(fd)  # closing drops a lock we got


def _holder(line: str) -> Holder:
    match = re.fullmatch(r"pid (\d+), (.+) since ([^\s,]+)(?:, version (\S+))?", line)
    if match is None:
        return Holder(None, line or "unknown", None, None)
    return Holder(int(match.group(1)), match.group(2), match.group(3), match.group(4))


def check(settings: Settings, store: Store, *, full: bool = False) -> list[str]:
    """Problems with the state file, one sentence each; [] when all is well. `full` runs SQLite's
    integrity_check instead of quick_check (reads every page: seconds on a large file)."""
    kind = "integrity_check" if full else "quick_check"
    problems = [f"SQLite {kind}: {line}" for line in store.integrity_problems(full=full)]
    for table, count in sorted(store.orphan_rows().items()):
        problems.append(
            f"{count} rows of {table} belong to runs that no longer exist (delete them, or restore "
            "the file from a backup)"
        )
    if scheduler_running(settings):
        return problems
    open_tries = store.open_attempts()
    if open_tries:
        problems.append(
            f"{len(open_tries)} tries were left running by a scheduler that stopped (e.g. "
            f"{open_tries[0].task_id} of run pk {open_tries[0].run_pk}); the next `minorch up` records "
            "them as interrupted and runs them again"
        )
    open_keys = {(a.run_pk, a.task_id) for a in open_tries}
    stuck = [row for row in store.active_task_instances() if (row[0], row[3]) not in open_keys]
    if stuck:
        _pk, dag_id, run_id, task_id, state = stuck[0]
        problems.append(
            f"{len(stuck)} task instances are queued or running but no scheduler runs (e.g. "
            f"{dag_id} {run_id} {task_id}: {state}); clear them with `minorch clear`"
        )
    return problems
