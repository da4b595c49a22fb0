"""Operator commands: backfill, clear, retry, mark, pause, runs, tasks, logs, db prune/check.

Each command resolves its arguments, calls one function of `minorch.operations` (or one
read of the store) and prints the result. RUN is a run id, a day (2024-01-15), an ISO time
or `latest`. Actions write to the state file only; a running `minorch up` acts on them
within a second, and with none running they stand until the next one starts.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from .cli import Context, _table, main, pass_ctx
from .durations import format_duration, parse_duration
from .errors import ConfigError, MinorchError, NotFound
from .states import RunState, TaskState

if TYPE_CHECKING:  # imported inside the commands: `minorch --help` does not pay for the planner
    from . import operations as ops

FOLLOW_INTERVAL = 0.25  # seconds between looks at a growing log file


def _effect(app: Context) -> str:
    from . import operations as ops
    if ops.scheduler_running(app.settings):
        return "the running scheduler acts on it within a second"
    return "no scheduler is running: the next `minorch up` acts on it"


def _resolve(app: Context, dag_id: str, ref: str):
    from . import operations as ops
    dag = app.dag(dag_id)
    store = app.store()
    return dag, store, ops.resolve_run(store, dag, ref)


# ---------------------------------------------------------------- actions

@main.command()
@click.argument("dag_id")
@click.option("--start", required=True, metavar="DATE", help="First logical date (YYYY-MM-DD or ISO time).")
@click.option("--end", required=True, metavar="DATE", help="Last logical date; a day covers the whole day.")
@click.option("--reprocess", type=click.Choice(["none", "failed", "all"]), default="none", show_default=True,
              help="Dates that already ran: skip them, re-run the failed ones, or re-run all.")
@click.option("--max-active-runs", type=click.IntRange(min=1), metavar="N",
              help="With --wait: run at most N of these runs at once (default: the DAG's max_active_runs).")
@click.option("--dry-run", is_flag=True, help="Only print which dates would run.")
@click.option("--wait", is_flag=True, help="Run them now in the foreground (or wait for the running scheduler); "
                                           "exit 0 if all succeeded, 1 if any failed.")
@click.option("--yes", "-y", is_flag=True, help="Allow a backfill beyond the safety limit on its number of runs.")
@pass_ctx
def backfill(app: Context, dag_id: str, start: str, end: str, reprocess: str, max_active_runs: int | None,
             dry_run: bool, wait: bool, yes: bool) -> None:
    """Create one run per logical date the DAG's schedule yields from --start to --end."""
    from . import operations as ops
    dag = app.dag(dag_id)
    if max_active_runs and not wait:
        raise ConfigError("--max-active-runs works with --wait only",
                          hint="without --wait the scheduler uses the DAG's max_active_runs")

    def plan_with(store, now: float) -> ops.BackfillPlan:
        from . import operations as ops
        return ops.backfill(app.settings, store, dag, start, end, reprocess=reprocess, dry_run=dry_run, yes=yes,
                            now=now)

    if dry_run or not wait or ops.scheduler_running(app.settings):
        plan = plan_with(app.store(), time.time())
        _print_plan(plan, dag)
        if wait and plan.run_pks:
            if max_active_runs:
                raise ConfigError("--max-active-runs cannot limit a running scheduler",
                                  hint="stop `minorch up`, or drop --max-active-runs")
            sys.exit(_wait_for(app, plan.run_pks))
        if not dry_run and plan.run_pks:
            click.echo(_effect(app))
        return
    sys.exit(_drive(app, dag, plan_with, max_active_runs))


def _print_plan(plan: ops.BackfillPlan, dag) -> None:
    verb = "would create" if plan.dry_run else "created"
    again = "would re-run" if plan.dry_run else "re-running"
    click.echo(f"backfill {dag.dag_id}: {verb} {len(plan.created)} runs, {again} {len(plan.cleared)}, "
               f"skipping {len(plan.skipped)} that already ran or are running")
    if plan.dry_run:
        zone = ZoneInfo(dag.timezone)
        rows = sorted([d, action] for action, dates in (("create", plan.created), ("re-run", plan.cleared),
                                                        ("skip", plan.skipped)) for d in dates)
        rows = [[datetime.fromisoformat(d).astimezone(zone).strftime("%Y-%m-%d %H:%M"), d, action]
                for d, action in rows]
        shown = rows if len(rows) <= 40 else rows[:20] + [["...", "", f"{len(rows) - 40} more"]] + rows[-20:]
        click.echo(_table([f"logical date ({dag.timezone})", "UTC", "action"], shown))


def _drive(app: Context, dag, plan_with, max_active_runs: int | None) -> int:
    """Take the scheduler lock, create the runs and run them here; the exit code."""
    from dataclasses import replace

    from .foreground import EXIT_INTERRUPTED, drive
    from .registry import Registry
    registry = app.registry
    if max_active_runs:
        registry = Registry({**registry.dags, dag.dag_id: replace(dag, max_active_runs=max_active_runs)},
                            registry.errors, registry.files)
    progress = _Progress(app)

    def create(sched) -> list[int]:  # under the scheduler lock, so no other scheduler starts these runs
        plan = plan_with(sched.store, sched.clock.now().timestamp())
        _print_plan(plan, dag)
        progress.pks = plan.run_pks
        return plan.run_pks

    results = drive(app.settings, registry, create, lambda line: progress.update())
    progress.update(final=True)
    if any(r.interrupted for r in results):
        return EXIT_INTERRUPTED
    return progress.report()


def _wait_for(app: Context, pks: list[int]) -> int:
    """Watch a running scheduler work through the runs; the exit code."""
    progress = _Progress(app)
    progress.pks = pks
    click.echo("waiting for the running scheduler (Ctrl-C stops waiting; the runs go on)")
    try:
        while not progress.update():
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopped waiting; the runs go on in the scheduler")
        return 130
    progress.update(final=True)
    return progress.report()


class _Progress:
    """One line of progress for a set of runs, read from the store (at most 5 times a second)."""

    def __init__(self, app: Context) -> None:
        self.store = app.store()
        self.pks: list[int] = []
        self.tty = sys.stdout.isatty()
        self.last_text = ""
        self.next_look = 0.0

    def update(self, final: bool = False) -> bool:
        """Print progress if it changed; True when every run has finished."""
        if not self.pks or (not final and time.monotonic() < self.next_look):
            return False
        self.next_look = time.monotonic() + 0.2
        states = list(self.store.run_states(self.pks).values())
        done = sum(s.finished for s in states)
        failed = sum(s is RunState.FAILED for s in states)
        width = 30
        bar = "#" * (width * done // len(self.pks))
        text = f"[{bar:<{width}}] {done}/{len(self.pks)} runs done, {failed} failed"
        if text != self.last_text:
            self.last_text = text
            if self.tty:
                click.echo("\r" + text, nl=final)
            else:
                click.echo(text)
        elif final and self.tty:
            click.echo()
        return done == len(self.pks)

    def report(self) -> int:
        """List the failed runs with their failed tasks; 0 if every run succeeded, else 1."""
        failed = [pk for pk, s in self.store.run_states(self.pks).items() if s is not RunState.SUCCESS]
        for pk in failed:
            run = self.store.run(pk)
            tis = self.store.task_instances([pk])[pk]
            bad = [f"{tid} ({ti.state.value})" for tid, ti in tis.items() if ti.state.value != "success"]
            click.echo(f"{run.run_id}: {run.state.value}: " + ", ".join(bad), err=True)
        return 1 if failed else 0


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_ids", nargs=-1, metavar="[TASK]...")
@click.option("--downstream", is_flag=True, help="Also clear the tasks downstream of those named.")
@click.option("--upstream", is_flag=True, help="Also clear the tasks upstream of those named.")
@click.option("--failed-only", is_flag=True, help="Clear only tasks that failed or whose upstream failed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def clear(app: Context, dag_id: str, run: str, task_ids: tuple[str, ...], downstream: bool, upstream: bool,
          failed_only: bool, yes: bool) -> None:
    """Run tasks of RUN again (all tasks if none are named): fresh retries, results dropped."""
    from . import operations as ops
    dag, store, found = _resolve(app, dag_id, run)
    named = list(task_ids) or None
    chosen = ops.select_clear(store, dag, found, named, downstream=downstream, upstream=upstream,
                              failed_only=failed_only)
    if not chosen:
        click.echo(f"nothing to clear in {dag_id} run {found.run_id}")
        return
    if not yes:
        click.confirm(f"clear {len(chosen)} tasks of {dag_id} run {found.run_id}: {', '.join(chosen)}?", abort=True)
    cleared = ops.clear(store, dag, found, named, downstream=downstream, upstream=upstream, failed_only=failed_only,
                        now=time.time())
    click.echo(f"cleared {len(cleared)} tasks of {dag_id} run {found.run_id}: {', '.join(cleared) or '-'}; "
               + _effect(app))


@main.command()
@click.argument("dag_id")
@click.argument("run")
@pass_ctx
def retry(app: Context, dag_id: str, run: str) -> None:
    """Run the failed tasks of RUN again, and the tasks that were skipped or not run because of them."""
    from . import operations as ops
    dag, store, found = _resolve(app, dag_id, run)
    cleared = ops.retry(store, dag, found, time.time())
    if not cleared:
        click.echo(f"no failed tasks in {dag_id} run {found.run_id} ({found.state.value})")
        return
    click.echo(f"retrying {len(cleared)} tasks of {dag_id} run {found.run_id}: {', '.join(cleared)}; " + _effect(app))


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_id", metavar="TASK")
@click.argument("state", type=click.Choice(["success", "failed", "skipped"]))
@pass_ctx
def mark(app: Context, dag_id: str, run: str, task_id: str, state: str) -> None:
    """Set TASK of RUN to success, failed or skipped (a running try is killed).

    Marking success or skipped clears the failed tasks downstream, so the run goes on.
    """
    from . import operations as ops
    dag, store, found = _resolve(app, dag_id, run)
    ops.mark_task(store, dag, found, task_id, state, time.time())
    click.echo(f"marked {dag_id}.{task_id} {state} in run {found.run_id}; " + _effect(app))


@main.command("mark-run")
@click.argument("dag_id")
@click.argument("run")
@click.argument("state", type=click.Choice(["success", "failed"]))
@pass_ctx
def mark_run(app: Context, dag_id: str, run: str, state: str) -> None:
    """Finish RUN as success or failed; its unfinished tasks are set to match (running tries are killed)."""
    from . import operations as ops
    dag, store, found = _resolve(app, dag_id, run)
    ops.mark_run(store, dag, found, state, time.time())
    click.echo(f"marked {dag_id} run {found.run_id} {state}; " + _effect(app))


@main.command()
@click.argument("dag_id")
@pass_ctx
def pause(app: Context, dag_id: str) -> None:
    """Pause a DAG: no new runs or tries start; running tries finish."""
    from . import operations as ops
    ops.set_paused(app.store(), app.dag(dag_id).dag_id, True)
    click.echo(f"paused {dag_id}; " + _effect(app))


@main.command()
@click.argument("dag_id")
@pass_ctx
def unpause(app: Context, dag_id: str) -> None:
    """Unpause a DAG: its schedule fires again and its queued runs start."""
    from . import operations as ops
    ops.set_paused(app.store(), app.dag(dag_id).dag_id, False)
    click.echo(f"unpaused {dag_id}; " + _effect(app))


# ---------------------------------------------------------------- looking

def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts is not None else None


def _local(ts: float | None, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "-"


def run_rows(store, dag_id: str, state: str | None, limit: int) -> list[dict]:
    """The newest `limit` runs of a DAG as plain dicts, with task counts per state."""
    runs = store.runs(dag_id, states=[state] if state else None, limit=limit)
    counts = store.task_state_counts(r.pk for r in runs)
    return [{"run_id": r.run_id, "run_type": r.run_type, "state": r.state.value, "logical_date": r.logical_date,
             "data_interval_start": r.data_interval_start, "data_interval_end": r.data_interval_end,
             "queued_at": _iso(r.queued_at), "start_date": _iso(r.start_date), "end_date": _iso(r.end_date),
             "duration": (r.end_date - r.start_date) if r.start_date and r.end_date else None,
             "tasks": counts[r.pk]} for r in runs]


@main.command()
@click.argument("dag_id")
@click.option("--state", type=click.Choice([s.value for s in RunState]), help="Only runs in this state.")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
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
    table = []
    for r in rows:
        tasks = ", ".join(f"{r['tasks'][s.value]} {s.value}" for s in TaskState if s.value in r["tasks"])
        started = datetime.fromisoformat(r["start_date"]).timestamp() if r["start_date"] else None
        table.append([r["run_id"], r["state"], _local(datetime.fromisoformat(r["logical_date"]).timestamp(), tz),
                      _local(started, tz), format_duration(r["duration"]), tasks])
    click.echo(_table(["run", "state", f"logical date ({tz})", "started", "duration", "tasks"], table))


def task_rows(store, dag, run) -> list[dict]:
    """One dict per task instance of a run, in DAG order, with its latest try."""
    from . import operations as ops
    tis = store.task_instances([run.pk])[run.pk]
    attempts = store.attempts(run.pk)
    latest = {a.task_id: a for a in attempts}  # ordered by id: the last one wins
    copies_tries = Counter(a.task_id for a in attempts if a.map_index >= 0)
    rows = []
    for tid in ops.in_dag_order(dag, tis):
        ti, attempt = tis[tid], latest.get(tid)
        span = ti.end_date - ti.start_date if ti.end_date and ti.start_date else None
        mapped = tid in copies_tries  # a mapped task: its copies' tries, its own start to end
        rows.append({"task_id": tid, "state": ti.state.value,
                     "tries": copies_tries[tid] if mapped else ti.try_number,
                     "start_date": _iso(ti.start_date), "end_date": _iso(ti.end_date),
                     "duration": span if mapped else (ti.duration if ti.duration is not None
                                                      else (attempt.duration if attempt else None)),
                     "exit_code": attempt.exit_code if attempt else None,
                     "signal": attempt.signal if attempt else None,
                     "timed_out": bool(attempt.timed_out) if attempt else False,
                     "log_path": attempt.log_path if attempt else None, "note": ti.note})
    return rows


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
@pass_ctx
def tasks(app: Context, dag_id: str, run: str, as_json: bool) -> None:
    """List the tasks of RUN: state, tries, duration, exit code and the log of the latest try."""
    dag, store, found = _resolve(app, dag_id, run)
    rows = task_rows(store, dag, found)
    if as_json:
        click.echo(json.dumps({"run_id": found.run_id, "state": found.state.value, "tasks": rows}, indent=2))
        return
    click.echo(f"{dag_id} run {found.run_id}: {found.state.value}")
    table = []
    for r in rows:
        code = "-" if r["exit_code"] is None else str(r["exit_code"])
        if r["timed_out"]:
            code = "timeout"
        elif r["signal"]:
            code = f"signal {r['signal']}"
        table.append([r["task_id"], r["state"], r["tries"], format_duration(r["duration"]), code,
                      _short_path(r["log_path"]), r["note"] or ""])
    click.echo(_table(["task", "state", "tries", "duration", "exit", "log", "note"], table))


def _short_path(path: str | None) -> str:
    if not path:
        return "-"
    from .config import display_path
    return display_path(Path(path))


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_id", metavar="TASK")
@click.option("--try", "try_number", type=click.IntRange(min=1), metavar="N", help="Which try (default: the latest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the try writes, until it ends.")
@click.option("--map-index", type=click.IntRange(min=0), metavar="I",
              help="For a mapped task: which copy (default: the copy that ran last).")
@pass_ctx
def logs(app: Context, dag_id: str, run: str, task_id: str, try_number: int | None, follow: bool,
         map_index: int | None) -> None:
    """Print the log of a try of TASK in RUN."""
    dag, store, found = _resolve(app, dag_id, run)
    if task_id not in dag.tasks:
        from .errors import did_you_mean
        raise NotFound(f"DAG '{dag_id}' has no task '{task_id}'", hint=did_you_mean(task_id, dag.tasks))
    tries = store.attempts(found.pk, task_id)
    if map_index is not None:
        copies = sorted({a.map_index for a in tries})
        tries = [a for a in tries if a.map_index == map_index]
        if not tries and copies:
            raise NotFound(f"task '{task_id}' of run {found.run_id} has no copy {map_index}",
                           hint="copies that ran: " + ", ".join(str(i) for i in copies))
    if not tries:
        raise NotFound(f"task '{task_id}' of {dag_id} run {found.run_id} has not run yet")
    if try_number is not None:
        picked = [a for a in tries if a.try_number == try_number]
        if not picked:
            raise NotFound(f"task '{task_id}' of run {found.run_id} has no try {try_number}",
                           hint="tries: " + ", ".join(str(a.try_number) for a in tries))
        attempt = picked[-1]
    else:
        attempt = tries[-1]
    path = Path(attempt.log_path or "")
    if not path.is_file():
        raise MinorchError(f"the log of try {attempt.try_number} ({path}) is gone",
                           hint="`minorch db prune` deletes the logs of old runs")
    out = sys.stdout.buffer
    with path.open("rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if not follow or _ended(store, found.pk, attempt.attempt_id):
                if follow:
                    out.write(log.read())  # what the try wrote just before it ended
                return
            if path.stat().st_size < log.tell():  # truncated in place by the log size cap
                log.seek(0)
            time.sleep(FOLLOW_INTERVAL)


def _ended(store, run_pk: int, attempt_id: str) -> bool:
    return any(a.attempt_id == attempt_id and a.end_date is not None for a in store.attempts(run_pk))


# ---------------------------------------------------------------- the state file

@main.group()
def db() -> None:
    """Look after the state file: prune old runs, check it."""


@db.command()
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help='Delete finished runs that ended longer ago than this ("90d", "12h").')
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def prune(app: Context, older_than: str, yes: bool) -> None:
    """Delete old finished runs with their tasks, tries, results and log folders."""
    from . import operations as ops
    if older_than.strip().replace(".", "", 1).isdigit():  # a bare number would be seconds: too easy to misread
        raise ConfigError(f"--older-than {older_than} needs a unit", hint=f'write e.g. "{older_than}d" for days')
    seconds = parse_duration(older_than, name="--older-than")
    store = app.store()
    now = time.time()
    preview = ops.prune(app.settings, store, seconds, now, dry_run=True)
    if not preview.runs:
        click.echo(f"no finished runs older than {older_than}")
        return
    what = f"{preview.runs} runs ({preview.task_instances} task instances, {preview.attempts} tries) older than " \
           f"{older_than}"
    if not yes:
        click.confirm(f"delete {what} and their logs?", abort=True)
    done = ops.prune(app.settings, store, seconds, now)
    click.echo(f"deleted {done.runs} runs, {done.task_instances} task instances, {done.attempts} tries and "
               f"{done.log_folders} log folders")


@db.command("check")
@click.option("--full", is_flag=True, help="Read every page (SQLite integrity_check): slower, more thorough.")
@pass_ctx
def check_db(app: Context, full: bool) -> None:
    """Check the state file; exit 1 if there are problems."""
    from . import operations as ops
    from .store import Store
    problems = ops.check(app.settings, Store(app.settings.db_path, readonly=True), full=full)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{app.settings.db_path}: no problems found")
