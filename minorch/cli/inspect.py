"""Looking: `validate`, `dags`, `graph`, `next`, `runs`, `tasks`, `logs`."""

from __future__ import annotations

import codecs
import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import click

from ..durations import format_duration
from ..errors import MinorchError, NotFound
from ..states import RunState, TaskState
from ..visible import visible
from . import (
    Context,
    json_option,
    limit_range,
    local_time,
    main,
    parse_params,
    pass_ctx,
    resolve_run,
    table,
)

FOLLOW_INTERVAL = 0.25  # seconds between looks at a growing log file


@main.command()
@json_option("Print the result as JSON.")
@click.option("--env", "env", metavar="NAME", help="Check with minorch.NAME.toml layered over minorch.toml.")
@pass_ctx
def validate(app: Context, as_json: bool, env: str | None) -> None:
    """Load every DAG file and check it; writes nothing.

    Beyond loading: command templates parse, every `python = "module:function"` target imports
    and is callable (imported as a try would, with dag_file_timeout), and a Python file that
    defines no DAG is a warning.

    Exit 0 if every DAG is valid, 1 if any DAG file has errors, 2 if minorch.toml (or the
    environment's layer) is wrong.
    """
    from ..validate import check_registry, check_targets, empty_files, missing_folders

    if env:
        app.env = env

    registry = app.registry
    errors = registry.errors + check_registry(registry) + check_targets(app.settings, registry)
    warnings = missing_folders(app.settings) + registry.warnings + empty_files(registry)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not errors,
                    "dags": sorted(registry.dags),
                    "errors": [{"file": e.file, "line": e.line, "message": e.message, "hint": e.hint} for e in errors],
                    "warnings": warnings,
                },
                indent=2,
            )
        )
    else:
        for line in [f"warning: {w}" for w in warnings] + [f"error: {e}" for e in errors]:
            click.echo(line, err=True)
        tasks = sum(len(d.tasks) for d in registry.dags.values())
        click.echo(
            ", ".join(
                f"{n} {word}{'' if n == 1 else 's'}"
                for n, word in ((len(registry.dags), "DAG"), (tasks, "task"), (len(errors), "error"))
            )
        )
    sys.exit(1 if errors else 0)


@main.command()
@json_option("Print the list as JSON.")
@pass_ctx
def dags(app: Context, as_json: bool) -> None:
    """List the DAGs: schedule, tasks, paused, next fire, file."""
    from datetime import datetime, timezone

    from ..views import dag_summaries

    rows = dag_summaries(app.settings, app.listed_registry, datetime.now(timezone.utc))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if app.settings.env_name:
        click.echo(f"environment: {app.settings.env_name} ({app.settings.config_name})")
    click.echo(
        table(
            ["dag", "schedule", "tasks", "paused", "next run", "file"],
            [
                [
                    r["dag_id"],
                    r["schedule"] or "-",
                    r["tasks"],
                    "yes" if r["paused"] else "no",
                    local_time(r["next_fire"]),
                    r["file"],
                ]
                for r in rows
            ],
        )
    )
    for err in app.registry.errors:
        click.echo(f"error: {err}", err=True)


@main.command()
@click.argument("dag_id", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "dot", "mermaid", "svg"]), default="text", show_default=True
)
@click.option("--assets", "lineage", is_flag=True, help="Print DAG -> asset -> DAG lineage of all DAGs instead.")
@json_option("Print the tasks and edges (or, with --assets, the lineage) as JSON.")
@pass_ctx
def graph(app: Context, dag_id: str | None, fmt: str, lineage: bool, as_json: bool) -> None:
    """Print a DAG's tasks and dependencies as text, Graphviz dot or Mermaid.

    `--format svg` draws it with Graphviz's `dot`, which must be on PATH.
    """
    if lineage:
        from ..lineage import build, render

        if fmt == "svg":
            raise click.UsageError("--assets draws text, dot or mermaid")
        found = build(app.registry.dags, app.registry.assets)
        click.echo(json.dumps(_lineage_json(found), indent=2) if as_json else render(found, fmt))
        return
    if dag_id is None:
        raise click.UsageError("name a DAG, or pass --assets for the lineage of all DAGs")
    from ..views import graph_json, graph_svg, graph_text

    dag = app.dag(dag_id)
    if as_json:
        click.echo(json.dumps(graph_json(dag), indent=2))
        return
    click.echo(graph_svg(dag) if fmt == "svg" else graph_text(dag, fmt))


def _lineage_json(found) -> dict:
    """Per asset: its declaration, the tasks that update it, the DAGs waiting for it, the tasks reading it."""
    return {
        "assets": [
            {
                "asset": name,
                "declared": found.declared.get(name),
                "producers": [{"dag_id": d, "task_id": t} for d, t in found.producers.get(name, [])],
                "consumers": found.consumers.get(name, []),
                "readers": [{"dag_id": d, "task_id": t} for d, t in found.readers.get(name, [])],
            }
            for name in found.names()
        ]
    }


MAX_NEXT = 10_000  # fire times `minorch next` lists at most


@main.command("next")
@click.argument("dag_id")
@click.option(
    "-n",
    "count",
    default=10,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_NEXT),
    help=f"How many fire times (at most {MAX_NEXT:,}).",
)
@click.option("--after", metavar="ISO", help="Start after this time (default: now, or start_date if later).")
@json_option("Print the fire times as JSON.")
@pass_ctx
def next_(app: Context, dag_id: str, count: int, after: str | None, as_json: bool) -> None:
    """Print a DAG's next fire times and the logical dates their runs get (from its start_date on,
    up to its end_date)."""
    from ..views import next_fires

    dag = app.dag(dag_id)
    rows = next_fires(dag, count, after)
    if as_json:
        keys = ("fires_at", "fires_at_utc", "logical_date")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    if not rows and dag.schedule.kind in ("none", "reboot"):
        when = "once each time `minorch up` starts" if dag.schedule.kind == "reboot" else "only when triggered"
        click.echo(f"{dag_id} has no timed schedule ({dag.schedule.expr}): it runs {when}")
        return
    if not rows:
        click.echo(f"{dag_id} fires no more: its end_date ({dag.end_date.isoformat()}) has passed")
        return
    click.echo(table(["fires at (local)", "fires at (UTC)", "logical date"], rows))


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts is not None else None


def _local(ts: float | None, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "-"


def run_rows(store, dag_id: str, state: str | None, limit: int) -> list[dict]:
    """The newest `limit` runs of a DAG as plain dicts, with task counts per state."""
    runs = store.runs(dag_id, states=[state] if state else None, limit=limit)
    counts = store.task_state_counts(r.pk for r in runs)
    from ..views import started_by

    by = {pk: ", ".join(names) for pk, names in started_by(store, dag_id, runs).items()}
    return [
        {
            "run_id": r.run_id,
            "run_type": r.run_type,
            "state": r.state.value,
            "logical_date": r.logical_date,
            "data_interval_start": r.data_interval_start,
            "data_interval_end": r.data_interval_end,
            "queued_at": _iso(r.queued_at),
            "start_date": _iso(r.start_date),
            "end_date": _iso(r.end_date),
            "duration": (r.end_date - r.start_date) if r.start_date and r.end_date else None,
            "tasks": counts[r.pk],
            "triggered_by": by.get(r.pk),
        }
        for r in runs
    ]


@main.command()
@click.argument("dag_id")
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only runs in this state.")
@click.option("--limit", "-n", default=20, show_default=True, type=limit_range(), help="How many runs.")
@json_option("Print the runs as JSON.")
@pass_ctx
def runs(app: Context, dag_id: str, state: str | None, limit: int, as_json: bool) -> None:
    """List a DAG's runs, newest first: state, logical date, start, duration, task states."""
    dag = app.dag(dag_id)
    rows = run_rows(app.store(readonly=True), dag.dag_id, state, limit) if app.settings.db_path.exists() else []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs of {dag_id}" + (f" in state {state}" if state else ""))
        return
    tz = dag.timezone
    lines = []
    linked = any(r["triggered_by"] for r in rows)  # the column only where a run was started by another
    for r in rows:
        tasks = ", ".join(f"{r['tasks'][s.value]} {s.value}" for s in TaskState if s.value in r["tasks"])
        started = datetime.fromisoformat(r["start_date"]).timestamp() if r["start_date"] else None
        lines.append(
            [
                r["run_id"],
                r["state"],
                _local(datetime.fromisoformat(r["logical_date"]).timestamp(), tz),
                _local(started, tz),
                format_duration(r["duration"]),
                tasks,
                *([r["triggered_by"] or "-"] if linked else []),
            ]
        )
    heads = ["run", "state", f"logical date ({tz})", f"started ({tz})", "duration", "tasks"]
    click.echo(table(heads + (["triggered by"] if linked else []), lines))


def task_rows(store, dag, run) -> list[dict]:
    """One dict per task instance of a run, in DAG order, with its latest try; a mapped task's
    row lists its copies (`copies`), each with the input item it got."""
    from .. import operations as ops
    from ..views import map_inputs

    tis = store.task_instances([run.pk])[run.pk]
    attempts = store.attempts(run.pk)
    latest = {a.task_id: a for a in attempts}  # ordered by id: the last one wins
    latest_copy = {(a.task_id, a.map_index): a for a in attempts if a.map_index >= 0}
    copies_tries = Counter(a.task_id for a in attempts if a.map_index >= 0)
    mapped_tis = store.mapped_instances([run.pk]).get(run.pk, {})
    rows = []
    for tid in ops.in_dag_order(dag, tis):
        ti = tis[tid]
        attempt = latest.get(tid)
        span = ti.end_date - ti.start_date if ti.end_date and ti.start_date else None
        mapped = tid in copies_tries  # a mapped task: its copies' tries, its own start to end
        row = {
            "task_id": tid,
            "state": ti.state.value,
            "tries": copies_tries[tid] if mapped else ti.try_number,
            "start_date": _iso(ti.start_date),
            "end_date": _iso(ti.end_date),
            "duration": span
            if mapped
            else (ti.duration if ti.duration is not None else (attempt.duration if attempt else None)),
            **_try_columns(attempt),
            "note": ti.note,
        }
        if tid in mapped_tis:
            items = map_inputs(store, run.pk, dag.tasks.get(tid)) or []
            row["copies"] = [
                {
                    "map_index": index,
                    "input": items[index] if index < len(items) else None,
                    "state": copy.state.value,
                    "tries": copy.try_number,
                    "duration": copy.duration,
                    **_try_columns(latest_copy.get((tid, index))),
                    "note": copy.note,
                }
                for index, copy in sorted(mapped_tis[tid].items())
            ]
        rows.append(row)
    return rows


def _try_columns(attempt) -> dict:
    return {
        "exit_code": attempt.exit_code if attempt else None,
        "signal": attempt.signal if attempt else None,
        "timed_out": bool(attempt.timed_out) if attempt else False,
        "log_path": attempt.log_path if attempt else None,
        "host": attempt.host if attempt else None,
    }


class _ListByDefault(click.Group):
    """`minorch tasks DAG RUN` is `minorch tasks list DAG RUN`: a first word that is not a
    subcommand (nor --help) means `list`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@main.group(cls=_ListByDefault)
def tasks() -> None:
    """The tasks of a run: list them (the default: `minorch tasks DAG RUN`), or test one."""


@tasks.command("list")
@click.argument("dag_id")
@click.argument("run")
@json_option("Print the tasks as JSON.")
@pass_ctx
def list_tasks(app: Context, dag_id: str, run: str, as_json: bool) -> None:
    """List the tasks of RUN: state, tries, duration, exit code, host and the log of the latest try."""
    dag, store, found = resolve_run(app, dag_id, run, readonly=True)
    rows = task_rows(store, dag, found)
    if as_json:
        click.echo(json.dumps({"run_id": found.run_id, "state": found.state.value, "tasks": rows}, indent=2))
        return
    from ..views import short_item

    click.echo(f"{dag_id} run {found.run_id}: {found.state.value}")
    remote = any(r["host"] for r in rows)  # a try ran on a Dask worker: say where each latest try ran
    lines = []
    for r in rows:
        lines.append(_task_line(r["task_id"], r, remote))
        for copy in r.get("copies", []):  # each copy under its task, with the item it got
            lines.append(_task_line(f"  [{copy['map_index']}] {short_item(copy['input'])}", copy, remote))
    heads = ["task", "state", "tries", "duration", "exit", *(["host"] if remote else []), "log", "note"]
    click.echo(table(heads, lines))


def _task_line(name: str, r: dict, remote: bool) -> list:
    code = "-" if r["exit_code"] is None else str(r["exit_code"])
    if r["timed_out"]:
        code = "timeout"
    elif r["signal"]:
        code = f"signal {r['signal']}"
    return [
        name,
        r["state"],
        r["tries"],
        format_duration(r["duration"]),
        code,
        *([r["host"] or "-"] if remote else []),
        _short_path(r["log_path"]),
        r["note"] or "",
    ]


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id", metavar="TASK")
@click.option("--date", "date", metavar="DATE", help="Logical date (YYYY-MM-DD or ISO time); default: now.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set params.KEY for this try.")
@click.option("--record", is_flag=True, help="Record the try in the state file as a try of that date's run.")
@pass_ctx
def test_task(app: Context, dag_id: str, task_id: str, date: str | None, params: tuple[str, ...], record: bool) -> None:
    """Run TASK once now in the foreground, print its log as it runs, and exit with its exit code.

    Its upstream tasks' results come from the latest run of that date (none if there is none);
    no other task runs, no retry waits, and nothing is recorded unless --record. It works while
    `minorch up` runs. Like Airflow's `tasks test`.
    """
    from ..errors import did_you_mean
    from ..task_test import test_task as run_test

    dag = app.dag(dag_id)
    if task_id not in dag.tasks:
        raise NotFound(f"DAG '{dag_id}' has no task '{task_id}'", hint=did_you_mean(task_id, dag.tasks))
    terminal = _Terminal(raw=False)
    result = run_test(
        app.settings, app.registry, dag, task_id, date, parse_params(params), terminal.write, record=record
    )
    terminal.write(b"", final=True)
    upstream = ", ".join(result.upstream_results) or "none"
    recorded = f"; recorded in {result.run_id}" if result.recorded else "; nothing recorded"
    click.echo(
        f"{dag_id}.{task_id}: {result.state.value} (exit {result.exit_code}); upstream results used: {upstream}"
        + recorded,
        err=True,
    )
    sys.exit(result.exit_code)


def _short_path(path: str | None) -> str:
    if not path:
        return "-"
    from ..config import display_path

    return display_path(Path(path))


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_id", metavar="TASK")
@click.option("--try", "try_number", type=limit_range(), metavar="N", help="Which try (default: the latest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the try writes, until it ends.")
@click.option(
    "--map-index",
    type=limit_range(0),
    metavar="I",
    help="For a mapped task: which copy (default: the copy that ran last).",
)
@click.option("--raw", is_flag=True, help="Pass the bytes through as the task wrote them, escape sequences too.")
@json_option("Print JSON Lines: one record per log line, with its task, try and line number.")
@pass_ctx
def logs(
    app: Context,
    dag_id: str,
    run: str,
    task_id: str,
    try_number: int | None,
    follow: bool,
    map_index: int | None,
    raw: bool,
    as_json: bool,
) -> None:
    """Print the log of a try of TASK in RUN.

    Control characters a task printed (colours, cursor moves, terminal titles) are shown as text
    such as \\x1b, so a log cannot take over your terminal; --raw passes them through.
    """
    dag, store, found = resolve_run(app, dag_id, run, readonly=True)
    if task_id not in dag.tasks:
        from ..errors import did_you_mean

        raise NotFound(f"DAG '{dag_id}' has no task '{task_id}'", hint=did_you_mean(task_id, dag.tasks))
    tries = store.attempts(found.pk, task_id)
    if map_index is not None:
        copies = sorted({a.map_index for a in tries})
        tries = [a for a in tries if a.map_index == map_index]
        if not tries and copies:
            raise NotFound(
                f"task '{task_id}' of run {found.run_id} has no copy {map_index}",
                hint="copies that ran: " + ", ".join(str(i) for i in copies),
            )
    if not tries:
        raise NotFound(f"task '{task_id}' of {dag_id} run {found.run_id} has not run yet")
    if try_number is not None:
        picked = [a for a in tries if a.try_number == try_number]
        if not picked:
            raise NotFound(
                f"task '{task_id}' of run {found.run_id} has no try {try_number}",
                hint="tries: " + ", ".join(str(a.try_number) for a in tries),
            )
        attempt = picked[-1]
    else:
        attempt = tries[-1]
    path = Path(attempt.log_path or "")
    if not path.is_file():
        raise MinorchError(
            f"the log of try {attempt.try_number} ({path}) is gone",
            hint="`minorch db prune` deletes the logs of old runs",
        )
    if as_json:
        record = {
            "dag_id": dag_id,
            "run_id": found.run_id,
            "task_id": task_id,
            "map_index": attempt.map_index,
            "try_number": attempt.try_number,
        }
        write = _JsonLines(record).write
    else:
        write = _Terminal(raw).write
    with path.open("rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                write(chunk)
                continue
            if not follow or _ended(store, found.pk, attempt.attempt_id):
                if follow:
                    write(log.read())  # what the try wrote just before it ended
                write(b"", final=True)
                return
            if path.stat().st_size < log.tell():  # truncated in place by the log size cap
                log.seek(0)
            time.sleep(FOLLOW_INTERVAL)


class _Terminal:
    """Log bytes to stdout: control characters made visible unless raw."""

    def __init__(self, raw: bool) -> None:
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")

    def write(self, data: bytes, final: bool = False) -> None:
        if not self.raw:
            data = visible(self.decoder.decode(data, final), keep_cr=True).encode()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


class _JsonLines:
    """Log bytes as JSON Lines, one record per complete line (a last line without newline at the end)."""

    def __init__(self, record: dict) -> None:
        self.record = record
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.number = 0

    def write(self, data: bytes, final: bool = False) -> None:
        lines = (self.pending + self.decoder.decode(data, final)).split("\n")
        self.pending = "" if final else lines.pop()
        for line in lines if not final or lines[-1] else lines[:-1]:
            self.number += 1
            click.echo(json.dumps({**self.record, "line": self.number, "text": line.removesuffix("\r")}))


def _ended(store, run_pk: int, attempt_id: str) -> bool:
    return any(a.attempt_id == attempt_id and a.end_date is not None for a in store.attempts(run_pk))
