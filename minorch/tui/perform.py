"""Carrying out the UI's actions through `minorch.operations`; no Textual here.

`fields_for` says what an action's dialog asks, `preview` says what the answer would do
(shown live in the dialog: which tasks a clear resets, how many runs a backfill creates),
and `perform` does it. Both open their own `Store` and run in a worker thread; `now` is
float seconds since the epoch. User mistakes raise `MinorchError`, whose one line the UI shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .. import operations as ops
from ..config import Settings
from ..dag import Dag
from ..durations import parse_date
from ..errors import MinorchError, NotFound
from ..params import check_conf, describe, value_from_text
from ..planner import run_id_for
from ..registry import Registry
from ..states import FAILED_LIKE
from ..store import RunRecord, Store
from . import fmt
from .actions import Field, Target

TASK_MARKS = ("success", "failed", "skipped")
RUN_MARKS = ("success", "failed")


def fields_for(action: str, target: Target, tz: str, now: float, dag: Dag | None = None) -> list[Field]:
    """The inputs of `action`'s dialog; dates default to the last seven days in `tz`. Triggering a DAG with
    params asks for each: a choice for an enum, a checkbox for a boolean, else a line of text."""
    if action == "trigger":
        date = Field("date", "text", "Logical date (a day like 2024-05-01, or an ISO time)", "", placeholder="now")
        return [date, *(_param_field(dag, name) for name in _param_names(dag))] if dag else [date]
    if action == "clear" and target.task_id:
        return [
            Field("downstream", "check", "Also its downstream tasks", True),
            Field("upstream", "check", "Also its upstream tasks", False),
            Field("failed_only", "check", "Only failed tasks", False),
        ]
    if action == "clear":
        return [Field("failed_only", "check", "Only failed tasks", False)]
    if action == "mark":
        marks = TASK_MARKS if target.task_id else RUN_MARKS
        return [Field("state", "choice", "New state", "success", marks)]
    if action == "backfill":
        today = datetime.fromtimestamp(now, ZoneInfo(tz)).date()
        return [
            Field("start", "text", "From (a day or ISO time)", str(today - timedelta(days=7))),
            Field("end", "text", "To (a day covers all of it)", str(today - timedelta(days=1))),
            Field("reprocess", "choice", "Dates that already have a run", "none", ("none", "failed", "all")),
        ]
    return []


def _param_names(dag: Dag) -> list[str]:
    return list(dict.fromkeys([*dag.params, *dag.param_schemas]))


def _param_field(dag: Dag, name: str) -> Field:
    schema = dag.param_schemas.get(name, {})
    label = describe(name, schema, *([dag.params[name]] if name in dag.params else []))
    default = dag.params.get(name)
    if schema.get("enum") and default in schema["enum"]:
        return Field(f"param-{name}", "choice", label, str(default), tuple(str(v) for v in schema["enum"]))
    if schema.get("type") == "boolean":
        return Field(f"param-{name}", "check", label, bool(default))
    text = "" if name not in dag.params else default if isinstance(default, str) else json.dumps(default)
    return Field(f"param-{name}", "text", label, text, placeholder="no default: type a value")


def trigger_conf(dag: Dag, answer: dict) -> dict:
    """The conf of a run triggered from the dialog: each param field whose value differs from the default,
    read for its type; raises ConfigError (one line naming the param) for a value its schema refuses."""
    conf = {}
    for name in _param_names(dag):
        given = answer.get(f"param-{name}")
        schema = dag.param_schemas.get(name, {})
        if isinstance(given, str) and schema.get("enum"):
            given = next((v for v in schema["enum"] if str(v) == given), given)
        elif isinstance(given, str):
            given = value_from_text(schema, given)
        if given is not None and (name not in dag.params or given != dag.params[name]):
            conf[name] = given
    check_conf(dag.param_schemas, dag.params, conf)
    return conf


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.db_path)
    try:
        yield store
    finally:
        store.close()


def _dag(registry: Registry | None, dag_id: str) -> Dag:
    dag = registry.dags.get(dag_id) if registry is not None else None
    if dag is None:
        raise NotFound(
            f"DAG '{dag_id}' is not in the loaded DAG files",
            hint="fix its file (see the load errors) or wait until the DAG files are loaded",
        )
    return dag


def _run(store: Store, target: Target) -> RunRecord:
    run = store.run(target.run_pk) if target.run_pk is not None else None
    if run is None:
        raise NotFound(f"run {target.run_id or target.run_pk} of DAG '{target.dag_id}' no longer exists")
    return run


def _listed(ids: list[str], limit: int = 6) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def preview(
    settings: Settings, registry: Registry | None, action: str, target: Target, answer: dict, now: float
) -> str:
    """One line saying what `perform` would do with `answer`; raises MinorchError for a bad answer."""
    dag = _dag(registry, target.dag_id)
    if action == "trigger":
        date = (answer.get("date") or "").strip()
        logical = parse_date(date, name="date", tz=dag.timezone) if date else datetime.fromtimestamp(now, timezone.utc)
        conf = trigger_conf(dag, answer)
        given = f" with {json.dumps(conf)}" if conf else ""
        return f"queues run {run_id_for('manual', logical.replace(microsecond=0))}{given}"
    with _store(settings) as store:
        if action == "backfill":
            plan = ops.backfill(
                settings,
                store,
                dag,
                answer["start"],
                answer["end"],
                reprocess=answer["reprocess"],
                dry_run=True,
                now=now,
            )
            dates = plan.created + plan.cleared
            span = f" ({fmt.when(min(dates), dag.timezone)} .. {fmt.when(max(dates), dag.timezone)})" if dates else ""
            return (
                f"creates {len(plan.created)} runs, runs {len(plan.cleared)} again, "
                f"leaves {len(plan.skipped)} alone{span}"
            )
        run = _run(store, target)
        if action == "clear":
            ids = ops.select_clear(
                store,
                dag,
                run,
                [target.task_id] if target.task_id else None,
                downstream=bool(answer.get("downstream")),
                upstream=bool(answer.get("upstream")),
                failed_only=bool(answer.get("failed_only")),
            )
            return f"runs {len(ids)} tasks again: {_listed(ids)}" if ids else "nothing to clear"
        if action == "retry":
            tis = store.task_instances([run.pk])[run.pk]
            failed = [tid for tid, ti in tis.items() if ti.state in FAILED_LIKE]
            return (
                f"runs again: {_listed(failed)} (and skipped tasks below them)"
                if failed
                else "this run has no failed tasks"
            )
        if action == "mark":
            what = f"task {target.task_id}" if target.task_id else "the run and its unfinished tasks"
            return f"sets {what} to {answer.get('state')}"
    return ""


def perform(
    settings: Settings, registry: Registry | None, action: str, target: Target, answer: dict, now: float
) -> str:
    """Do `action`; returns the sentence to show the user."""
    if action == "pause":
        with _store(settings) as store:
            row = store.dag_rows().get(target.dag_id)
            dag = registry.dags.get(target.dag_id) if registry is not None else None
            paused = not (row.paused if row is not None else bool(dag and dag.paused))
            ops.set_paused(store, target.dag_id, paused)
        return f"{'paused' if paused else 'unpaused'} {target.dag_id}"
    dag = _dag(registry, target.dag_id)
    if action == "trigger":
        conf = trigger_conf(dag, answer)
        run_id = ops.trigger(settings, dag, (answer.get("date") or "").strip() or None, conf, now=now)
        return f"queued {dag.dag_id} run {run_id}"
    with _store(settings) as store:
        if action == "backfill":
            plan = ops.backfill(
                settings, store, dag, answer["start"], answer["end"], reprocess=answer["reprocess"], now=now
            )
            return (
                f"backfill of {dag.dag_id}: created {len(plan.created)} runs, running {len(plan.cleared)} "
                f"again, left {len(plan.skipped)} alone"
            )
        run = _run(store, target)
        if action == "clear":
            ids = ops.clear(
                store,
                dag,
                run,
                [target.task_id] if target.task_id else None,
                downstream=bool(answer.get("downstream")),
                upstream=bool(answer.get("upstream")),
                failed_only=bool(answer.get("failed_only")),
                now=now,
                dags=registry.dags if registry is not None else None,
            )
            return f"cleared {len(ids)} tasks of {dag.dag_id} run {run.run_id}"
        if action == "retry":
            ids = ops.retry(store, dag, run, now)
            if not ids:
                return f"{dag.dag_id} run {run.run_id} has no failed tasks"
            return f"retrying {_listed(ids)} of {dag.dag_id} run {run.run_id}"
        if action == "mark":
            state = str(answer.get("state"))
            if target.task_id:
                ops.mark_task(store, dag, run, target.task_id, state, now)
                return f"marked {target.task_id} of {dag.dag_id} run {run.run_id} {state}"
            ops.mark_run(store, dag, run, state, now)
            return f"marked {dag.dag_id} run {run.run_id} {state}"
    raise MinorchError(f"unknown action {action!r}")


def stop_preview(settings: Settings) -> str:
    """What stopping the scheduler now would interrupt: "2 tries running: etl extract, ...", or that none runs."""
    with _store(settings) as store:
        active = store.active_task_instances()
    if not active:
        return "no tries are running: it stops at once"
    running = [f"{dag_id} {task_id}" for _pk, dag_id, _run_id, task_id, _state in active]
    return f"{len(running)} {'try is' if len(running) == 1 else 'tries are'} running or queued: {_listed(running)}"
