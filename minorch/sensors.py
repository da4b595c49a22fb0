"""Sensors that the scheduler pokes itself, holding no slot and starting no process.

A sensor waits for one thing (see `dag.SENSOR_KINDS`):

- ``file``: a glob (templated, relative to the project folder) matches at least one path;
- ``until``: a time (templated; naive times are in the DAG's timezone) has been reached;
- ``dag`` + ``task``: that task of another DAG succeeded in a run whose logical date falls on
  the same day (`ds`, in the other DAG's timezone) as this run's;
- ``command``: not poked here — it runs as a try like a shell task; exit 0 means met.

Between pokes the task is `up_for_reschedule` and holds nothing, so 100 waiting sensors never
block other tasks. What a poke means (met, keep waiting, timed out) is `planner.sensor_outcome`.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .dag import Dag, Task
from .durations import parse_date
from .records import iso
from .store import Store
from .templates import render


@dataclass(frozen=True)
class Poke:
    met: bool
    detail: str  # what was checked, for the task's note
    check_at: datetime | None = None  # the earliest instant worth poking again (e.g. `until`)


def poke(task: Task, context: dict, *, root: Path, now: datetime, store: Store, dags: dict[str, Dag]) -> Poke:
    """Check the condition once. Raises MinorchError for a template or date error (a typo will not
    fix itself by waiting: the scheduler fails the sensor at once)."""
    waits = task.sensor
    if "file" in waits:
        pattern = render(waits["file"], context, shell=False)
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        found = glob.glob(full)
        if found:
            return Poke(True, f"found {len(found)} file(s) matching {pattern}")
        return Poke(False, f"waiting for a file matching {pattern}")
    if "until" in waits:
        moment = parse_date(render(waits["until"], context, shell=False), name="until", tz=context["timezone"])
        if now >= moment:
            return Poke(True, f"reached {moment.isoformat()}")
        return Poke(False, f"waiting until {moment.isoformat()}", check_at=moment)
    other = dags.get(waits["dag"])
    if other is None:
        return Poke(False, f"waiting for DAG '{waits['dag']}', which is not loaded")
    day = datetime.strptime(context["ds"], "%Y-%m-%d").replace(tzinfo=ZoneInfo(other.timezone))
    if store.task_succeeded_between(other.dag_id, waits["task"], iso(day), iso(day + timedelta(days=1))):
        return Poke(True, f"{other.dag_id}.{waits['task']} succeeded for {context['ds']}")
    return Poke(False, f"waiting for {other.dag_id}.{waits['task']} to succeed for {context['ds']}")
