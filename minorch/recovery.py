"""Crash recovery: what a scheduler does with the tries and task states an earlier one left open.

Each open try goes to the executor that ran it (`Executor.recover`). With ``on_restart = "adopt"``
(the default) a try that still runs is adopted: watched again and recorded once when it ends; with
``"kill"`` it is stopped, tree and all. A try that ended while no scheduler ran is recorded as it
ended (its exit status file says how), so a success is never run again; one that was lost, killed
here, or recorded but never started is recorded as interrupted: tried again, not counted against
retries. Processes carrying one of this state file's attempt ids that no row knows are stopped.
Task instances that say running or queued with no open try are finished as their last try ended,
or tried again. The work is a few queries and one pass, whatever the number of queued runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from . import planner as P
from .clock import SystemClock
from .config import Settings
from .dag import Dag
from .executors.base import Adopted, Ended, Executor, Exit, Launch, OpenTry
from .executors.proctree import find_marked, stop_all
from .options import TaskOptions
from .records import Attempt
from .states import TaskState
from .store import Store

log = logging.getLogger("minorch.scheduler")


@dataclass
class Inflight:
    """What the scheduler loop keeps for a try that runs."""

    run_pk: int
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    counted_tries: int  # tries since the last clear, this one included: what retries are measured against
    result_path: Path | None
    spec_path: Path | None
    started: float
    map_index: int = -1
    log_path: Path | None = None


class Host(Protocol):
    """The scheduler, as far as recovery uses it."""

    settings: Settings
    store: Store
    executor: Executor
    dags: dict[str, Dag]
    attempt_tag: str
    inflight: dict[str, Inflight]
    clock: SystemClock
    stopping: bool

    def _record_exit(self, flight: Inflight, done: Exit, end: float | None = None) -> None: ...

    def _interrupt(
        self,
        attempt_id: str,
        run_pk: int,
        task_id: str,
        map_index: int,
        end: float,
        duration: float | None,
        reason: str,
    ) -> None: ...

    def _done_with(self, attempt_id: str) -> None: ...

    def _attempt_file(self, attempt_id: str, suffix: str) -> Path: ...


def recover(host: Host, dag_ids: set[str] | None = None) -> int:
    """Settle what an earlier scheduler left open (see the module docstring). Returns how many
    tries and task instances it settled; stops early on `stop()`. With `dag_ids`, only the tries
    and task instances of those DAGs: other DAGs may be driven by other one-shot runs meanwhile
    (processes that no row knows are stopped all the same: a try is recorded before it starts)."""
    now = host.clock.now().timestamp()
    opened = host.store.open_attempts()
    if dag_ids is not None:
        runs = {pk: host.store.run(pk) for pk in {a.run_pk for a in opened}}
        opened = [a for a in opened if (run := runs[a.run_pk]) is not None and run.dag_id in dag_ids]
    marked = find_marked(host.attempt_tag)
    known = host.store.recorded_attempt_ids(marked)
    strays = [proc for attempt_id, procs in marked.items() if attempt_id not in known for proc in procs]
    if strays:
        log.warning("stopping %d processes of tries that no state row knows", len(strays))
        stop_all(strays, host.settings.grace)
    by_id = {a.attempt_id: a for a in opened}
    tries = [
        OpenTry(_launch_of(host, a), max(0.0, now - (a.start_date or now)), a.pid, a.create_time, a.external_id, a.host)
        for a in opened
    ]
    for answer in host.executor.recover(tries, adopt=host.settings.on_restart == "adopt"):
        attempt = by_id[answer.attempt_id]
        flight = _flight_of(host, attempt, now)
        if isinstance(answer, Adopted) and flight is not None:
            host.inflight[attempt.attempt_id] = flight
            log.info("%s.%s: adopted try %d, still running", flight.dag_id, flight.task_id, flight.try_number)
        elif isinstance(answer, Ended) and flight is not None:
            host._record_exit(flight, *_ended_at(host, attempt, answer.exit, now))
        elif isinstance(answer, Adopted):  # its run is gone: nothing would record it
            host.executor.cancel(attempt.attempt_id, "cancelled: its run no longer exists")
        else:
            reason = answer.reason if not isinstance(answer, Ended) else answer.exit.reason
            host._interrupt(attempt.attempt_id, attempt.run_pk, attempt.task_id, attempt.map_index, now, None, reason)
            host._done_with(attempt.attempt_id)
    return len(opened) + _recover_orphan_states(host, dag_ids)


def _launch_of(host: Host, attempt: Attempt) -> Launch:
    """What an open try was started with, as far as recovery needs it: files, timeout, grace, executor."""
    run = host.store.run(attempt.run_pk)
    dag = host.dags.get(run.dag_id) if run else None
    task = dag.tasks.get(attempt.task_id) if dag else None
    opts = task.opts if task else TaskOptions()
    timeout = opts.poke_interval if task is not None and task.flavor == "sensor" else opts.timeout
    return Launch(
        attempt_id=attempt.attempt_id,
        argv=[],
        env={},
        cwd=None,
        log_path=Path(attempt.log_path) if attempt.log_path else host._attempt_file(attempt.attempt_id, "log"),
        timeout=timeout,
        # An adopted try keeps its own grace for its timeout; one killed at the restart gets the
        # scheduler's, as at a stop.
        grace=opts.grace if host.settings.on_restart == "adopt" else host.settings.grace,
        log_cap=host.settings.log_cap,
        status_path=host._attempt_file(attempt.attempt_id, "status"),
        result_path=host._attempt_file(attempt.attempt_id, "result.json"),
        executor=attempt.executor,
        queue=opts.queue,
    )


def _flight_of(host: Host, attempt: Attempt, now: float) -> Inflight | None:
    """What the loop keeps for an open try (None when its run or task instance is gone)."""
    ti = host.store.task_instance(attempt.run_pk, attempt.task_id, attempt.map_index)
    run = host.store.run(attempt.run_pk)
    if ti is None or run is None:
        return None
    return Inflight(
        attempt.run_pk,
        run.dag_id,
        run.run_id,
        attempt.task_id,
        attempt.try_number,
        attempt.try_number - ti.try_base,
        host._attempt_file(attempt.attempt_id, "result.json"),
        None,
        attempt.start_date or now,
        attempt.map_index,
        Path(attempt.log_path) if attempt.log_path else None,
    )


def _ended_at(host: Host, attempt: Attempt, done: Exit, now: float) -> tuple[Exit, float]:
    """A try that ended while no scheduler ran, with its real end: the mtime of the status file
    it wrote on its way out (a remote try: now)."""
    started = attempt.start_date or now
    try:
        ended = min(max(host._attempt_file(attempt.attempt_id, "status").stat().st_mtime, started), now)
    except OSError:
        ended = now
    return replace(done, duration=ended - started), ended


def _recover_orphan_states(host: Host, dag_ids: set[str] | None = None) -> int:
    """Task instances that say running/queued with no open attempt (a state file from an older
    or interrupted writer): finish them as their last recorded try ended, else try them again.
    Two queries and one pass, whatever the number of queued runs; stops early on `stop()`."""
    count = 0
    stuck = [
        (dag_id, ti)
        for dag_id, ti in host.store.stuck_task_instances()
        if (dag_ids is None or dag_id in dag_ids)
        and (
            not (dag_id in host.dags and ti.task_id in host.dags[dag_id].tasks)
            or not host.dags[dag_id].tasks[ti.task_id].map_over  # a mapped task stands for its copies
        )
    ]
    latest = host.store.last_tries((ti.run_pk, ti.task_id, ti.try_number) for _, ti in stuck)
    for dag_id, ti in stuck:
        if host.stopping:
            break
        last = latest.get((ti.run_pk, ti.task_id, ti.try_number))
        if last is not None and last.end_date is None:
            continue  # an open attempt: handled by recover()
        count += 1
        dag = host.dags.get(dag_id)
        task = dag.tasks.get(ti.task_id) if dag else None
        if last is not None and last.end_date is not None and last.outcome != "interrupted" and task is not None:
            code = None if last.timed_out else last.exit_code
            state, next_try_at = P.outcome(task.opts, ti.tries_since_clear, code, last.end_date)
            host.store.set_task_state(
                ti.run_pk,
                ti.task_id,
                state,
                [ti.state],
                end_date=last.end_date,
                next_try_at=next_try_at,
                note=last.reason,
            )
        else:
            host.store.set_task_state(
                ti.run_pk,
                ti.task_id,
                TaskState.NONE,
                [ti.state],
                try_number=max(ti.try_base, ti.try_number - 1),
                note="no record of its last try: tried again",
            )
    return count
