"""The records the store hands out (DAG rows, runs, task instances, tries) and the ISO text of
their dates: plain data, no I/O, so that the planner can take them as input without the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from .states import RunState, TaskState


def iso(moment: datetime) -> str:
    """UTC ISO text with seconds: sorts like time and names runs."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class DagRow:
    dag_id: str
    paused: bool
    file: str | None
    schedule: str | None
    description: str | None
    next_fire: str | None
    last_fire: str | None
    error: str | None


@dataclass
class RunRecord:
    pk: int
    dag_id: str
    run_id: str
    run_type: str
    logical_date: str
    data_interval_start: str | None
    data_interval_end: str | None
    state: RunState
    conf: dict
    queued_at: float | None
    start_date: float | None
    end_date: float | None


@dataclass
class TaskInstance:
    run_pk: int
    task_id: str
    map_index: int
    state: TaskState
    try_number: int
    try_base: int
    next_try_at: float | None
    start_date: float | None
    end_date: float | None
    duration: float | None
    note: str | None

    @property
    def tries_since_clear(self) -> int:
        return self.try_number - self.try_base


@dataclass
class Attempt:
    attempt_id: str
    run_pk: int
    task_id: str
    map_index: int
    try_number: int
    pid: int | None
    create_time: float | None
    start_date: float | None
    end_date: float | None
    duration: float | None
    exit_code: int | None
    signal: int | None
    timed_out: bool
    counted: bool
    outcome: str | None
    reason: str | None
    log_path: str | None
    peak_rss: int | None
    cpu_time: float | None
    command: str | None
    executor: str = "local"  # local | dask
    external_id: str | None = None  # the executor's name for the try (a Dask key)
    host: str | None = None  # where it runs (None: this host)


@dataclass
class AssetEvent:
    id: int
    asset: str
    ds: str | None
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    created_at: float
    extra: object

    def as_dict(self) -> dict:
        """The form tasks see (`triggering_events`, `inlet_events`) and `--json` prints."""
        return dict(self.__dict__)


class QueuedEvent(NamedTuple):
    """An event a waiting DAG has not consumed yet (plain data for the planner; a tuple, as a
    step reads every queued row)."""

    event_id: int
    asset: str
    ds: str | None
