"""SLA checks: which tasks did not finish within their `sla` of their run's start.

A task's `sla` (seconds) sets a deadline per run: the run's start (`dag_runs.start_date`,
when it left `queued`) plus `sla`. The task *misses* it when it has not finished
(success, failed, skipped, upstream_failed) by then:

- still unfinished and `now` >= deadline: a miss now (state "running", "up_for_retry", ...);
- finished after the deadline: a miss too, even if no check ran in between;
- finished at or before the deadline: no miss.

A run that has not started has no deadline yet; unfinished tasks of a finished run
(nothing will run them) are not reported. With `sla = "10m"` and a run started at
12:00:00, a task still running at 12:10:00 is a miss; one that succeeded at 12:09:59 is not.

`check` is pure: plain records and `now` in, misses and the next deadline out. The caller
records each miss once (see `notified`) and notifies the DAG's `on_sla_miss`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .dag import Dag
from .records import RunRecord, TaskInstance


@dataclass(frozen=True)
class SlaMiss:
    dag_id: str
    run_pk: int
    run_id: str
    task_id: str
    sla: float  # seconds
    deadline: datetime  # aware UTC: run start + sla
    state: str  # the task's state when checked
    finished_at: datetime | None  # when it finished (late), None if it has not

    @property
    def late(self) -> float:
        """Seconds past the deadline it finished; 0 while it has not finished."""
        if self.finished_at is None:
            return 0.0
        return (self.finished_at - self.deadline).total_seconds()


@dataclass
class SlaCheck:
    misses: list[SlaMiss] = field(default_factory=list)
    wake_at: datetime | None = None  # earliest deadline still ahead of an unfinished task


def check(
    dags: Mapping[str, Dag],
    runs: Iterable[RunRecord],
    tis: Mapping[int, Mapping[str, TaskInstance]],
    now: datetime,
    notified: Collection[tuple[int, str]] = (),
) -> SlaCheck:
    """Misses of tasks with an `sla` in `runs` (usually the active ones), except the
    (run_pk, task_id) pairs in `notified`, in run then topological order; and when to check again."""
    result = SlaCheck()
    for run in runs:
        dag = dags.get(run.dag_id)
        if dag is None or run.start_date is None:
            continue
        for task_id in dag.topological():
            sla = dag.tasks[task_id].opts.sla
            if sla is None or (run.pk, task_id) in notified:
                continue
            deadline = _utc(run.start_date + sla)
            ti = tis.get(run.pk, {}).get(task_id)
            if ti is not None and ti.state.finished:
                end = _utc(ti.end_date) if ti.end_date is not None else None
                if end is not None and end > deadline:
                    result.misses.append(
                        SlaMiss(dag.dag_id, run.pk, run.run_id, task_id, sla, deadline, ti.state.value, end)
                    )
            elif run.state.finished:
                continue
            elif now >= deadline:
                result.misses.append(
                    SlaMiss(
                        dag.dag_id,
                        run.pk,
                        run.run_id,
                        task_id,
                        sla,
                        deadline,
                        ti.state.value if ti is not None else "none",
                        None,
                    )
                )
            elif result.wake_at is None or deadline < result.wake_at:
                result.wake_at = deadline
    return result


def _utc(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, timezone.utc)
