"""The scheduler's decision core: (DAGs, stored state, now) -> actions. No I/O, no clock.

`plan()` is called by the loop in `scheduler.py` after anything changed; it returns what to
do now and when to look again. Everything here is table-tested with plain data.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .dag import Dag
from .options import TaskOptions
from .records import DagRow, QueuedEvent, RunRecord, TaskInstance, from_iso, iso
from .states import FAILED_LIKE, RunState, TaskState, evaluate_trigger

Ready = tuple[RunRecord, str, int]  # a task (or a mapped task's copy, by index; -1 for none) ready to launch

RUN_AS_TRY = frozenset({"command", "python"})  # sensors poked by a short try; the others the scheduler pokes
MISSED_AFTER = timedelta(seconds=60)  # with catchup=false, a fire older than this when seen was missed
MAX_FIRES_PER_PLAN = 500  # catchup of a long downtime is created in slices


@dataclass
class Snapshot:
    """What the store says, as far as decisions need it."""

    dag_rows: dict[str, DagRow]
    runs: list[RunRecord]  # queued and running runs
    tis: dict[int, dict[str, TaskInstance]]  # run pk -> task id -> instance
    mapped: dict[int, dict[str, dict[int, TaskInstance]]] = field(default_factory=dict)  # copies of mapped tasks
    asset_queue: dict[str, list[QueuedEvent]] = field(default_factory=dict)  # dag id -> unconsumed asset events
    # run pk -> task states of the DAG's previous run (by logical date), for depends_on_past; absent: none
    previous: dict[int, dict[str, TaskState]] = field(default_factory=dict)
    # (run pk, task id, map index) -> DAG id of every queued or running task instance, when the caller
    # keeps that index (None: the planner finds them in `tis` and `mapped`)
    held: dict[tuple[int, str, int], str] | None = None


WHOLE = None  # in `plan(changed=...)`: every task of the run may have changed


@dataclass
class RunMemory:
    """What incremental planning keeps of one run between plans: the tasks to look at again even
    when nothing about them changed (ready but not launched, waiting for a retry or a poke, a running
    mapped task), and the tasks not finished yet. `pending` None: the run was not planned yet."""

    pending: set[str] | None = None
    unfinished: set[str] = field(default_factory=set)
    ready: list[int] = field(default_factory=list)  # topological places of tasks ready to launch, sorted


# ---- actions (the loop applies them in this order: fires, runs, task states, launches)


@dataclass(frozen=True)
class SetFires:
    dag_id: str
    next_fire: datetime | None
    last_fire: datetime | None


@dataclass(frozen=True)
class CreateRun:
    dag_id: str
    fire: datetime


@dataclass(frozen=True)
class CreateAssetRun:
    """The DAG's asset condition is met: queue a run and consume these events in one transaction.
    `ds` (with match = "ds"): the day the events are for, and the run's logical date."""

    dag_id: str
    event_ids: tuple[int, ...]
    ds: str | None = None


@dataclass(frozen=True)
class StartRun:
    run_pk: int


@dataclass(frozen=True)
class FinishRun:
    run_pk: int
    state: RunState
    reason: str


@dataclass(frozen=True)
class AddTasks:
    run_pk: int
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class SetTaskState:
    run_pk: int
    task_id: str
    state: TaskState
    expect: TaskState
    note: str


@dataclass(frozen=True)
class Launch:
    run_pk: int
    task_id: str
    map_index: int = -1


@dataclass(frozen=True)
class Expand:
    """A mapped task may start: make one copy per item of its list."""

    run_pk: int
    task_id: str


@dataclass(frozen=True)
class FinishMapped:
    """Every copy of a mapped task finished: the task takes `state` and collects their results."""

    run_pk: int
    task_id: str
    state: TaskState
    note: str


@dataclass(frozen=True)
class Poke:
    """Check a sensor's condition in the scheduler itself: no slot, no process."""

    run_pk: int
    task_id: str


@dataclass
class Plan:
    actions: list = field(default_factory=list)
    wake_at: datetime | None = None  # when something becomes due with no event (fire, retry, timeout)

    def wake(self, moment: datetime | None) -> None:
        if moment is not None and (self.wake_at is None or moment < self.wake_at):
            self.wake_at = moment


def plan(
    dags: dict[str, Dag],
    snap: Snapshot,
    now: datetime,
    *,
    parallelism: int,
    pools: dict[str, int],
    only_runs: set[int] | None = None,
    memory: dict[int, RunMemory] | None = None,
    changed: dict[int, set[str] | None] | None = None,
    create_ahead: timedelta = timedelta(0),
) -> Plan:
    """Decide. `only_runs` limits the work to those runs and creates no scheduled runs
    (the foreground `minorch run`); otherwise paused DAGs get neither new runs nor task launches.

    `create_ahead`: a fire that comes within this much of `now` gets its run created now, queued;
    the run starts (and its tasks launch) only once `now` reaches the fire. So the work of creating
    it is done before the fire, not between the fire and its tasks' start (the loop passes
    `scheduler.CREATE_AHEAD`; e.g. 0.25 s: the 13:00:00 run is created at 12:59:59.75).

    Incremental planning: with `memory` (kept by the caller from one plan to the next) and
    `changed` (run pk -> the task ids whose instances changed since the last plan, `WHOLE` for all),
    a run's tasks are looked at only where something changed (those tasks and the tasks right
    downstream of them) plus the ones `memory` says to look at again. The actions are the same as
    a plan of the whole snapshot."""
    result = Plan()
    active = None  # (dag id, logical date) of queued and running runs, once an asset DAG needs it
    if only_runs is None:
        for dag in dags.values():
            row = snap.dag_rows.get(dag.dag_id)
            if row is not None and not row.paused:
                if dag.schedule is not None and dag.schedule.kind in ("cron", "interval"):
                    _plan_fires(dag, row, now, result, create_ahead)
                if dag.assets is not None and dag.dag_id in snap.asset_queue:
                    if active is None:
                        active = {(r.dag_id, r.logical_date) for r in snap.runs}
                    _plan_asset_runs(dag, snap.asset_queue[dag.dag_id], active, result)
    runs = [r for r in snap.runs if r.dag_id in dags and (only_runs is None or r.pk in only_runs)]
    if only_runs is None:
        paused = {dag_id for dag_id, row in snap.dag_rows.items() if row.paused}
        runs = [r for r in runs if r.dag_id not in paused]
    if memory is not None:
        changed = changed or {}
        planned = {r.pk for r in runs}
        for pk in [pk for pk in memory if pk not in planned]:
            del memory[pk]  # gone, or not planned now (paused): looked at whole when it comes back
        for pk, tasks in changed.items():
            if tasks is WHOLE:
                memory.pop(pk, None)
    _plan_runs(dags, runs, snap, now, result, memory)
    started = {a.run_pk for a in result.actions if isinstance(a, StartRun)}
    ready: list[Iterable[Ready]] = []  # per run, in run order
    for run in runs:
        if run.state is RunState.RUNNING or run.pk in started:
            dag = dags[run.dag_id]
            memo = None if memory is None or links(dag).looks_at_past else memory.get(run.pk)
            ready.append(
                _plan_tasks(
                    dag,
                    run,
                    snap.tis.get(run.pk, {}),
                    snap.mapped.get(run.pk, {}),
                    now,
                    result,
                    snap.previous.get(run.pk),
                    memo,
                    (changed or {}).get(run.pk, set()),
                )
            )
    _plan_launches(dags, ready, snap, parallelism, pools, result)
    return result


def _plan_fires(dag: Dag, row: DagRow, now: datetime, result: Plan, ahead: timedelta = timedelta(0)) -> None:
    """Runs for the fires up to `now` + `ahead` (catchup decides which of the missed ones), and the next fire."""
    schedule = dag.schedule
    if schedule is None or schedule.kind not in ("cron", "interval"):
        return
    if row.next_fire is None:
        if dag.catchup is True and dag.start_date is not None:
            first = schedule.next_fire(dag.start_date - timedelta(microseconds=1))
        else:
            first = schedule.next_fire(max(now, dag.start_date or now))
        result.actions.append(SetFires(dag.dag_id, first, None))
        result.wake(first - ahead if first is not None else None)
        return
    next_fire = from_iso(row.next_fire)
    horizon = now + ahead
    if next_fire > horizon:
        result.wake(next_fire - ahead)
        return
    due = []
    for fire in schedule.fires(next_fire, horizon):
        if dag.end_date is not None and fire > dag.end_date:
            break
        due.append(fire)
        if dag.catchup is True and len(due) >= MAX_FIRES_PER_PLAN:
            break
    if dag.catchup == "latest":
        due = due[-1:]
    elif dag.catchup is False:
        due = [f for f in due[-1:] if now - f <= MISSED_AFTER]
    for fire in due:
        result.actions.append(CreateRun(dag.dag_id, fire))
    if dag.catchup is True and len(due) >= MAX_FIRES_PER_PLAN:
        upcoming = schedule.next_fire(due[-1])
    else:
        upcoming = schedule.next_fire(horizon)
    if dag.end_date is not None and upcoming is not None and upcoming > dag.end_date:
        upcoming = None
    result.actions.append(SetFires(dag.dag_id, upcoming, due[-1] if due else None))
    result.wake(upcoming - ahead if upcoming is not None else None)


def _plan_asset_runs(dag: Dag, queue: list[QueuedEvent], active: set[tuple[str, str]], result: Plan) -> None:
    """Airflow's queue semantics: once the events queued for the DAG satisfy its condition, one
    run consumes all of them (several events of one asset count once). With match = "ds", events
    pair up by day: one run per day whose events satisfy the condition, unless a run for that day
    is still active (its events then wait for it to finish, so new data is never lost)."""
    condition = dag.assets.condition
    if dag.assets.match is None:
        if condition.satisfied({asset for _, asset, _ in queue}):
            result.actions.append(CreateAssetRun(dag.dag_id, tuple(event_id for event_id, _, _ in queue)))
        return
    by_day: dict[str, list[QueuedEvent]] = {}
    for event in queue:
        if event[2] is not None:
            by_day.setdefault(event[2], []).append(event)
    for ds in sorted(by_day):
        events = by_day[ds]
        if (
            condition.satisfied({asset for _, asset, _ in events})
            and (
                dag.dag_id,
                _day_iso(ds, dag.timezone),
            )
            not in active
        ):
            result.actions.append(CreateAssetRun(dag.dag_id, tuple(event_id for event_id, _, _ in events), ds))


def day_start(ds: str, tz: str) -> datetime:
    """Midnight of day `ds` ("2024-01-05") in zone `tz`: the logical date of a per-day asset run."""
    day = datetime.fromisoformat(ds)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))


@functools.lru_cache(maxsize=4096)
def _day_iso(ds: str, tz: str) -> str:
    return iso(day_start(ds, tz))


def _plan_runs(
    dags: dict[str, Dag],
    runs: list[RunRecord],
    snap: Snapshot,
    now: datetime,
    result: Plan,
    memory: dict[int, RunMemory] | None = None,
) -> None:
    running: dict[str, int] = {}
    for run in runs:
        if run.state is RunState.RUNNING:
            running[run.dag_id] = running.get(run.dag_id, 0) + 1
    for run in runs:  # oldest logical date first
        dag = dags[run.dag_id]
        if memory is None or run.pk not in memory:  # remembered: its task instances were all there
            tis = snap.tis.get(run.pk, {})
            missing = tuple(t for t in dag.tasks if t not in tis)
            if missing:
                result.actions.append(AddTasks(run.pk, missing))
            elif memory is not None:
                memory[run.pk] = RunMemory()
        if run.state is RunState.QUEUED:
            fire = fire_of(run, dag)
            if fire is not None and fire > now:  # created ahead of its fire: it starts at the fire
                result.wake(fire)
                continue
            if running.get(run.dag_id, 0) < dag.max_active_runs:
                running[run.dag_id] = running.get(run.dag_id, 0) + 1
                result.actions.append(StartRun(run.pk))
                if dag.dagrun_timeout is not None:
                    result.wake(now + timedelta(seconds=dag.dagrun_timeout))
            continue
        if dag.dagrun_timeout is not None and run.start_date is not None:
            deadline = datetime.fromtimestamp(run.start_date + dag.dagrun_timeout, timezone.utc)
            if deadline <= now:
                result.actions.append(
                    FinishRun(run.pk, RunState.FAILED, f"run timed out after {dag.dagrun_timeout:g}s (dagrun_timeout)")
                )
                continue
            result.wake(deadline)


def fire_of(run: RunRecord, dag: Dag) -> datetime | None:
    """The fire of a run a cron or interval schedule made: the end of its data interval, whatever the
    DAG's interval semantics. None for other runs (manual, backfill, asset-triggered, `@reboot`), which
    start when seen."""
    kind = dag.schedule.kind if dag.schedule is not None else None
    if run.run_type != "scheduled" or kind not in ("cron", "interval") or run.data_interval_end is None:
        return None
    return from_iso(run.data_interval_end)


@dataclass(frozen=True)
class Links:
    """A built DAG's shape as incremental planning reads it, computed once per DAG."""

    position: dict[str, int]  # task id -> place in topological order
    downstream: dict[str, list[str]]
    looks_at_past: bool  # a task has depends_on_past or wait_for_downstream: plan its runs whole
    pokes: bool  # a sensor the scheduler pokes itself (it needs no slot)


def links(dag: Dag) -> Links:
    cached = dag.__dict__.get("_plan_links")
    if cached is not None and len(cached.position) == len(dag.tasks):
        return cached
    order = dag.topological()
    found = Links(
        {tid: i for i, tid in enumerate(order)},
        dag.downstream(),
        any(t.opts.depends_on_past or t.opts.wait_for_downstream for t in dag.tasks.values()),
        any(t.sensor is not None and not RUN_AS_TRY.intersection(t.sensor) for t in dag.tasks.values()),
    )
    dag.__dict__["_plan_links"] = found
    return found


def _plan_tasks(
    dag: Dag,
    run: RunRecord,
    tis: dict[str, TaskInstance],
    mapped: dict[str, dict[int, TaskInstance]],
    now: datetime,
    result: Plan,
    previous: dict[str, TaskState] | None = None,
    memo: RunMemory | None = None,
    changed: set[str] | None = WHOLE,
) -> Iterable[Ready]:
    """Trigger rules in topological order (so failures cascade in one pass); returns ready
    (run, task id, map index) triples. Empty and latest-only tasks finish here, with no process.

    With `memo` (incremental planning), only the tasks in `changed`, those right downstream of
    them and those `memo.pending` names are looked at (and, as decisions cascade, the tasks right
    downstream of each task whose state is decided here); `memo` is updated for the next plan."""
    order = dag.topological()
    local: dict[str, TaskState] = {}  # states decided in this pass

    def state_of(tid: str) -> TaskState:
        found = local.get(tid)
        if found is not None:
            return found
        ti = tis.get(tid)
        return ti.state if ti is not None else TaskState.NONE

    shape = None
    if memo is None or memo.pending is None or changed is WHOLE:
        visit = list(range(len(order)))  # sorted: a heap already
        if memo is not None:
            memo.pending, memo.unfinished, memo.ready = set(), set(), []
    else:
        shape = links(dag)
        todo = {shape.position[t] for t in memo.pending}
        for tid in changed:
            if tid in shape.position:
                todo.add(shape.position[tid])
                todo.update(shape.position[d] for d in shape.downstream[tid])
        visit = sorted(todo)
    pending = memo.pending if memo is not None and memo.pending is not None else set()  # set by now, with a memo
    queued = set(visit)

    def decided(tid: str, state: TaskState) -> None:
        local[tid] = state
        if shape is not None:  # a whole pass visits the tasks downstream anyway
            for down in shape.downstream[tid]:
                at = shape.position[down]
                if at not in queued:
                    queued.add(at)
                    heapq.heappush(visit, at)

    ready: list[Ready] = []
    later: list[tuple[int, Ready]] = []  # incremental: ready copies and retries, by place
    while visit:
        place = heapq.heappop(visit)
        tid = order[place]
        if memo is not None:
            _discard(memo.ready, place)
            ready = []
        state = state_of(tid)
        task = dag.tasks[tid]
        again = False  # look at this task in the next plan even if nothing about it changes
        if task.map_over is not None and state is TaskState.RUNNING:
            again = True
            final = _plan_copies(run, tid, mapped.get(tid, {}), now, ready, result)
            if final is not None:
                decided(tid, final)
                again = False
        elif state is TaskState.NONE:
            verdict = evaluate_trigger(
                task.opts.trigger_rule,
                [state_of(u) for u in task.upstream],
                [state_of(u) for u in task.upstream if dag.tasks[u].is_setup],
            )
            if verdict is TaskState.SCHEDULED and not past_allows(dag, tid, previous):
                pass  # depends_on_past: wait for the previous run's instance of this task
            elif verdict is TaskState.SCHEDULED and task.map_over is not None:
                again = True
                result.actions.append(Expand(run.pk, tid))
            elif verdict is TaskState.SCHEDULED and task.flavor in ("empty", "latest_only"):
                decided(tid, TaskState.SUCCESS)
                note = "empty task: no process"
                skips = [] if task.flavor == "empty" else latest_only_skips(dag, tid, run, now)
                if task.flavor == "latest_only":
                    note = "not the latest run: downstream skipped" if skips else "the latest run (or a manual one)"
                result.actions.append(SetTaskState(run.pk, tid, TaskState.SUCCESS, TaskState.NONE, note))
                for down in skips:
                    if state_of(down) is TaskState.NONE:
                        decided(down, TaskState.SKIPPED)
                        result.actions.append(
                            SetTaskState(
                                run.pk, down, TaskState.SKIPPED, TaskState.NONE, f"skipped by latest-only '{tid}'"
                            )
                        )
            elif verdict is TaskState.SCHEDULED:
                if memo is not None:
                    bisect.insort(memo.ready, place)  # stays ready until its state changes
                else:
                    ready.append((run, tid, -1))
            elif verdict is not None:
                decided(tid, verdict)
                note = "an upstream task failed" if verdict is TaskState.UPSTREAM_FAILED else "skipped by trigger rule"
                result.actions.append(
                    SetTaskState(run.pk, tid, verdict, TaskState.NONE, f"{note} ({task.opts.trigger_rule.value})")
                )
        elif state in (TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE):
            again = True
            at = tis[tid].next_try_at
            due = datetime.fromtimestamp(at, timezone.utc) if at is not None else now
            if due <= now:
                ready.append((run, tid, -1))
            else:
                result.wake(due)
        if memo is not None:
            later += [(place, r) for r in ready]
            if again:
                pending.add(tid)
            else:
                pending.discard(tid)
            if state_of(tid).finished:
                memo.unfinished.discard(tid)
            else:
                memo.unfinished.add(tid)
    for tid in local:  # decided here, maybe without a visit of their own (latest-only skips)
        if memo is not None and local[tid].finished:
            memo.unfinished.discard(tid)
            pending.discard(tid)
    done = not memo.unfinished if memo is not None else all(state_of(t).finished for t in dag.tasks)
    if done:
        if any(state_of(t) in FAILED_LIKE for t in run_state_leaves(dag)):
            failed = [t for t in order if state_of(t) is TaskState.FAILED]
            others = sum(state_of(t) is TaskState.UPSTREAM_FAILED for t in dag.tasks)
            reason = "failed: " + (", ".join(failed) or "no task")
            if others:
                reason += f" ({others} more not run: upstream_failed)"
            result.actions.append(FinishRun(run.pk, RunState.FAILED, reason))
        else:
            result.actions.append(FinishRun(run.pk, RunState.SUCCESS, "all tasks done"))
    return ready if memo is None else _merged(run, order, memo.ready, later)


def _discard(places: list[int], place: int) -> None:
    at = bisect.bisect_left(places, place)
    if at < len(places) and places[at] == place:
        del places[at]


def _merged(run: RunRecord, order: list[str], places: list[int], later: list[tuple[int, Ready]]) -> Iterator[Ready]:
    """A run's ready tasks in topological order, made as they are asked for (within this plan: the
    next plan changes `places`): the ones remembered as ready (`places`) and the copies and retries
    found ready in this pass (`later`, by place)."""
    at = 0
    for place in places:
        while at < len(later) and later[at][0] < place:
            yield later[at][1]
            at += 1
        yield (run, order[place], -1)
    for _, item in later[at:]:
        yield item


def past_allows(dag: Dag, task_id: str, previous: dict[str, TaskState] | None) -> bool:
    """depends_on_past: the previous run's instance of the task succeeded or was skipped (or there is no
    previous run, or the task is new); wait_for_downstream: so did the tasks directly downstream of it."""
    opts = dag.tasks[task_id].opts
    if previous is None or not (opts.depends_on_past or opts.wait_for_downstream):
        return True
    done = (TaskState.SUCCESS, TaskState.SKIPPED)
    if previous.get(task_id, TaskState.SUCCESS) not in done:
        return False
    if opts.wait_for_downstream:
        return all(previous.get(down, TaskState.SUCCESS) in done for down in dag.downstream()[task_id])
    return True


def latest_only_skips(dag: Dag, task_id: str, run: RunRecord, now: datetime) -> list[str]:
    """Airflow's LatestOnlyOperator: in a scheduled run that is not the latest one (the schedule has
    fired again since), the tasks directly downstream are skipped; a manual run skips nothing."""
    schedule = dag.schedule
    if run.run_type == "manual" or schedule is None or schedule.kind not in ("cron", "interval"):
        return []
    fire = from_iso(run.data_interval_end if dag.interval_semantics and run.data_interval_end else run.logical_date)
    following = schedule.next_fire(fire)
    if following is None or following > now:
        return []
    return list(dag.downstream()[task_id])


def run_state_leaves(dag: Dag) -> list[str]:
    """The tasks whose state decides the run's, as Airflow 3 does: the leaves, where a teardown (unless
    `on_failure_fail_dagrun`) does not count and does not hide the work upstream of it. So a failed work
    task fails the run even though its teardown ran and succeeded, and a failed teardown alone does not."""
    downstream = dag.downstream()

    def ignored(tid: str) -> bool:
        task = dag.tasks[tid]
        return task.is_teardown and not task.on_failure_fail_dagrun

    return [t for t, down in downstream.items() if not ignored(t) and all(ignored(d) for d in down)]


def _plan_copies(
    run: RunRecord, tid: str, copies: dict[int, TaskInstance], now: datetime, ready: list[Ready], result: Plan
) -> TaskState | None:
    """The copies of a running mapped task: ready ones, and the task's state once all finished."""
    for index in sorted(copies):
        copy = copies[index]
        if copy.state is TaskState.NONE:
            ready.append((run, tid, index))
        elif copy.state is TaskState.UP_FOR_RETRY:
            due = datetime.fromtimestamp(copy.next_try_at or 0, timezone.utc)
            if due <= now:
                ready.append((run, tid, index))
            else:
                result.wake(due)
    if not copies or not all(c.state.finished for c in copies.values()):
        return None
    failed = sorted(i for i, c in copies.items() if c.state in FAILED_LIKE)
    if failed:
        final, note = TaskState.FAILED, f"{len(failed)} of {len(copies)} copies failed (map index {failed[0]} first)"
    elif all(c.state is TaskState.SKIPPED for c in copies.values()):
        final, note = TaskState.SKIPPED, f"all {len(copies)} copies skipped"
    else:
        final, note = TaskState.SUCCESS, f"{len(copies)} copies done"
    result.actions.append(FinishMapped(run.pk, tid, final, note))
    return final


def _plan_launches(
    dags: dict[str, Dag],
    ready: list[Iterable[Ready]],
    snap: Snapshot,
    parallelism: int,
    pools: dict[str, int],
    result: Plan,
) -> None:
    """Launch ready tasks (`ready`: each run's, in run order) as far as slots allow. A run's ready
    tasks are taken only while its DAG could launch one (or has a sensor to poke)."""
    active = 0
    per_pool: dict[str, int] = {}
    per_dag: dict[str, int] = {}
    per_task: dict[tuple, int] = {}  # (dag id, task id) and (run pk, task id) -> running copies

    def hold(run_pk: int, dag_id: str, tid: str, tasks: dict) -> None:
        nonlocal active
        active += 1
        per_dag[dag_id] = per_dag.get(dag_id, 0) + 1
        pool = tasks[tid].opts.pool if tid in tasks else None
        if pool:
            per_pool[pool] = per_pool.get(pool, 0) + 1
        for key in ((dag_id, tid), (run_pk, tid)):
            per_task[key] = per_task.get(key, 0) + 1

    if snap.held is not None:
        for (run_pk, tid, index), dag_id in snap.held.items():
            dag = dags.get(dag_id)
            tasks = dag.tasks if dag else {}
            if not (index < 0 and tid in tasks and tasks[tid].map_over):  # a mapped task holds no slot itself
                hold(run_pk, dag_id, tid, tasks)
    else:
        for run in snap.runs:
            dag = dags.get(run.dag_id)
            tasks = dag.tasks if dag else {}
            # a mapped task holds no slot itself; its running copies do
            held = [(t, ti) for t, ti in snap.tis.get(run.pk, {}).items() if not (t in tasks and tasks[t].map_over)]
            held += [(t, ti) for t, copies in snap.mapped.get(run.pk, {}).items() for ti in copies.values()]
            for tid, ti in held:
                if ti.state.active:
                    hold(run.pk, run.dag_id, tid, tasks)
    # Higher priority first (Airflow's priority_weight with weight_rule); equal ones keep their order:
    # runs oldest first, tasks in topological order.
    # A DAG that sets no priority keeps that order (its tasks all count as weight 0 here).
    merged = any(dags[r.dag_id].prioritized for r in snap.runs if r.dag_id in dags)
    if merged:
        ready = [
            sorted(
                (item for part in ready for item in part),
                key=lambda r: -dags[r[0].dag_id].tasks[r[1]].weight if dags[r[0].dag_id].prioritized else 0,
            )
        ]
    pokes = merged and any(links(dags[r.dag_id]).pokes for r in snap.runs if r.dag_id in dags)
    for part in ready:  # one run's, or (merged) every run's by priority
        for run, tid, index in part:
            dag = dags[run.dag_id]
            if merged and active >= parallelism and not pokes:
                break  # nothing further can start, and no sensor waits for a poke
            full = active >= parallelism or per_dag.get(dag.dag_id, 0) >= dag.max_active_tasks
            if not merged and full and not links(dag).pokes:
                break  # nothing further of this run can start, and none of its sensors waits for a poke
            opts = dag.tasks[tid].opts
            if (
                opts.max_active_tis_per_dag is not None
                and per_task.get((dag.dag_id, tid), 0) >= opts.max_active_tis_per_dag
            ):
                continue
            if (
                opts.max_active_tis_per_dagrun is not None
                and per_task.get((run.pk, tid), 0) >= opts.max_active_tis_per_dagrun
            ):
                continue
            waits = dag.tasks[tid].sensor
            if waits is not None and not RUN_AS_TRY.intersection(waits):
                result.actions.append(Poke(run.pk, tid))
                continue
            if active >= parallelism:
                continue
            if per_dag.get(dag.dag_id, 0) >= dag.max_active_tasks:
                continue
            pool = dag.tasks[tid].opts.pool
            if pool and per_pool.get(pool, 0) >= pools.get(pool, 1):
                continue
            hold(run.pk, dag.dag_id, tid, dag.tasks)
            result.actions.append(Launch(run.pk, tid, index))


# ---- what a finished try means


def retry_delay(opts: TaskOptions, try_number: int, rand: random.Random | None = None) -> float:
    """Seconds before the next try. Exponential: retry_delay x 2^(try-1), at most max_retry_delay
    (default 24h), plus up to 10 % jitter so a herd of failures does not retry in lockstep.
    With retry_delay 10s: try 1 -> 10-11 s, try 2 -> 20-22 s, try 3 -> 40-44 s."""
    delay = opts.retry_delay
    if opts.retry_exponential_backoff:
        delay = delay * 2 ** (try_number - 1)
        delay += delay * 0.1 * (rand or random).random()
        delay = min(delay, opts.max_retry_delay if opts.max_retry_delay is not None else 86400.0)
    elif opts.max_retry_delay is not None:
        delay = min(delay, opts.max_retry_delay)
    return delay


def outcome(
    opts: TaskOptions, try_number: int, returncode: int | None, end: float, rand: random.Random | None = None
) -> tuple[TaskState, float | None]:
    """(new state, next_try_at) for a try that ended with `returncode` (None: killed)."""
    if returncode == 0:
        return TaskState.SUCCESS, None
    if returncode == opts.skip_exit_code:
        return TaskState.SKIPPED, None
    if try_number <= opts.retries:
        return TaskState.UP_FOR_RETRY, end + retry_delay(opts, try_number, rand)
    return TaskState.FAILED, None


def sensor_outcome(
    opts: TaskOptions, met: bool, first_poke: float, now: float, check_at: float | None = None
) -> tuple[TaskState, float | None]:
    """(state, next_try_at) after a poke: met -> success; waited `timeout` (the whole wait) ->
    failed, or skipped with soft_fail; else up_for_reschedule at the next poke (or `check_at` if sooner)."""
    if met:
        return TaskState.SUCCESS, None
    if opts.timeout is not None and now - first_poke >= opts.timeout:
        return (TaskState.SKIPPED if opts.soft_fail else TaskState.FAILED), None
    at = now + opts.poke_interval
    if check_at is not None:
        at = max(now, min(at, check_at))
    if opts.timeout is not None:
        at = min(at, first_poke + opts.timeout)
    return TaskState.UP_FOR_RESCHEDULE, at


def branch_skips(dag: Dag, task_id: str, value: object) -> tuple[list[str], str | None]:
    """Which tasks a finished branch / short-circuit task skips: (task ids, error or None).

    Branch: `value` names the direct downstream task(s) to follow (a str or a list; None
    follows none); the other direct downstream tasks are skipped. Short-circuit: a falsy
    `value` skips everything downstream, a truthy one nothing."""
    task = dag.tasks[task_id]
    downstream = dag.downstream()
    if task.flavor == "short_circuit":
        if value:
            return [], None
        found = _descendants(downstream, [task_id])
        return [t for t in dag.topological() if t in found], None
    direct = downstream[task_id]
    if value is None:
        chosen: list = []
    elif isinstance(value, str):
        chosen = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        chosen = value
    else:
        return [], f"branch returned {value!r}; return a task id or a list of task ids"
    wrong = [c for c in chosen if c not in direct]
    if wrong:
        return [], (
            f"branch chose '{wrong[0]}', which is not directly downstream of '{task_id}' "
            f"(choose from: {', '.join(direct) or 'nothing'})"
        )
    # As Airflow does: a task reached through a chosen branch (a join) is not skipped.
    followed = _descendants(downstream, chosen) | set(chosen)
    return [t for t in direct if t not in followed], None


def _descendants(downstream: dict[str, list[str]], roots: list[str]) -> set[str]:
    found: set[str] = set()
    stack = [d for r in roots for d in downstream[r]]
    while stack:
        tid = stack.pop()
        if tid not in found:
            found.add(tid)
            stack.extend(downstream[tid])
    return found


def run_id_for(run_type: str, logical_date: datetime) -> str:
    return f"{run_type}__{iso(logical_date)}"
