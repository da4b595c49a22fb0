"""The scheduler's decision core: (DAGs, stored state, now) -> actions. No I/O, no clock.

`plan()` is called by the loop in `scheduler.py` after anything changed; it returns what to
do now and when to look again. Everything here is table-tested with plain data.
"""

from __future__ import annotations

import functools
import random
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
) -> Plan:
    """Decide. `only_runs` limits the work to those runs and creates no scheduled runs
    (the foreground `minorch run`); otherwise paused DAGs get neither new runs nor task launches."""
    result = Plan()
    active = None  # (dag id, logical date) of queued and running runs, once an asset DAG needs it
    if only_runs is None:
        for dag in dags.values():
            row = snap.dag_rows.get(dag.dag_id)
            if row is not None and not row.paused:
                if dag.schedule is not None and dag.schedule.kind in ("cron", "interval"):
                    _plan_fires(dag, row, now, result)
                if dag.assets is not None and dag.dag_id in snap.asset_queue:
                    if active is None:
                        active = {(r.dag_id, r.logical_date) for r in snap.runs}
                    _plan_asset_runs(dag, snap.asset_queue[dag.dag_id], active, result)
    runs = [r for r in snap.runs if r.dag_id in dags and (only_runs is None or r.pk in only_runs)]
    if only_runs is None:
        runs = [r for r in runs if not _paused(snap, r.dag_id)]
    _plan_runs(dags, runs, snap, now, result)
    ready: list[Ready] = []
    for run in runs:
        if run.state is RunState.RUNNING or any(isinstance(a, StartRun) and a.run_pk == run.pk for a in result.actions):
            ready += _plan_tasks(
                dags[run.dag_id],
                run,
                snap.tis.get(run.pk, {}),
                snap.mapped.get(run.pk, {}),
                now,
                result,
                snap.previous.get(run.pk),
            )
    _plan_launches(dags, ready, snap, parallelism, pools, result)
    return result


def _paused(snap: Snapshot, dag_id: str) -> bool:
    row = snap.dag_rows.get(dag_id)
    return bool(row and row.paused)


def _plan_fires(dag: Dag, row: DagRow, now: datetime, result: Plan) -> None:
    schedule = dag.schedule
    if schedule is None or schedule.kind not in ("cron", "interval"):
        return
    if row.next_fire is None:
        if dag.catchup is True and dag.start_date is not None:
            first = schedule.next_fire(dag.start_date - timedelta(microseconds=1))
        else:
            first = schedule.next_fire(max(now, dag.start_date or now))
        result.actions.append(SetFires(dag.dag_id, first, None))
        result.wake(first)
        return
    next_fire = from_iso(row.next_fire)
    if next_fire > now:
        result.wake(next_fire)
        return
    due = []
    for fire in schedule.fires(next_fire, now):
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
        upcoming = schedule.next_fire(now)
    if dag.end_date is not None and upcoming is not None and upcoming > dag.end_date:
        upcoming = None
    result.actions.append(SetFires(dag.dag_id, upcoming, due[-1] if due else None))
    result.wake(upcoming)


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


def _plan_runs(dags: dict[str, Dag], runs: list[RunRecord], snap: Snapshot, now: datetime, result: Plan) -> None:
    running: dict[str, int] = {}
    for run in runs:
        if run.state is RunState.RUNNING:
            running[run.dag_id] = running.get(run.dag_id, 0) + 1
    for run in runs:  # oldest logical date first
        dag = dags[run.dag_id]
        tis = snap.tis.get(run.pk, {})
        missing = tuple(t for t in dag.tasks if t not in tis)
        if missing:
            result.actions.append(AddTasks(run.pk, missing))
        if run.state is RunState.QUEUED:
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


def _plan_tasks(
    dag: Dag,
    run: RunRecord,
    tis: dict[str, TaskInstance],
    mapped: dict[str, dict[int, TaskInstance]],
    now: datetime,
    result: Plan,
    previous: dict[str, TaskState] | None = None,
) -> list:
    """Trigger rules in topological order (so failures cascade in one pass); returns ready
    (run, task id, map index) triples. Empty and latest-only tasks finish here, with no process."""
    states = {tid: ti.state for tid, ti in tis.items()}
    ready: list[Ready] = []
    for tid in dag.topological():
        state = states.get(tid, TaskState.NONE)
        task = dag.tasks[tid]
        if task.map_over is not None and state is TaskState.RUNNING:
            final = _plan_copies(run, tid, mapped.get(tid, {}), now, ready, result)
            if final is not None:
                states[tid] = final
            continue
        if state is TaskState.NONE:
            verdict = evaluate_trigger(
                task.opts.trigger_rule,
                [states.get(u, TaskState.NONE) for u in task.upstream],
                [states.get(u, TaskState.NONE) for u in task.upstream if dag.tasks[u].is_setup],
            )
            if verdict is TaskState.SCHEDULED and not past_allows(dag, tid, previous):
                continue  # depends_on_past: wait for the previous run's instance of this task
            if verdict is TaskState.SCHEDULED and task.map_over is not None:
                result.actions.append(Expand(run.pk, tid))
            elif verdict is TaskState.SCHEDULED and task.flavor in ("empty", "latest_only"):
                states[tid] = TaskState.SUCCESS
                note = "empty task: no process"
                skips = [] if task.flavor == "empty" else latest_only_skips(dag, tid, run, now)
                if task.flavor == "latest_only":
                    note = "not the latest run: downstream skipped" if skips else "the latest run (or a manual one)"
                result.actions.append(SetTaskState(run.pk, tid, TaskState.SUCCESS, TaskState.NONE, note))
                for down in skips:
                    if states.get(down, TaskState.NONE) is TaskState.NONE:
                        states[down] = TaskState.SKIPPED
                        result.actions.append(
                            SetTaskState(
                                run.pk, down, TaskState.SKIPPED, TaskState.NONE, f"skipped by latest-only '{tid}'"
                            )
                        )
            elif verdict is TaskState.SCHEDULED:
                ready.append((run, tid, -1))
            elif verdict is not None:
                states[tid] = verdict
                note = "an upstream task failed" if verdict is TaskState.UPSTREAM_FAILED else "skipped by trigger rule"
                result.actions.append(
                    SetTaskState(run.pk, tid, verdict, TaskState.NONE, f"{note} ({task.opts.trigger_rule.value})")
                )
        elif state in (TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE):
            at = tis[tid].next_try_at
            due = datetime.fromtimestamp(at, timezone.utc) if at is not None else now
            if due <= now:
                ready.append((run, tid, -1))
            else:
                result.wake(due)
    if all(states.get(t, TaskState.NONE).finished for t in dag.tasks):
        if any(states[t] in FAILED_LIKE for t in run_state_leaves(dag)):
            failed = [t for t in dag.topological() if states[t] is TaskState.FAILED]
            others = sum(states[t] is TaskState.UPSTREAM_FAILED for t in dag.tasks)
            reason = "failed: " + (", ".join(failed) or "no task")
            if others:
                reason += f" ({others} more not run: upstream_failed)"
            result.actions.append(FinishRun(run.pk, RunState.FAILED, reason))
        else:
            result.actions.append(FinishRun(run.pk, RunState.SUCCESS, "all tasks done"))
    return ready


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
    dags: dict[str, Dag], ready: list[Ready], snap: Snapshot, parallelism: int, pools: dict[str, int], result: Plan
) -> None:
    active = 0
    per_pool: dict[str, int] = {}
    per_dag: dict[str, int] = {}
    per_task: dict[tuple, int] = {}  # (dag id, task id) and (run pk, task id) -> running copies
    for run in snap.runs:
        dag = dags.get(run.dag_id)
        tasks = dag.tasks if dag else {}
        # a mapped task holds no slot itself; its running copies do
        held = [(tid, ti) for tid, ti in snap.tis.get(run.pk, {}).items() if not (tid in tasks and tasks[tid].map_over)]
        held += [(tid, ti) for tid, copies in snap.mapped.get(run.pk, {}).items() for ti in copies.values()]
        for tid, ti in held:
            if ti.state.active:
                active += 1
                per_dag[run.dag_id] = per_dag.get(run.dag_id, 0) + 1
                pool = tasks[tid].opts.pool if tid in tasks else None
                if pool:
                    per_pool[pool] = per_pool.get(pool, 0) + 1
                for key in ((run.dag_id, tid), (run.pk, tid)):
                    per_task[key] = per_task.get(key, 0) + 1
    # Higher priority first (Airflow's priority_weight with weight_rule); equal ones keep their order:
    # runs oldest first, tasks in topological order.
    # A DAG that sets no priority keeps that order (its tasks all count as weight 0 here).
    ready = sorted(ready, key=lambda r: -dags[r[0].dag_id].tasks[r[1]].weight if dags[r[0].dag_id].prioritized else 0)
    for run, tid, index in ready:
        dag = dags[run.dag_id]
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
        active += 1
        per_dag[dag.dag_id] = per_dag.get(dag.dag_id, 0) + 1
        if pool:
            per_pool[pool] = per_pool.get(pool, 0) + 1
        for key in ((dag.dag_id, tid), (run.pk, tid)):
            per_task[key] = per_task.get(key, 0) + 1
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
