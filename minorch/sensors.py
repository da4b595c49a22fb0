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
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .dag import Dag, Task
from .durations import parse_date, parse_duration
from .records import iso
from .store import Store
from .templates import render


@dataclass(frozen=True)
class Poke:
    met: bool
    detail: str  # what was checked, for the task's note
    check_at: datetime | None = None  # the earliest instant worth poking again (e.g. `until`)
    failed: bool = False  # the condition can no longer be met (`failed_states`): fail now, do not wait


def poke(task: Task, context: dict, *, root: Path, now: datetime, store: Store, dags: dict[str, Dag]) -> Poke:
    """Check the condition once. Raises MinorchError for a template or date error (a typo will not
    fix itself by waiting: the scheduler fails the sensor at once)."""
    waits = task.sensor
    if waits is None:
        raise ValueError(f"task '{task.task_id}' is not a sensor: it has nothing to poke")
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
    if "weekday" in waits:
        days = [waits["weekday"]] if isinstance(waits["weekday"], str) else waits["weekday"]
        wanted = {d.lower() for d in days}
        today = now.astimezone(ZoneInfo(context["timezone"])).strftime("%A").lower()
        if today in wanted:
            return Poke(True, f"today is {today}")
        tomorrow = (now.astimezone(ZoneInfo(context["timezone"])) + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return Poke(False, f"waiting for {' or '.join(sorted(wanted))} (today is {today})", check_at=tomorrow)
    if "trigger_dag" in waits:
        return _trigger(waits, context, store, dags, now)
    return _poke_other_dag(waits, context, store, dags)


def _trigger(waits: dict, context: dict, store: Store, dags: dict[str, Dag], now: datetime) -> Poke:
    """Queue the run of the other DAG (once: its run id is fixed by the logical date), then, with
    wait_for_completion, report its state."""
    from .errors import MinorchError

    other = dags.get(waits["trigger_dag"])
    if other is None:
        raise MinorchError(f"trigger_dag: DAG '{waits['trigger_dag']}' is not loaded")
    raw = waits.get("logical_date")
    logical = parse_date(render(raw, context, shell=False), name="logical_date", tz=other.timezone) if raw else None
    logical = logical or context["logical_date"]
    run_id = f"trig__{iso(logical)}"
    conf = {k: render(v, context, shell=False) if isinstance(v, str) else v for k, v in waits.get("conf", {}).items()}
    if store.run_by_id(other.dag_id, run_id) is None:  # a manual run: its data interval is its logical date
        stamp = iso(logical)
        store.create_run(
            other.dag_id, run_id, "manual", stamp, stamp, stamp, list(other.tasks), conf=conf, now=now.timestamp()
        )
    _link(store, context, other.dag_id, run_id)
    name = f"{other.dag_id} run {run_id}"
    if not waits.get("wait_for_completion"):
        return Poke(True, f"triggered {name}")
    run = store.run_by_id(other.dag_id, run_id)
    if run is None:  # deleted (`minorch db prune`, `delete`) since it was queued: the next poke queues it again
        return Poke(False, f"waiting for triggered {name}, which was deleted")
    state = run.state.value
    if state in _names(waits.get("failed_states", ["failed"])):
        return Poke(False, f"triggered {name} is {state}", failed=True)
    if state in _names(waits.get("allowed_states", ["success"])):
        return Poke(True, f"triggered {name} is {state}")
    return Poke(False, f"waiting for triggered {name} ({state})")


def _link(store: Store, context: dict, dag_id: str, run_id: str) -> None:
    """Airflow's `trigger_run_id` result (and `trigger_dag_id`) on the triggering task: what links the runs."""
    me = store.run_by_id(context["dag_id"], context["run_id"])
    if me is not None and store.pull_xcom(me.pk, context["task_id"], "trigger_run_id") != run_id:
        values = {"trigger_dag_id": json.dumps(dag_id), "trigger_run_id": json.dumps(run_id)}
        store.put_xcom_keys(me.pk, context["task_id"], values)


def _poke_other_dag(waits: dict, context: dict, store: Store, dags: dict[str, Dag]) -> Poke:
    """Another DAG's task: by default in a run on the same day (`ds`); with `execution_delta`, in the run whose
    logical date is this one's minus the delta. Met when it is in `allowed_states` (default success);
    `failed_states` fail the sensor at once."""
    other = dags.get(waits["dag"])
    name = f"{waits['dag']}.{waits['task']}"
    if other is None:
        return Poke(False, f"waiting for DAG '{waits['dag']}', which is not loaded")
    allowed = _names(waits.get("allowed_states", ["success"]))
    failed = _names(waits.get("failed_states", []))
    if "execution_delta" in waits:
        moment = context["logical_date"] - timedelta(seconds=parse_duration(waits["execution_delta"]))
        since, until, when = iso(moment), iso(moment + timedelta(seconds=1)), moment.isoformat()
    else:
        day = datetime.strptime(context["ds"], "%Y-%m-%d").replace(tzinfo=ZoneInfo(other.timezone))
        since, until, when = iso(day), iso(day + timedelta(days=1)), context["ds"]
    states = store.task_states_between(other.dag_id, waits["task"], since, until)
    if any(s in failed for s in states):
        return Poke(False, f"{name} is {', '.join(s for s in states if s in failed)} for {when}", failed=True)
    met = [s for s in states if s in allowed]
    if met:
        return Poke(True, f"{name} {'succeeded' if 'success' in met else 'is ' + met[0]} for {when}")
    wanted = "succeed" if allowed == ["success"] else "be " + " or ".join(allowed)
    return Poke(False, f"waiting for {name} to {wanted} for {when}")


def _names(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
