"""The scheduler loop: apply the planner's decisions, start tries, record their ends.

One thread, the only writer of task states while it runs. It sleeps until the earliest of:
a child exit (the executor's pidfds), the planner's next due time (fire, retry, run timeout),
or the next look at the outside world — `PRAGMA data_version` for actions written by the CLI
or TUI, and DAG file mtimes for hot reload — taken at most every `POLL_INTERVAL` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import planner as P
from . import recovery
from .clock import SystemClock
from .config import Settings, load_settings
from .dag import Dag, Task
from .errors import MinorchError, StoreError
from .executors.base import Executor, Exit, Launch, Running
from .executors.pick import executor_for
from .live import LiveState
from .notify import Notifier
from .options import TaskOptions
from .outage import Outage
from .records import Attempt, RunRecord, from_iso, iso
from .recovery import Inflight
from .registry import Registry, file_stamps, load
from .schedule import dates_for_logical, run_dates
from .states import RunState, TaskState
from .store import Store
from .taskenv import SharedEnvironment, TryEnvironment, shared_environment
from .templates import build_context, is_plain, render, stamps

if TYPE_CHECKING:
    from .watcher import DagWatcher

log = logging.getLogger("minorch.scheduler")

POLL_INTERVAL = 0.5  # seconds between looks at the store's data_version
RELOAD_INTERVAL = 1.0  # seconds between looks at DAG file mtimes
WAKE_EARLY = 0.002  # the loop wakes this long before a due time and sleeps the rest precisely
# A fire's run is created this long before the fire (queued; it starts at the fire), so that at the
# fire the loop only starts the run and its tasks: creating it is not part of their lateness.
CREATE_AHEAD = timedelta(seconds=0.25)
MAX_RESULT_BYTES = 64 * 1024
MAX_COMMAND_BYTES = 128 * 1024
LAUNCHABLE = (TaskState.NONE, TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE)
# Shell tasks run as `sh -c STATUS_WRAPPER` with the command in $MINORCH_COMMAND: the EXIT trap
# records the exit status in a file, so a scheduler restarted after a crash knows how a try that
# ended while it was down came out (and never reruns one that succeeded).
STATUS_WRAPPER = (
    "__minorch_status=$MINORCH_STATUS_FILE __minorch_command=$MINORCH_COMMAND; "
    "unset MINORCH_STATUS_FILE MINORCH_COMMAND; "
    'trap \'printf "%s" "$?" > "$__minorch_status"\' EXIT; eval "$__minorch_command"'
)


@dataclass(frozen=True)
class Event:
    """A state change worth telling a person about (printed by `minorch run`, logged by `up`)."""

    kind: str  # "run" or "task"
    dag_id: str
    run_id: str
    task_id: str | None
    state: str
    message: str
    try_number: int = 0


@dataclass(eq=False)
class _Ready:
    """A try about to start: what to run, its attempt row and what the loop keeps while it runs."""

    run: RunRecord
    launch: Launch
    attempt: Attempt
    flight: Inflight


def attempt_tag(state_dir: Path) -> str:
    """The first characters of every attempt id of one state folder, so that a restarted scheduler
    knows the processes of its own tries (and only those) by their MINORCH_ATTEMPT_ID."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]


def log_path(log_dir: Path, run: RunRecord, task_id: str, try_number: int, map_index: int = -1) -> Path:
    """logs/<dag>/<run>/<task>/<try>.log; a mapped task's copies: <task>/map-<index>/<try>.log."""
    safe = run.run_id.replace(":", "-").replace("+", "_")
    folder = log_dir / run.dag_id / safe / task_id
    return (folder / f"map-{map_index}" if map_index >= 0 else folder) / f"{try_number}.log"


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        registry: Registry | None = None,
        executor: Executor | None = None,
        clock: SystemClock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.executor = executor or executor_for(settings, self.clock.monotonic)
        self.on_event = on_event or (lambda event: None)
        self.notifier = Notifier(settings.notifiers, cwd=str(settings.root))
        self.registry = registry or load(settings)
        self.dags: dict[str, Dag] = dict(self.registry.dags)
        self.inflight: dict[str, Inflight] = {}
        self.live = LiveState(store)  # the active runs' task instances, from the store's change feed
        self._memory: dict[int, P.RunMemory] = {}  # what incremental planning keeps between steps
        self.attempt_tag = attempt_tag(settings.state_dir)
        self.outage = Outage(settings.db_path, self.clock.monotonic)
        self._ended: list[tuple[Inflight, Exit, float]] = []  # ends of tries not recorded yet, and when seen
        self._pids: list[Running] = []  # where started tries run, not recorded yet
        self._environment: SharedEnvironment | None = None  # what every try's environment starts from
        self._sla_noticed: set[tuple[int, str]] | None = None  # loaded from the store on first use
        self._stale_noticed: dict[str, int | None] | None = None  # asset -> the event its stale spell followed
        self.stopping = False
        self._data_version = -1
        self._next_poll = 0.0
        self._next_reload = 0.0
        # Says when DAG files need a look (inotify), instead of stat-ing them all; made at the first
        # look, so a foreground run, which never reloads, does not load it.
        self._watcher: DagWatcher | None = None
        self._dirty = True
        self._wake_at: datetime | None = None  # when the planner next wants to look, with no event
        # A pipe that stop() (from a signal handler or another thread) writes to, so the
        # loop wakes at once instead of at the end of its current wait.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.executor.add_wakeup_fd(self._wake_r)
        (settings.state_dir / "tmp").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sync_dags()

    # ------------------------------------------------------------ DAG files

    def sync_dags(self) -> None:
        self._has_slas = any(t.opts.sla is not None for d in self.dags.values() for t in d.tasks.values())
        now = self.clock.now().timestamp()
        for dag in self.dags.values():
            self.store.sync_dag(
                dag.dag_id,
                file=dag.file,
                schedule=str(dag.assets) if dag.assets else dag.schedule.expr if dag.schedule else None,
                description=dag.description,
                paused_default=dag.paused,
                now=now,
            )
        self.store.set_load_errors((e.file, e.line, str(e)) for e in self.registry.errors)
        self.store.set_asset_watches({d.dag_id: d.assets.condition.names() for d in self.dags.values() if d.assets})

    def reload_if_changed(self) -> bool:
        """Reload DAG files if any changed; a DAG whose file broke keeps its last good version."""
        if self._watcher is None:
            from .watcher import DagWatcher

            self._watcher = DagWatcher()
        if not self._watcher.changed(self.settings.dag_folders, self.settings.config_files, self.settings.state_dir):
            return False
        stamps = file_stamps(self.settings)
        if stamps == self.registry.files:
            return False
        if any(stamps.get(path) != self.registry.files.get(path) for path in self.settings.config_files):
            self._reload_settings()
        fresh = load(self.settings)
        broken = {e.file for e in fresh.errors}
        kept = {d.dag_id: d for d in self.dags.values() if d.file in broken and d.dag_id not in fresh.dags}
        self.registry = fresh
        self.dags = {**kept, **fresh.dags}
        self._memory.clear()  # the DAGs' shapes may have changed: plan every run whole once
        self.sync_dags()
        for dag_id, dag in kept.items():
            error = next(str(e) for e in fresh.errors if e.file == dag.file)
            self.store.set_dag_error(dag_id, error)
        for err in fresh.errors:
            log.error("%s", err)
        log.info(
            "reloaded DAG files: %d DAGs, %d load error%s",
            len(self.dags),
            len(fresh.errors),
            "" if len(fresh.errors) == 1 else "s",
        )
        self._dirty = True
        return True

    def _reload_settings(self) -> None:
        """minorch.toml changed: take its DAGs, defaults, notifiers, pools and limits; the state
        folder stays. A broken edit is logged and the settings in use stay."""
        try:
            fresh = load_settings(self.settings.config_file, env=self.settings.env_name)
        except MinorchError as err:
            log.error("%s (keeping the settings in use)", err)
            return
        fresh.state_dir = self.settings.state_dir
        self.settings = fresh
        self.notifier.named = dict(fresh.notifiers)

    # ------------------------------------------------------------ crash recovery

    def recover(self, dag_ids: set[str] | None = None) -> int:
        """Tries left open by a scheduler that stopped, and processes no state row knows (see
        `recovery.recover`); only those of `dag_ids` when given (a one-shot run, beside one-shot
        runs of other DAGs). Returns how many tries and task instances it settled."""
        return recovery.recover(self, dag_ids)

    def _interrupt(
        self,
        attempt_id: str,
        run_pk: int,
        task_id: str,
        map_index: int,
        end: float,
        duration: float | None,
        reason: str,
    ) -> None:
        """Record a try the scheduler itself cut short (a crash, a stop) as interrupted: its task is
        tried again and the try is not counted against retries."""
        ti = self.store.task_instance(run_pk, task_id, map_index)
        with self.store.write():
            self.store.finish_attempt(
                attempt_id,
                end_date=end,
                duration=duration,
                exit_code=None,
                signal=None,
                timed_out=False,
                outcome="interrupted",
                counted=False,
                reason=f"{reason}; it is tried again and not counted against retries",
            )
            if ti is not None:
                self.store.set_task_state(
                    run_pk,
                    task_id,
                    TaskState.NONE,
                    [TaskState.RUNNING, TaskState.QUEUED],
                    map_index=map_index,
                    try_number=max(ti.try_base, ti.try_number - 1),
                    note=reason,
                )

    # ------------------------------------------------------------ one step

    def step(self, only_runs: set[int] | None = None) -> datetime | None:
        """Look at the store, decide, act. Returns when the planner next wants to look."""
        now = self.clock.now()
        self.live.refresh()
        runs = self.live.ordered_runs()
        snap = P.Snapshot(
            self.store.dag_rows(),
            runs,
            self.live.tis,
            self.live.mapped,
            self.store.asset_queue(),
            held=self.live.held,
        )
        past = {dag_id for dag_id, dag in self.dags.items() if P.links(dag).looks_at_past}
        for run in runs:  # depends_on_past / wait_for_downstream look at the previous run
            if run.dag_id in past:
                previous = self.store.previous_run_states(run.dag_id, run.logical_date)
                if previous is not None:
                    snap.previous[run.pk] = previous
        decided = P.plan(
            self.dags,
            snap,
            now,
            parallelism=self.settings.parallelism,
            pools=self.settings.pools,
            only_runs=only_runs,
            memory=self._memory,
            changed=self.live.take_changed(),
            create_ahead=CREATE_AHEAD,
        )
        self._check_slas(snap, now, decided)
        self._check_freshness(now, decided)
        busy = self._cancel_changed(snap)
        decided.actions = [
            a
            for a in decided.actions
            if not (
                isinstance(a, P.Launch)
                and ((a.run_pk, a.task_id, a.map_index) in busy or self.stopping)
                or isinstance(a, (P.CreateRun, P.CreateAssetRun))
                and self.stopping
            )
        ]
        by_pk = {r.pk: r for r in runs}
        batch = []
        if any(isinstance(a, P.Launch) for a in decided.actions):  # the stored definitions, read once a step
            self._environment = shared_environment(self._environment, self.settings, self.store)
        for action in decided.actions:
            if isinstance(action, P.Launch):
                batch.append(self._prepare(by_pk[action.run_pk], action, snap, now))
            else:
                self._apply(action, by_pk, snap, now)
        self.start_tries(batch, now)
        return decided.wake_at

    def _check_slas(self, snap: P.Snapshot, now: datetime, decided: P.Plan) -> None:
        """Notify each SLA miss once (recorded in the store, so a restart does not repeat it)."""
        if not self._has_slas:
            return
        from . import sla

        if self._sla_noticed is None:
            self._sla_noticed = self.store.sla_misses()
        found = sla.check(self.dags, snap.runs, snap.tis, now, self._sla_noticed)
        for miss in found.misses:
            self._sla_noticed.add((miss.run_pk, miss.task_id))
            if self.store.record_sla_miss(miss.run_pk, miss.task_id, miss.deadline.timestamp(), now.timestamp()):
                log.warning("%s.%s missed its SLA of %gs (run %s)", miss.dag_id, miss.task_id, miss.sla, miss.run_id)
                self.notifier.sla_missed(self.dags[miss.dag_id], miss, now)
        decided.wake(found.wake_at)

    def _check_freshness(self, now: datetime, decided: P.Plan) -> None:
        """Notify each stale spell of an asset with `fresh_within` once (recorded in the store)."""
        if not self.registry.assets:  # most projects declare none
            return
        from . import freshness

        limits = freshness.watched(self.registry.assets)
        if not limits:
            return
        if self._stale_noticed is None:
            self._stale_noticed = self.store.stale_noticed()
        found = freshness.check(limits, self.store.latest_asset_events(limits), now.timestamp())
        for stale in found.stale:
            last_id = stale.last.id if stale.last else None
            if stale.asset in self._stale_noticed and self._stale_noticed[stale.asset] == last_id:
                continue
            self._stale_noticed[stale.asset] = last_id
            if self.store.record_stale(stale.asset, last_id, now.timestamp()):
                since = "never had an event" if stale.last is None else f"no event for {stale.fresh_within:g}s"
                text = f"minorch: asset {stale.asset} is stale: {since} (fresh_within {stale.fresh_within:g}s)"
                log.warning("%s", text)
                self.notifier.send(
                    self.registry.assets[stale.asset].get("on_stale", ()),
                    {"event": "on_stale", "asset": stale.asset, "fresh_within": stale.fresh_within,
                     "last_event": stale.last.as_dict() if stale.last else None, "time": iso(now), "text": text},
                )  # fmt: skip
        if found.wake_at is not None:
            decided.wake(datetime.fromtimestamp(found.wake_at, timezone.utc))

    def _cancel_changed(self, snap: P.Snapshot) -> set[tuple[int, str, int]]:
        """Kill tries whose task instance was cleared or marked (or whose run was marked) while they ran.
        Returns the (run, task) pairs that still have a try in flight: they must not start again yet."""
        busy = set()
        for attempt_id, flight in self.inflight.items():
            busy.add((flight.run_pk, flight.task_id, flight.map_index))
            if flight.map_index < 0:
                ti = snap.tis.get(flight.run_pk, {}).get(flight.task_id)
            else:
                ti = snap.mapped.get(flight.run_pk, {}).get(flight.task_id, {}).get(flight.map_index)
            if ti is None or ti.state is not TaskState.RUNNING or ti.try_number != flight.try_number:
                self.executor.cancel(attempt_id, "cancelled: the task was cleared or marked while it ran")
        return busy

    def _apply(self, action, by_pk: dict[int, RunRecord], snap: P.Snapshot, now: datetime) -> None:
        stamp = now.timestamp()
        if isinstance(action, P.SetFires):
            self.store.set_fires(
                action.dag_id,
                next_fire=iso(action.next_fire) if action.next_fire else None,
                last_fire=iso(action.last_fire) if action.last_fire else None,
            )
        elif isinstance(action, P.CreateRun):
            dag = self.dags[action.dag_id]
            self.create_run(dag, action.fire, "scheduled", now=now)
        elif isinstance(action, P.CreateAssetRun):
            self.create_asset_run(self.dags[action.dag_id], action, now)
        elif isinstance(action, P.StartRun):
            if self.store.set_run_state(action.run_pk, RunState.RUNNING, [RunState.QUEUED], now=stamp):
                self._dirty = True  # plan once more with the run started: its SLA deadlines count from now
                run = by_pk[action.run_pk]
                by_pk[action.run_pk] = self.store.existing_run(action.run_pk)
                self._emit("run", run, None, "running", f"run {run.run_id} started")
        elif isinstance(action, P.AddTasks):
            self.store.add_task_instances(action.run_pk, action.task_ids)
        elif isinstance(action, P.SetTaskState):
            if self.store.set_task_state(
                action.run_pk, action.task_id, action.state, [action.expect], end_date=stamp, note=action.note
            ):
                self._emit("task", by_pk[action.run_pk], action.task_id, action.state.value, action.note)
        elif isinstance(action, P.FinishRun):
            self._finish_run(by_pk[action.run_pk], action, snap, stamp)
        elif isinstance(action, P.Expand):
            self.expand(by_pk[action.run_pk], self.dags[by_pk[action.run_pk].dag_id].tasks[action.task_id], now)
        elif isinstance(action, P.FinishMapped):
            with self.store.write():
                self.store.put_xcom(
                    action.run_pk, action.task_id, json.dumps(self.store.mapped_results(action.run_pk, action.task_id))
                )
                moved = self.store.set_task_state(
                    action.run_pk, action.task_id, action.state, [TaskState.RUNNING], end_date=stamp, note=action.note
                )
                if moved and action.state is TaskState.SUCCESS:
                    run = by_pk[action.run_pk]
                    self._record_outlets(run, self.dags[run.dag_id].tasks[action.task_id], None, stamp)
            if moved:
                self._dirty = True
                self._emit("task", by_pk[action.run_pk], action.task_id, action.state.value, action.note)
        elif isinstance(action, P.Poke):
            run = by_pk[action.run_pk]
            self.poke(run, self.dags[run.dag_id].tasks[action.task_id], snap.tis[run.pk].get(action.task_id), now)

    def create_run(
        self,
        dag: Dag,
        moment: datetime,
        run_type: str,
        *,
        now: datetime,
        conf: dict | None = None,
        logical: bool = False,
    ) -> tuple[int, bool]:
        """A queued run for a fire (or, with `logical=True`, for that logical date).
        Returns (run pk, created); an existing run with the same id is returned as is."""
        manual = dag.schedule is None or dag.schedule.kind in ("none", "reboot")
        if logical and not manual:
            dates = dates_for_logical(dag.schedule, moment, dag.interval_semantics, dag.data_interval == "point")
        else:
            dates = run_dates(dag.schedule, moment, dag.interval_semantics, dag.data_interval == "point")
        run_id = P.run_id_for(run_type, dates.logical_date)
        pk = self.store.create_run(
            dag.dag_id,
            run_id,
            run_type,
            iso(dates.logical_date),
            iso(dates.data_interval_start),
            iso(dates.data_interval_end),
            list(dag.tasks),
            conf=conf,
            now=now.timestamp(),
        )
        if pk is None:  # there already: the unique (dag_id, run_id) refused a second one
            existing = self.store.run_by_id(dag.dag_id, run_id)
            if existing is None:
                raise StoreError(f"{dag.dag_id}: run {run_id} was neither created nor found")
            return existing.pk, False
        self._dirty = True
        log.info("%s: queued run %s", dag.dag_id, run_id)
        return pk, True

    def create_asset_run(self, dag: Dag, action: P.CreateAssetRun, now: datetime) -> None:
        """Queue the run an asset condition asked for and consume its events, in one transaction: a
        crash leaves either both (the run, events consumed) or neither (the events still queued).
        A per-day run whose day already ran is cleared and runs again (the data was re-made)."""
        with self.store.write():
            if action.ds is None:
                moment = now.replace(microsecond=0)
                while self.store.run_by_id(dag.dag_id, P.run_id_for("asset_triggered", moment)) is not None:
                    moment += timedelta(seconds=1)  # run ids have one-second resolution
                pk, _ = self.create_run(dag, moment, "asset_triggered", now=now, logical=True)
            else:
                pk, created = self.create_run(
                    dag, P.day_start(action.ds, dag.timezone), "asset_triggered", now=now, logical=True
                )
                if not created:
                    self.store.clear_task_instances(pk, list(dag.tasks), set(TaskState), note="its assets were updated")
                    self.store.set_run_state(
                        pk, RunState.QUEUED, [RunState.SUCCESS, RunState.FAILED], now=now.timestamp()
                    )
            self.store.consume_asset_events(dag.dag_id, pk, action.event_ids)
        self._dirty = True

    def _record_outlets(self, run: RunRecord, task: Task, result: str | None, stamp: float) -> None:
        """One event per outlet of a task that succeeded; called inside the transaction that records
        the success, so the two commit together. Metadata: the task's result (mapped: the copies')."""
        if not task.outlets or run is None:
            return
        extra = result if result is not None else json.dumps(self.store.xcoms(run.pk, [task.task_id]).get(task.task_id))
        ds = from_iso(run.logical_date).astimezone(ZoneInfo(self.dags[run.dag_id].timezone)).date().isoformat()
        for name in task.outlets:
            self.store.add_asset_event(
                name, ds=ds, extra_json=extra, now=stamp, dag_id=run.dag_id, run_id=run.run_id, task_id=task.task_id
            )

    def _finish_run(self, run: RunRecord, action: P.FinishRun, snap: P.Snapshot, stamp: float) -> None:
        if action.reason.startswith("run timed out"):
            for flight_id, flight in list(self.inflight.items()):
                if flight.run_pk == run.pk:
                    self.executor.cancel(flight_id, action.reason)
            for tid, ti in snap.tis.get(run.pk, {}).items():
                if not ti.state.finished and not ti.state.active:
                    self.store.set_task_state(
                        run.pk, tid, TaskState.FAILED, [ti.state], end_date=stamp, note=action.reason
                    )
        if self.store.set_run_state(run.pk, action.state, [RunState.RUNNING], now=stamp):
            self._dirty = True  # a max_active_runs slot is free: a queued run may start now
            self._emit("run", run, None, action.state.value, action.reason)

    # ------------------------------------------------------------ tries

    def _prepare(self, run: RunRecord, action: P.Launch, snap: P.Snapshot, now: datetime) -> _Ready:
        """Everything a try needs before it is recorded: its command, environment, spec file and row."""
        dag = self.dags[run.dag_id]
        task, map_index = dag.tasks[action.task_id], action.map_index
        ti = snap.tis[run.pk].get(task.task_id) if map_index < 0 else snap.mapped[run.pk][task.task_id][map_index]
        try_number = (ti.try_number if ti else 0) + 1
        stamp = now.timestamp()
        attempt_id = self.attempt_tag + uuid.uuid4().hex[: 32 - len(self.attempt_tag)]
        log_path = self.log_path(run, task.task_id, try_number, map_index)
        source = task.command if task.sensor is None else task.sensor.get("command")
        plain = source is not None and map_index < 0 and all(map(is_plain, (source, *task.opts.env.values())))
        if plain:  # nothing to render: the try's environment needs only the run's ds and ts
            xcom: dict = {}
            ds, ts = stamps(from_iso(run.logical_date), dag.timezone)
            context: dict = {"ds": ds, "ts": ts}
        else:
            xcom = self.store.xcoms(run.pk, task.upstream)
            context = self._context(dag, task, run, try_number, xcom, map_index)
        if map_index >= 0:
            try:
                context[task.map_as] = self.map_items(run, task)[map_index]
            except (MinorchError, IndexError):
                context[task.map_as] = None  # the list changed under a cleared upstream: the copy sees None
            context["map_index"] = map_index
        assert self._environment is not None  # made by the step
        try_env = TryEnvironment(self._environment)
        status_path = self._attempt_file(attempt_id, "status")
        env = {
            **try_env.base,
            **_marker_env(dag, task, run, try_number, context),
            "MINORCH_STATUS_FILE": str(status_path),
        }
        result_path = spec_path = None
        command = None
        try:
            where = f"{dag.file}: task '{task.task_id}'"
            names = {} if plain else {**context, **try_env.template_names()}
            env.update({name: render(value, names, shell=False, where=where) for name, value in task.opts.env.items()})
            if source is not None:
                command = _checked_size(render(source, names, shell=True, where=where))
                env["MINORCH_COMMAND"] = command
                argv = [task.opts.shell, "-c", STATUS_WRAPPER]
            else:
                spec_path, result_path = self._python_spec(dag, task, attempt_id, context, xcom, run.pk)
                argv = [sys.executable, "-m", "minorch.runtime", str(spec_path)]
        except MinorchError as err:
            argv = [
                sys.executable,
                "-c",
                "import sys; sys.stderr.write(sys.argv[1] + '\\n'); sys.exit(1)",
                f"minorch: {err}",
            ]
        waiting_since = stamp  # a command sensor's wait started at its first poke; each poke is one short try
        if task.flavor == "sensor" and ti is not None and ti.state is TaskState.UP_FOR_RESCHEDULE and ti.start_date:
            waiting_since = ti.start_date
        timeout = task.opts.poke_interval if task.flavor == "sensor" else task.opts.timeout
        launch = Launch(
            attempt_id=attempt_id,
            argv=argv,
            env=env,
            cwd=str(self.settings.root / (task.opts.cwd or "")),
            log_path=log_path,
            timeout=timeout,
            grace=task.opts.grace,
            log_cap=self.settings.log_cap,
            secrets=try_env.secrets(),
            status_path=status_path,
            spec_path=spec_path,
            result_path=result_path,
            executor=task.opts.executor or self.settings.executor,
            queue=task.opts.queue,
        )
        attempt = Attempt(
            attempt_id,
            run.pk,
            task.task_id,
            map_index,
            try_number,
            None,
            None,
            stamp,
            None,
            None,
            None,
            None,
            False,
            True,
            None,
            None,
            str(log_path),
            None,
            None,
            try_env.mask(command),
            launch.executor,
        )
        counted = try_number - (ti.try_base if ti else 0)
        flight = Inflight(
            run.pk,
            dag.dag_id,
            run.run_id,
            task.task_id,
            try_number,
            counted,
            result_path,
            spec_path,
            waiting_since,
            map_index,
            log_path,
        )
        return _Ready(run, launch, attempt, flight)

    def start_tries(self, batch: list[_Ready], now: datetime) -> None:
        """Record, then start: one transaction moves every task of `batch` to running and writes its
        attempt row (no pid yet); then the processes start; their pids go in the next transaction the
        loop makes anyway (the next end's), at the latest at its next look (`_record_pending`).
        A crash before the first commit started nothing; a crash after it leaves rows whose process
        may or may not run, which `recover` finds by the attempt id every process of a try carries.
        So no process ever runs that no row knows, and no try starts twice."""
        if not batch:
            return
        recorded: list[_Ready] = []
        with self.store.write():
            for ready in batch:
                if self.store.set_task_state(
                    ready.run.pk,
                    ready.flight.task_id,
                    TaskState.RUNNING,
                    LAUNCHABLE,
                    map_index=ready.flight.map_index,
                    try_number=ready.flight.try_number,
                    start_date=ready.flight.started,
                    end_date=None,
                    duration=None,
                    next_try_at=None,
                    note=None,
                ):  # False: someone (clear, mark) changed it since the snapshot
                    self.store.start_attempt(ready.attempt)
                    recorded.append(ready)
        for ready in batch:
            if ready not in recorded:
                self._done_with(ready.attempt.attempt_id)
        processes = []
        for ready, started in zip(recorded, self.executor.start_all([ready.launch for ready in recorded]), strict=True):
            self.inflight[ready.attempt.attempt_id] = ready.flight
            processes.append(started)
            flight = ready.flight
            label = flight.task_id if flight.map_index < 0 else f"{flight.task_id}[{flight.map_index}]"
            self._emit("task", ready.run, label, "running", f"try {flight.try_number} started", flight.try_number)
        self._pids += processes

    def map_items(self, run: RunRecord, task: Task) -> list:
        """The list a mapped task maps over: its literal list, or its upstream task's result.
        Raises MinorchError when that is not a list or is longer than max_map_length."""
        source = task.map_over
        if isinstance(source, list):
            items = source
        elif source is None:
            raise MinorchError(f"'{task.task_id}' is not a mapped task")
        else:
            found = self.store.xcoms(run.pk, [source]).get(source)
            if not isinstance(found, list):
                raise MinorchError(
                    f"cannot map over the result of '{source}': it returned "
                    f"{type(found).__name__ if found is not None else 'nothing'}, not a list"
                )
            items = found
        if len(items) > self.settings.max_map_length:
            raise MinorchError(
                f"'{task.task_id}' would map over {len(items)} items, more than max_map_length "
                f"({self.settings.max_map_length})",
                hint="raise [minorch] max_map_length, or split the list upstream",
            )
        return items

    def expand(self, run: RunRecord, task: Task, now: datetime) -> None:
        """Start a mapped task: one copy per item (none: the task is skipped)."""
        stamp = now.timestamp()
        try:
            items = self.map_items(run, task)
        except MinorchError as err:
            if self.store.set_task_state(
                run.pk, task.task_id, TaskState.FAILED, [TaskState.NONE], end_date=stamp, note=str(err)
            ):
                self._emit("task", run, task.task_id, "failed", str(err))
            self._dirty = True
            return
        if not items:
            if self.store.set_task_state(
                run.pk,
                task.task_id,
                TaskState.SKIPPED,
                [TaskState.NONE],
                end_date=stamp,
                note="mapped over an empty list",
            ):
                self._emit("task", run, task.task_id, "skipped", "mapped over an empty list")
        elif self.store.expand_task(
            run.pk, task.task_id, len(items), now=stamp, note=f"mapped over {len(items)} items"
        ):
            self._emit("task", run, task.task_id, "running", f"mapped over {len(items)} items")
        self._dirty = True

    def poke(self, run: RunRecord, task: Task, ti, now: datetime) -> None:
        """Check a sensor once in this process; it holds no slot while it waits."""
        stamp = now.timestamp()
        first = ti.start_date if ti is not None and ti.state is TaskState.UP_FOR_RESCHEDULE and ti.start_date else stamp
        from . import sensors

        context = self._context(self.dags[run.dag_id], task, run, 0, {})
        try:
            result = sensors.poke(task, context, root=self.settings.root, now=now, store=self.store, dags=self.dags)
        except MinorchError as err:
            state, next_try_at, note = TaskState.FAILED, None, f"sensor cannot check its condition: {err}"
        else:
            state, next_try_at = P.sensor_outcome(
                task.opts, result.met, first, stamp, result.check_at.timestamp() if result.check_at else None
            )
            note = result.detail if state is not TaskState.FAILED else f"sensor timed out: {result.detail}"
            if result.failed:
                state, next_try_at, note = TaskState.FAILED, None, f"sensor failed: {result.detail}"
            if state is TaskState.SKIPPED:
                note = f"sensor timed out (soft_fail): {result.detail}"
        previous = ti.state if ti is not None else TaskState.NONE
        with self.store.write():
            moved = self.store.set_task_state(
                run.pk,
                task.task_id,
                state,
                [previous],
                start_date=first,
                next_try_at=next_try_at,
                end_date=None if state is TaskState.UP_FOR_RESCHEDULE else stamp,
                note=note,
            )
            if moved and state is TaskState.SUCCESS:
                self._record_outlets(run, task, None, stamp)
        if moved:
            if state is not previous:
                self._emit("task", run, task.task_id, state.value, note)
            self._dirty = True  # the next plan sees the new state (and when to poke again)

    def _done_with(self, attempt_id: str, shell: bool = False) -> None:
        """A try whose end is recorded (or that never started): remove its scratch files (a shell try,
        `shell`, has only its status file) and let its executor drop what it kept of its end (a Dask
        worker's folder of it), which is what a restarted scheduler would read the end from."""
        stem = os.path.join(self.settings.state_dir, "tmp", attempt_id)  # a string: once per try, no Path made
        for suffix in ("status",) if shell else ("json", "result.json", "keys.json", "status"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{stem}.{suffix}")
        self.executor.recorded(attempt_id)

    def _attempt_file(self, attempt_id: str, suffix: str) -> Path:
        """Per-try scratch files (spec, result, exit status) in <state>/tmp, private to the user."""
        return self.settings.state_dir / "tmp" / f"{attempt_id}.{suffix}"

    def log_path(self, run: RunRecord, task_id: str, try_number: int, map_index: int = -1) -> Path:
        return log_path(self.settings.log_dir, run, task_id, try_number, map_index)

    def _context(self, dag: Dag, task: Task, run: RunRecord, try_number: int, xcom: dict, map_index: int = -1) -> dict:
        logical = from_iso(run.logical_date)
        schedule = dag.schedule
        prev_ = next_ = None
        if schedule is not None and schedule.kind in ("cron", "interval"):
            prev_, next_ = schedule.prev_fire(logical), schedule.next_fire(logical)
        # An inlet's event is the newest that started this run (for a per-day run: that day's),
        # else the asset's newest event.
        triggering = self.store.run_asset_events(run.pk) if run.run_type == "asset_triggered" else []
        inlets = {k: e.as_dict() for k, e in self.store.latest_asset_events(task.inlets).items()}
        inlets.update({e.asset: e.as_dict() for e in triggering if e.asset in task.inlets})
        return build_context(
            conf=run.conf,
            map_index=map_index,
            pull=lambda tid, key, index: self.store.pull_xcom(run.pk, tid, key, index),
            dag_id=dag.dag_id,
            task_id=task.task_id,
            run_id=run.run_id,
            logical_date=logical,
            data_interval_start=from_iso(run.data_interval_start or run.logical_date),
            data_interval_end=from_iso(run.data_interval_end or run.logical_date),
            prev_logical_date=prev_,
            next_logical_date=next_,
            params={**task.opts.params, **run.conf},
            try_number=try_number,
            timezone=dag.timezone,
            xcom=xcom,
            triggering_events=[e.as_dict() for e in triggering],
            inlet_events=inlets,
        )

    def _python_spec(
        self, dag: Dag, task: Task, attempt_id: str, context: dict, xcom: dict, run_pk: int
    ) -> tuple[Path, Path]:
        from .runtime import write_spec

        target: dict[str, object]
        if task.python is not None:
            target = {"kind": "ref", "ref": task.python, "sys_path": [str(self.settings.root)]}
        else:
            target = {"kind": "dagfile", "path": dag.source_path, "dag_id": dag.dag_id, "task_id": task.task_id}
        spec_path, result_path = self._attempt_file(attempt_id, "json"), self._attempt_file(attempt_id, "result.json")
        write_spec(
            spec_path,
            target=target,
            context={**context, "xcom": xcom},
            result_path=result_path,
            max_result_bytes=MAX_RESULT_BYTES,
            results={
                "db_path": str(self.settings.db_path),
                "run_pk": run_pk,
                "keys_path": str(self._attempt_file(attempt_id, "keys.json")),
                "multiple_outputs": task.opts.multiple_outputs,
                "do_xcom_push": task.opts.do_xcom_push is not False,
                "sensor": task.flavor == "sensor",
            },
        )
        return spec_path, result_path

    def _placed(self, started: Running) -> None:
        self.store.set_attempt_process(
            started.attempt_id, started.pid or None, started.create_time or None, started.external_id, started.host
        )

    def handle_exits(self, exits: list[Exit | Running]) -> None:
        """Record what the executor reported: where tries run and how they ended (raises what the
        store raises; the facts then wait)."""
        self._collect(exits)
        self._record_pending()

    def _collect(self, exits: Sequence[Exit | Running]) -> None:
        """Keep the facts about our tries (ends with when they were seen) until they are recorded."""
        seen = self.clock.now().timestamp()
        for done in exits:
            if isinstance(done, Running):
                if done.attempt_id in self.inflight:
                    self._pids.append(done)
                continue
            flight = self.inflight.pop(done.attempt_id, None)
            if flight is not None:
                self._dirty = True
                self._ended.append((flight, done, seen))

    def _record_pids(self) -> None:
        if self._pids:
            with self.store.write():
                placed = self._place_pids()
            del self._pids[:placed]

    def _place_pids(self) -> int:
        """Write where the started tries run, in the caller's transaction; returns how many (to drop
        from `_pids` once it commits)."""
        for started in self._pids:
            self._placed(started)
        return len(self._pids)

    def _record_pending(self) -> None:
        """Write what an outage held back: where started tries run, then ends of tries, oldest first.
        Each end is one transaction; one that fails stays first in line. A lost try (its Dask worker
        went away) is interrupted: tried again, not counted. The pids go in the first end's transaction."""
        while self._ended:
            flight, done, seen = self._ended[0]
            if done.lost:
                self._record_pids()
                self._interrupt(
                    done.attempt_id, flight.run_pk, flight.task_id, flight.map_index, seen, done.duration, done.reason
                )
                self._done_with(done.attempt_id)
            else:
                self._record_exit(flight, done, end=seen)
            self._ended.pop(0)
        self._record_pids()

    def _record_exit(self, flight: Inflight, done: Exit, end: float | None = None) -> None:
        """Result, attempt and task state of a finished try, in one transaction. `end`: when it ended
        (default: now)."""
        end = self.clock.now().timestamp() if end is None else end
        dag = self.dags.get(flight.dag_id)
        task = dag.tasks.get(flight.task_id) if dag else None
        opts = task.opts if task else TaskOptions()
        returncode, reason = done.returncode, done.reason
        result = keyed = None
        if returncode == 0 and flight.result_path is not None and flight.result_path.exists():
            result = flight.result_path.read_text()
        if returncode == 0 and flight.result_path is not None:  # a shell try (no result file) writes no keys
            keys_file = self._attempt_file(done.attempt_id, "keys.json")
            if keys_file.exists():
                keyed = {key: json.dumps(value) for key, value in json.loads(keys_file.read_text()).items()}
        if returncode == 0 and task is not None and task.command is not None and opts.do_xcom_push and flight.log_path:
            result = json.dumps(last_line(flight.log_path))
        skips: list[str] = []
        skip_note = ""  # why the tasks a branch did not choose are skipped
        note: str | None
        if (
            task is not None
            and task.flavor == "sensor"
            and task.sensor is not None
            and "python" in task.sensor
            and not done.timed_out
            and returncode not in (0, 100)
        ):
            state, next_try_at, note = TaskState.FAILED, None, f"sensor failed: {reason}"  # it raised
        elif task is not None and task.flavor == "sensor":
            state, next_try_at = P.sensor_outcome(opts, returncode == 0 and not done.timed_out, flight.started, end)
            note = {
                TaskState.UP_FOR_RESCHEDULE: f"not yet ({reason}); next poke in {opts.poke_interval:g}s",
                TaskState.FAILED: f"sensor timed out; last poke {reason}",
                TaskState.SKIPPED: f"sensor timed out (soft_fail); last poke {reason}",
            }.get(state)
        else:
            state, next_try_at = P.outcome(opts, flight.counted_tries, None if done.timed_out else returncode, end)
            if state is TaskState.UP_FOR_RETRY:
                wait = (next_try_at or end) - end
                note = f"{reason}; try {flight.counted_tries + 1} of {opts.retries + 1} in {wait:.0f}s"
            else:
                note = reason if state is not TaskState.SUCCESS else None
            if (
                state is TaskState.SUCCESS
                and dag is not None
                and task is not None
                and task.flavor in ("branch", "short_circuit")
            ):
                skips, error = P.branch_skips(dag, task.task_id, json.loads(result) if result else None)
                skip_note = f"not chosen by {task.flavor.replace('_', '-')} '{task.task_id}'"
                if error:
                    state, note = TaskState.FAILED, error
        with self.store.write():
            placed = self._place_pids()  # of tries started since the last transaction: one commit less
            if result is not None:
                self.store.put_xcom(flight.run_pk, flight.task_id, result, map_index=flight.map_index)
            if keyed:
                self.store.put_xcom_keys(flight.run_pk, flight.task_id, keyed, map_index=flight.map_index)
            skips = [
                skipped
                for skipped in skips
                if self.store.set_task_state(
                    flight.run_pk,
                    skipped,
                    TaskState.SKIPPED,
                    [TaskState.NONE],
                    end_date=end,
                    note=skip_note,
                )
            ]
            self.store.finish_attempt(
                done.attempt_id,
                end_date=end,
                duration=done.duration,
                exit_code=returncode,
                signal=done.signal,
                timed_out=done.timed_out,
                outcome="failed" if state is TaskState.UP_FOR_RETRY else state.value,
                reason=reason,
                peak_rss=done.peak_rss,
                cpu_time=done.cpu_time,
            )
            moved = self.store.set_task_state(
                flight.run_pk,
                flight.task_id,
                state,
                [TaskState.RUNNING],
                map_index=flight.map_index,
                end_date=end,
                duration=done.duration,
                next_try_at=next_try_at,
                note=note,
            )
            if moved and state is TaskState.SUCCESS and task is not None and task.outlets and flight.map_index < 0:
                self._record_outlets(self.store.existing_run(flight.run_pk), task, result, end)
        del self._pids[:placed]
        self._done_with(done.attempt_id, shell=flight.result_path is None)
        run = self.live.runs.get(flight.run_pk) or self.store.run(flight.run_pk)  # ids and dates only: never stale
        if moved and run is not None:
            label = flight.task_id if flight.map_index < 0 else f"{flight.task_id}[{flight.map_index}]"
            self._emit("task", run, label, state.value, note or reason, flight.try_number)
            for skipped in skips:
                self._emit("task", run, skipped, "skipped", f"not chosen by '{flight.task_id}'")
            if dag is not None and task is not None:
                self.notifier.task_changed(dag, task, run, state.value, note or reason, flight.try_number)

    # ------------------------------------------------------------ the loop

    def run_loop(self, *, until: Callable[[], bool] | None = None, only_runs: set[int] | None = None) -> None:
        """Step, sleep, repeat until `until()` is true or `stop()` was called and nothing runs.

        A write the state file refuses (locked past the busy timeout, disk full, I/O error, no
        permission) does not end the loop: no try starts, running tries are still supervised,
        their ends wait in memory, and the loop tries again after a backoff (see `outage`). Only a
        damaged state file raises `StoreError`."""
        while True:
            if self.outage.due():
                try:
                    self._look(only_runs)
                except (sqlite3.Error, OSError) as err:
                    self._dirty = True  # plan again once the store can be written
                    self.outage.failed(err, running=len(self.inflight), waiting=len(self._ended))
                else:
                    self.outage.over()
            if until is not None and until():
                return
            if self.stopping and not self.inflight and (not self._ended or self.outage.active):
                return  # ends still unrecorded are recorded by the next start, from their status files
            timeout = max(0.0, self._next_poll - self.clock.monotonic())  # at most POLL_INTERVAL
            due = None  # seconds to the planner's next due time, when that is what the loop waits for
            if self._wake_at is not None:
                left = max(0.0, (self._wake_at - self.clock.now()).total_seconds())
                if left <= timeout:
                    timeout = due = left
            if self._dirty:  # the step itself changed something (a new run to start): look again now
                timeout, due = 0.0, None
            if self.outage.active:
                timeout, due = max(0.0, self.outage.retry_at - self.clock.monotonic()), None
            if due is not None and due <= WAKE_EARLY:
                self.clock.sleep(due)  # the last stretch to a fire: a precise sleep, not the selector's ms ticks
            else:
                self.executor.wait(timeout if due is None else timeout - WAKE_EARLY)
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
            self._collect(self.executor.poll())

    def _look(self, only_runs: set[int] | None) -> None:
        """Record what waits to be recorded, reload changed DAG files, notice outside writes, step."""
        self._record_pending()
        mono = self.clock.monotonic()
        if mono >= self._next_reload and only_runs is None and not self.stopping:
            self._next_reload = mono + RELOAD_INTERVAL
            try:
                self.reload_if_changed()
            except (sqlite3.Error, OSError):
                raise
            except Exception:  # noqa: BLE001 - a reload must never stop the loop
                log.exception("reloading DAG files failed; keeping the loaded DAGs")
                if self._watcher is not None:
                    self._watcher.close()  # look again next time, events or not
        if mono >= self._next_poll:
            self._next_poll = mono + POLL_INTERVAL
            version = self.store.data_version()
            if version != self._data_version:
                self._data_version = version
                self._dirty = True
        if self._dirty or self._due:
            self._dirty = False
            self._wake_at = self.step(only_runs)

    @property
    def _due(self) -> bool:
        return self._wake_at is not None and self._wake_at <= self.clock.now()

    def stop(self) -> None:
        """Create no more runs or tries; the loop ends once running tries are done.
        Safe to call from a signal handler or another thread."""
        self.stopping = True
        self.wakeup()

    def wakeup(self) -> None:
        """Make the loop look at the world now (signal- and thread-safe)."""
        with contextlib.suppress(BlockingIOError):  # the pipe is full: the loop wakes anyway
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        self.executor.remove_wakeup_fd(self._wake_r)
        self.executor.close()
        if self._watcher is not None:
            self._watcher.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def leave_running(self) -> int:
        """Stop watching running tries and leave them running, for the next scheduler to adopt
        (``on_restart = "adopt"``). Their attempts stay open, with their pids. Returns how many."""
        with contextlib.suppress(sqlite3.Error, OSError):  # else the next one finds them by their attempt ids
            self._record_pids()
        self.inflight.clear()
        return self.executor.detach()

    def kill_running(self, reason: str) -> None:
        """Stop every running try (SIGTERM, grace, SIGKILL). A try the stop cut short is recorded as
        interrupted (`reason` says by what): it is tried again and not counted against retries, as
        after a crash. A try that ended on its own meanwhile is recorded as it ended. What the state
        file refuses to record now, the next start records (from the tries' exit status files)."""
        self._collect(self.executor.shutdown(self.settings.grace))
        end = self.clock.now().timestamp()
        try:
            self._record_pids()
            while self._ended:
                flight, done, seen = self._ended[0]
                if done.cancelled or done.lost:
                    self._interrupt(
                        done.attempt_id, flight.run_pk, flight.task_id, flight.map_index, end, done.duration, reason
                    )
                    self._done_with(done.attempt_id)
                else:
                    self._record_exit(flight, done, end=seen)
                self._ended.pop(0)
        except (sqlite3.Error, OSError) as err:
            log.error("could not record how %d tries ended (%s); the next start records them", len(self._ended), err)

    # ------------------------------------------------------------ events

    def _emit(
        self, kind: str, run: RunRecord, task_id: str | None, state: str, message: str, try_number: int = 0
    ) -> None:
        self.on_event(Event(kind, run.dag_id, run.run_id, task_id, state, message, try_number))


def last_line(path: Path, limit: int = 65536) -> str:
    """The last non-empty line of a try's output (stdout and stderr, as Airflow's BashOperator reads it)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - limit))
            tail = handle.read()
    except OSError:
        return ""
    lines = [line for line in tail.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _checked_size(command: str) -> str:
    """The rendered command, if a process can be given it: Linux refuses a single argument or
    environment string over 128 KiB (MAX_ARG_STRLEN), and the try's row stores it."""
    size = len(command.encode(errors="replace"))
    if size > MAX_COMMAND_BYTES:
        raise MinorchError(
            f"the rendered command is {size} bytes, more than {MAX_COMMAND_BYTES} (the most a process can be given)",
            hint="pass big data through a file and its path",
        )
    return command


def _read_status(path: Path) -> int | None:
    """The exit code a try wrote on its way out, or None if it never did (killed, or still running)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _marker_env(dag: Dag, task: Task, run: RunRecord, try_number: int, context: dict) -> dict[str, str]:
    return {
        "MINORCH_DAG_ID": dag.dag_id,
        "MINORCH_RUN_ID": run.run_id,
        "MINORCH_TASK_ID": task.task_id,
        "MINORCH_TRY_NUMBER": str(try_number),
        "MINORCH_DS": context["ds"],
        "MINORCH_LOGICAL_DATE": context["ts"],
    }
