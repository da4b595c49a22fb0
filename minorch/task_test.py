"""`minorch tasks test`: run one task now, in the foreground, as Airflow's `tasks test` does.

The try runs through the same scheduler and executor as any other, but against a throwaway
state folder: the task's upstream tasks count as succeeded, with the results (XCom) they have
in the latest run of that date in the project's state file (none if there is no such run), and
every other task is left out. So nothing is recorded, no retry waits, and it works while
`minorch up` runs. With `record`, the try is then written into the project's state file as a
try of that run (created if missing), with its log and result; the run is requeued so a
scheduler settles it and runs what now can run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings
from .dag import Dag
from .durations import parse_date
from .errors import MinorchError
from .foreground import drive
from .registry import Registry
from .states import RunState, TaskState
from .store import Attempt, Store


@dataclass
class TestResult:
    run_id: str
    state: TaskState
    attempt: Attempt | None
    exit_code: int
    upstream_results: list[str]  # upstream tasks whose results were found and passed on
    recorded: bool = False


def test_task(
    settings: Settings,
    registry: Registry,
    dag: Dag,
    task_id: str,
    date: str | None,
    conf: dict,
    out: Callable[[bytes], None],
    *,
    record: bool = False,
) -> TestResult:
    """Run `task_id` once now; its log bytes go to `out` as they are written."""
    logical = (
        parse_date(date, name="--date", tz=dag.timezone) if date else datetime.now(timezone.utc).replace(microsecond=0)
    )
    task = dag.tasks[task_id]
    task.opts = replace(task.opts, retries=0)  # one try, as Airflow's tasks test (this process only)
    found = _upstream_results(settings, dag, task.upstream, logical)
    scratch = Path(tempfile.mkdtemp(prefix="minorch-test-"))
    try:
        trial = replace(settings, state_dir=scratch)
        follower = _Follower(out)

        def create(sched) -> list[int]:
            pk, _ = sched.create_run(dag, logical, "manual", now=sched.clock.now(), conf=conf, logical=True)
            store = sched.store
            with store.write():
                for tid in dag.tasks:
                    if tid == task_id:
                        continue
                    state = TaskState.SUCCESS if tid in task.upstream else TaskState.SKIPPED
                    store.set_task_state(pk, tid, state, [TaskState.NONE], note="left out by tasks test")
            with store.write():
                for tid, map_index, key, value in found:
                    if key is None:
                        store.put_xcom(pk, tid, value, map_index)
                    else:
                        store.put_xcom_keys(pk, tid, {key: value}, map_index)
            if task.map_over is None:  # a mapped task's copies run side by side: their logs come after
                follower.path = sched.log_path(store.run(pk), task_id, 1)
                follower.start()
            return [pk]

        try:
            result = drive(trial, registry, create, lambda line: None, dag_ids={dag.dag_id})[0]
        finally:
            follower.stop()
        tries = result.attempts.get(task_id) or []
        if task.map_over is not None:
            _print_copies(trial, result.run.pk, task, tries, out)
        failed = [a for a in tries if a.exit_code]  # a mapped task: its first failed copy says how it ended
        attempt = failed[0] if failed and task.map_over is not None else tries[-1] if tries else None
        state = result.tis[task_id].state
        code = result.exit_code if result.interrupted else _exit_code(state, attempt)
        outcome = TestResult(result.run.run_id, state, attempt, code, sorted({row[0] for row in found}))
        if record and attempt is not None and not result.interrupted:
            _record(settings, dag, task_id, logical, conf, attempt, state, trial)
            outcome.recorded = True
        return outcome
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _print_copies(trial: Settings, run_pk: int, task, tries: list[Attempt], out: Callable[[bytes], None]) -> None:
    """Each copy's log, in map order, under a line naming the copy and the item it got."""
    from .views import map_inputs, short_item

    store = Store(trial.db_path, readonly=True)
    try:
        items = map_inputs(store, run_pk, task) or []
    finally:
        store.close()
    for attempt in sorted(tries, key=lambda a: (a.map_index, a.try_number)):
        item = short_item(items[attempt.map_index]) if attempt.map_index < len(items) else "?"
        out(f"--- copy {attempt.map_index} (input {item}), exit {attempt.exit_code} ---\n".encode())
        try:
            out(Path(attempt.log_path).read_bytes() if attempt.log_path else b"(no log)\n")
        except OSError as err:
            out(f"(its log cannot be read: {err.strerror})\n".encode())


def _exit_code(state: TaskState, attempt: Attempt | None) -> int:
    if attempt is not None and attempt.exit_code is not None:
        return attempt.exit_code
    return 0 if state in (TaskState.SUCCESS, TaskState.SKIPPED) else 1


def _latest_run_of(store: Store, dag: Dag, logical: datetime):
    """The newest run of `dag` whose logical date is `logical`, or None."""
    moment = logical.astimezone(timezone.utc)
    matches = [r for r in store.runs(dag.dag_id, limit=1000) if datetime.fromisoformat(r.logical_date) == moment]
    return matches[0] if matches else None


def _upstream_results(settings: Settings, dag: Dag, upstream, logical: datetime) -> list:
    """Every result the upstream tasks left in the latest run of that date: return values, a mapped
    task's list and each of its copies' values, pushed keys (see `Store.all_results`)."""
    if not upstream or not settings.db_path.exists():
        return []
    store = Store(settings.db_path, readonly=True)
    try:
        run = _latest_run_of(store, dag, logical)
        return store.all_results(run.pk, upstream) if run else []
    finally:
        store.close()


def _record(
    settings: Settings,
    dag: Dag,
    task_id: str,
    logical: datetime,
    conf: dict,
    attempt: Attempt,
    state: TaskState,
    trial: Settings,
) -> None:
    """Write the try into the project's state file as the next try of that date's run."""
    from .errors import Conflict
    from .operations import new_run
    from .scheduler import log_path as log_path_for

    store = Store(settings.db_path)
    try:
        run = _latest_run_of(store, dag, logical)
        if run is None:
            pk = new_run(store, dag, logical, "manual", conf, attempt.end_date or 0.0)
            # None: someone else made it meanwhile
            run = _latest_run_of(store, dag, logical) if pk is None else store.existing_run(pk)
        if run is None:
            raise MinorchError(f"{dag.dag_id}: no run for {logical} could be made to record the try in")
        ti = store.task_instances([run.pk])[run.pk].get(task_id)
        try_number = (ti.try_number if ti else 0) + 1
        log_path = log_path_for(settings.log_dir, run, task_id, try_number)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if attempt.log_path and Path(attempt.log_path).exists():
            shutil.copyfile(attempt.log_path, log_path)
        trial_store = Store(trial.db_path, readonly=True)
        try:
            trial_run = trial_store.runs(dag.dag_id, limit=1)[0]
            value = trial_store.xcoms(trial_run.pk, [task_id])
        finally:
            trial_store.close()
        row = replace(
            attempt,
            attempt_id=uuid.uuid4().hex,
            run_pk=run.pk,
            try_number=try_number,
            log_path=str(log_path),
            pid=None,
            create_time=None,
        )
        with store.write():
            store.start_attempt(row)
            expect = [ti.state] if ti else [TaskState.NONE]
            if expect[0] is TaskState.RUNNING or not store.set_task_state(
                run.pk,
                task_id,
                state,
                expect,
                try_number=try_number,
                start_date=attempt.start_date,
                end_date=attempt.end_date,
                duration=attempt.duration,
                note="run by tasks test",
            ):
                raise Conflict(
                    f"task '{task_id}' of run {run.run_id} is running or changed meanwhile: "
                    "the test try was not recorded",
                    hint="record it once that try has ended",
                )
            if task_id in value:
                store.put_xcom(run.pk, task_id, json.dumps(value[task_id]))
            store.set_run_state(
                run.pk, RunState.QUEUED, [RunState.SUCCESS, RunState.FAILED], now=attempt.end_date or 0.0
            )
    finally:
        store.close()


class _Follower:
    """Copies a growing log file to `out` from a thread, until stopped (then the rest)."""

    def __init__(self, out: Callable[[bytes], None]) -> None:
        self.out = out
        self.path: Path | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(5)

    def _run(self) -> None:
        offset = 0
        while True:
            finished = self.done.is_set()
            data = b""
            if self.path is not None:  # known once the try has started
                try:
                    with open(self.path, "rb") as log:
                        log.seek(offset)
                        data = log.read()
                except OSError:
                    pass
            if data:
                offset += len(data)
                self.out(data)
            if finished:
                return
            self.done.wait(0.1)
