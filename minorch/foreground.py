"""Runs in the foreground (`minorch run`, `minorch backfill --wait`): no daemon needed.

`drive` takes the state folder for its DAGs only (`SchedulerLock.acquire_runs`: never beside a
`minorch up` or another one-shot run of the same DAG; one-shot runs of other DAGs go on
together), runs the given runs to their end with the same scheduler code, and returns what happened.
Ctrl-C (SIGINT) or SIGTERM kills the running task trees, records those tries and their
unfinished tasks as failed, fails the runs, and exit code 130 says so.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .config import Settings
from .dag import Dag
from .durations import format_duration, parse_date
from .lock import SchedulerLock
from .params import check_conf
from .registry import Registry
from .scheduler import Event, Scheduler
from .states import RunState, TaskState
from .store import Attempt, RunRecord, Store, TaskInstance

EXIT_INTERRUPTED = 130


@dataclass
class RunResult:
    run: RunRecord
    dag: Dag
    tis: dict[str, TaskInstance]
    attempts: dict[str, list[Attempt]]
    interrupted: bool = False
    duration: float = 0.0
    exit_code: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.interrupted:
            self.exit_code = EXIT_INTERRUPTED
        else:
            self.exit_code = 0 if self.run.state is RunState.SUCCESS else 1


def format_event(event: Event) -> str:
    stamp = datetime.now().strftime("%H:%M:%S")
    if event.kind == "run":
        return f"{stamp}  {event.dag_id} run {event.run_id}: {event.state} - {event.message}"
    tries = f" (try {event.try_number})" if event.try_number else ""
    return f"{stamp}  {event.dag_id}.{event.task_id}: {event.state}{tries} - {event.message}"


def drive(
    settings: Settings,
    registry: Registry,
    create: Callable[[Scheduler], list[int]],
    echo: Callable[[str], None],
    *,
    dag_ids: set[str] | None = None,
    install_signals: bool = True,
) -> list[RunResult]:
    """Lock the DAGs `dag_ids`, create their runs with `create(scheduler)`, run them to the end,
    return their results. Recovery looks only at those DAGs' tries: other DAGs may be driven by
    other one-shot runs meanwhile. `dag_ids` None takes the whole state folder, as `minorch up` does."""
    lock = SchedulerLock(settings.state_dir)
    if dag_ids is None:
        lock.acquire("minorch run")
    else:
        lock.acquire_runs(dag_ids, "minorch run")
    store = Store(settings.db_path)
    interrupted = []
    previous = {}
    sched = None
    try:
        sched = Scheduler(settings, store, registry=registry, on_event=lambda e: echo(format_event(e)))
        sched.recover(dag_ids)
        pks = create(sched)
        started = sched.clock.monotonic()

        def on_signal(signum, frame):
            interrupted.append(signum)
            sched.stop()

        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)

        def finished() -> bool:
            # a run that timed out has finished while its cancelled tries are still being reaped
            return bool(interrupted) or (
                not sched.inflight and all(store.existing_run(pk).state.finished for pk in pks)
            )

        sched.run_loop(until=finished, only_runs=set(pks))
        if interrupted:
            echo("interrupted: killing running tasks")
            sched.kill_running("interrupted: `minorch run` was stopped while this try ran")
            fail_unfinished(store, pks, "interrupted before it finished")
        elapsed = sched.clock.monotonic() - started
        results = []
        for pk in pks:
            run = store.existing_run(pk)
            dag = sched.dags[run.dag_id]
            tis = store.task_instances([pk])[pk]
            attempts: dict[str, list[Attempt]] = {}
            for attempt in store.attempts(pk):
                attempts.setdefault(attempt.task_id, []).append(attempt)
            results.append(RunResult(run, dag, tis, attempts, interrupted=bool(interrupted), duration=elapsed))
        return results
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sched is not None:
            sched.close()
        store.close()
        lock.release()


def fail_unfinished(store: Store, pks: list[int], note: str) -> None:
    now = datetime.now(timezone.utc).timestamp()
    for pk in pks:
        for tid, ti in store.task_instances([pk])[pk].items():
            if not ti.state.finished:
                store.set_task_state(pk, tid, TaskState.FAILED, [ti.state], end_date=now, note=note)
        store.set_run_state(pk, RunState.FAILED, [RunState.QUEUED, RunState.RUNNING], now=now)


def run_foreground(
    settings: Settings, registry: Registry, dag: Dag, date: str | None, conf: dict, echo: Callable[[str], None]
) -> RunResult:
    """One manual run of `dag` for logical date `date` (default: now). An earlier finished run
    for the same date is run again from scratch, so CI can repeat a command; an unfinished one
    (cleared, or left by a stopped scheduler) is taken up where it is."""
    logical = parse_date(date, name="--date", tz=dag.timezone) if date else None
    check_conf(dag.param_schemas, dag.params, conf)

    def create(sched: Scheduler) -> list[int]:
        now = sched.clock.now()
        moment = logical or now.replace(microsecond=0)
        pk, created = sched.create_run(dag, moment, "manual", now=now, conf=conf, logical=True)
        run = sched.store.existing_run(pk)
        if not created and run.state.finished:  # run that date again from scratch
            from .operations import clear

            clear(sched.store, dag, run, now=now.timestamp())
            sched.store.set_run_conf(pk, conf)
        return [pk]

    return drive(settings, registry, create, echo, dag_ids={dag.dag_id})[0]


def describe_try(attempt: Attempt | None) -> tuple[str, str]:
    """(duration, exit) columns for a task's latest try."""
    if attempt is None:
        return "-", "-"
    code = "-" if attempt.exit_code is None else str(attempt.exit_code)
    if attempt.timed_out:
        code = "timeout"
    elif attempt.signal:
        code = f"signal {attempt.signal}"
    return format_duration(attempt.duration), code
