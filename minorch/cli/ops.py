"""Acting on runs and the state file: `backfill`, `clear`, `retry`, `mark`, `mark-run`, `pause`,
`unpause`, `db prune`, `db check`."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..durations import parse_duration
from ..errors import ConfigError
from ..states import RunState
from . import Context, json_option, main, pass_ctx, resolve_run, scheduler_effect, table

if TYPE_CHECKING:  # imported inside the commands: `minorch --help` does not pay for the planner
    from .. import operations as ops


@main.command()
@click.argument("dag_id")
@click.option("--start", required=True, metavar="DATE", help="First logical date (YYYY-MM-DD or ISO time).")
@click.option("--end", required=True, metavar="DATE", help="Last logical date; a day covers the whole day.")
@click.option(
    "--reprocess",
    type=click.Choice(["none", "failed", "all"]),
    default="none",
    show_default=True,
    help="Dates that already ran: skip them, re-run the failed ones, or re-run all.",
)
@click.option(
    "--max-active-runs",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --wait: run at most N of these runs at once (default: the DAG's max_active_runs).",
)
@click.option("--dry-run", is_flag=True, help="Only print which dates would run.")
@click.option(
    "--wait",
    is_flag=True,
    help="Run them now in the foreground (or wait for the running scheduler); "
    "exit 0 if all succeeded, 1 if any failed.",
)
@click.option("--yes", "-y", is_flag=True, help="Allow a backfill beyond the safety limit on its number of runs.")
@json_option("Print the plan (and, with --wait, each run's outcome) as JSON instead of text.")
@pass_ctx
def backfill(
    app: Context,
    dag_id: str,
    start: str,
    end: str,
    reprocess: str,
    max_active_runs: int | None,
    dry_run: bool,
    wait: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Create one run per logical date the DAG's schedule yields from --start to --end."""
    from .. import operations as ops

    dag = app.dag(dag_id)
    if max_active_runs and not wait:
        raise ConfigError(
            "--max-active-runs works with --wait only",
            hint="without --wait the scheduler uses the DAG's max_active_runs",
        )

    def plan_with(store, now: float) -> ops.BackfillPlan:
        from .. import operations as ops

        return ops.backfill(
            app.settings, store, dag, start, end, reprocess=reprocess, dry_run=dry_run, yes=yes, now=now
        )

    report = _JsonReport(app) if as_json else None
    if dry_run or not wait or ops.scheduler_running(app.settings):
        if wait and max_active_runs and not dry_run:
            raise ConfigError(
                "--max-active-runs cannot limit a running scheduler",
                hint="stop `minorch up`, or drop --max-active-runs",
            )
        plan = plan_with(app.store(), time.time())
        _print_plan(plan, dag, report)
        if wait and plan.run_pks:
            code = _wait_for(app, plan.run_pks, quiet=as_json)
        else:
            code = 0
            if not dry_run and plan.run_pks and not as_json:
                click.echo(scheduler_effect(app))
        if report:
            report.emit(plan, wait=wait)
        sys.exit(code)
    sys.exit(_drive(app, dag, plan_with, max_active_runs, report))


class _JsonReport:
    """backfill --json: the plan, and with --wait each run's final state and failed tasks."""

    def __init__(self, app: Context) -> None:
        self.app = app
        self.plan: ops.BackfillPlan | None = None

    def emit(self, plan: ops.BackfillPlan, *, wait: bool) -> None:
        record = {
            "dag_id": plan.dag_id,
            "dry_run": plan.dry_run,
            "created": plan.created,
            "re_run": plan.cleared,
            "skipped": plan.skipped,
        }
        store = self.app.store()
        runs = [store.existing_run(pk) for pk in plan.run_pks]
        rows: list[dict[str, object]] = [
            {"run_id": r.run_id, "logical_date": r.logical_date, "state": r.state.value} for r in runs
        ]
        record["runs"] = rows
        if wait:
            for row, run in zip(rows, runs, strict=True):
                tis = store.task_instances([run.pk])[run.pk]
                row["failed_tasks"] = [t for t, ti in tis.items() if ti.state.value in ("failed", "upstream_failed")]
        click.echo(json.dumps(record, indent=2))


def _print_plan(plan: ops.BackfillPlan, dag, report: _JsonReport | None = None) -> None:
    if report is not None:
        report.plan = plan
        return
    verb = "would create" if plan.dry_run else "created"
    again = "would re-run" if plan.dry_run else "re-running"
    click.echo(
        f"backfill {dag.dag_id}: {verb} {len(plan.created)} runs, {again} {len(plan.cleared)}, "
        f"skipping {len(plan.skipped)} that already ran or are running"
    )
    if plan.dry_run:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(dag.timezone)
        rows = sorted(
            [d, action]
            for action, dates in (("create", plan.created), ("re-run", plan.cleared), ("skip", plan.skipped))
            for d in dates
        )
        rows = [
            [datetime.fromisoformat(d).astimezone(zone).strftime("%Y-%m-%d %H:%M"), d, action] for d, action in rows
        ]
        shown = rows if len(rows) <= 40 else rows[:20] + [["...", "", f"{len(rows) - 40} more"]] + rows[-20:]
        click.echo(table([f"logical date ({dag.timezone})", "UTC", "action"], shown))


def _drive(app: Context, dag, plan_with, max_active_runs: int | None, report: _JsonReport | None) -> int:
    """Take the lock of this DAG, create the runs and run them here; the exit code."""
    from dataclasses import replace

    from ..foreground import EXIT_INTERRUPTED, drive
    from ..registry import Registry

    registry = app.registry
    if max_active_runs:
        registry = Registry(
            {**registry.dags, dag.dag_id: replace(dag, max_active_runs=max_active_runs)},
            registry.errors,
            registry.files,
        )
    progress = _Progress(app, quiet=report is not None)

    def create(sched) -> list[int]:  # under the lock of this DAG, so no other scheduler starts these runs
        plan = plan_with(sched.store, sched.clock.now().timestamp())
        _print_plan(plan, dag, report)
        progress.pks = plan.run_pks
        return plan.run_pks

    def on_event(_line: str) -> None:
        progress.update()

    results = drive(app.settings, registry, create, on_event, dag_ids={dag.dag_id})
    progress.update(final=True)
    if report is not None and report.plan is not None:
        report.emit(report.plan, wait=True)
    if any(r.interrupted for r in results):
        return EXIT_INTERRUPTED
    return progress.report()


def _wait_for(app: Context, pks: list[int], *, quiet: bool = False) -> int:
    """Watch a running scheduler work through the runs; the exit code."""
    progress = _Progress(app, quiet=quiet)
    progress.pks = pks
    if not quiet:
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

    def __init__(self, app: Context, *, quiet: bool = False) -> None:
        self.quiet = quiet  # --json: no progress lines, no failed-run lines
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
        if self.quiet:
            return done == len(self.pks)
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
        for pk in [] if self.quiet else failed:
            run = self.store.run(pk)
            tis = self.store.task_instances([pk])[pk]
            bad = [f"{tid} ({ti.state.value})" for tid, ti in tis.items() if ti.state.value != "success"]
            click.echo(f"{run.run_id}: {run.state.value}: " + ", ".join(bad), err=True)
        return 1 if failed else 0


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_ids", nargs=-1, metavar="[TASK]...")
@click.option(
    "--downstream", is_flag=True, help="Also clear the descendants of the tasks named (what depends on them)."
)
@click.option("--upstream", is_flag=True, help="Also clear the ancestors of the tasks named (what they depend on).")
@click.option("--failed-only", is_flag=True, help="Clear only tasks that failed or whose upstream failed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def clear(
    app: Context,
    dag_id: str,
    run: str,
    task_ids: tuple[str, ...],
    downstream: bool,
    upstream: bool,
    failed_only: bool,
    yes: bool,
) -> None:
    """Run tasks of RUN again (all tasks if none are named): fresh retries, results dropped."""
    from .. import operations as ops

    dag, store, found = resolve_run(app, dag_id, run)
    named = list(task_ids) or None
    chosen = ops.select_clear(
        store, dag, found, named, downstream=downstream, upstream=upstream, failed_only=failed_only
    )
    if not chosen:
        click.echo(f"nothing to clear in {dag_id} run {found.run_id}")
        return
    dags = app.registry.dags
    marked = "".join(
        f"; through a marker, {len(m.task_ids)} tasks of {m.dag.dag_id} run {m.run.run_id}: {', '.join(m.task_ids)}"
        for m in ops.marked_clears(store, dags, dag, found, chosen, failed_only=failed_only)
    )
    if not yes:
        click.confirm(
            f"clear {len(chosen)} tasks of {dag_id} run {found.run_id}: {', '.join(chosen)}{marked}?", abort=True
        )
    cleared = ops.clear(
        store,
        dag,
        found,
        named,
        downstream=downstream,
        upstream=upstream,
        failed_only=failed_only,
        now=time.time(),
        dags=dags,
    )
    click.echo(
        f"cleared {len(cleared)} tasks of {dag_id} run {found.run_id}: {', '.join(cleared) or '-'}{marked}; "
        + scheduler_effect(app)
    )


@main.command()
@click.argument("dag_id")
@click.argument("run")
@pass_ctx
def retry(app: Context, dag_id: str, run: str) -> None:
    """Run the failed tasks of RUN again, and the tasks that were skipped or not run because of them."""
    from .. import operations as ops

    dag, store, found = resolve_run(app, dag_id, run)
    cleared = ops.retry(store, dag, found, time.time())
    if not cleared:
        click.echo(f"no failed tasks in {dag_id} run {found.run_id} ({found.state.value})")
        return
    click.echo(
        f"retrying {len(cleared)} tasks of {dag_id} run {found.run_id}: {', '.join(cleared)}; " + scheduler_effect(app)
    )


@main.command()
@click.argument("dag_id")
@click.argument("run")
@click.argument("task_id", metavar="TASK")
@click.argument("state", type=click.Choice(["success", "failed", "skipped"]))
@pass_ctx
def mark(app: Context, dag_id: str, run: str, task_id: str, state: str) -> None:
    """Set TASK of RUN to success, failed or skipped (a running try is killed).

    Marking success or skipped clears the failed tasks downstream, so the run goes on. If the task
    changed meanwhile (a scheduler or another command got there first), nothing is set and it exits 1.
    """
    from .. import operations as ops

    dag, store, found = resolve_run(app, dag_id, run)
    ops.mark_task(store, dag, found, task_id, state, time.time())
    click.echo(f"marked {dag_id}.{task_id} {state} in run {found.run_id}; " + scheduler_effect(app))


@main.command("mark-run")
@click.argument("dag_id")
@click.argument("run")
@click.argument("state", type=click.Choice(["success", "failed"]))
@pass_ctx
def mark_run(app: Context, dag_id: str, run: str, state: str) -> None:
    """Finish RUN as success or failed; its unfinished tasks are set to match (running tries are killed)."""
    from .. import operations as ops

    dag, store, found = resolve_run(app, dag_id, run)
    ops.mark_run(store, dag, found, state, time.time())
    click.echo(f"marked {dag_id} run {found.run_id} {state}; " + scheduler_effect(app))


@main.command()
@click.argument("dag_id")
@pass_ctx
def pause(app: Context, dag_id: str) -> None:
    """Pause a DAG: no new runs or tries start; running tries finish."""
    from .. import operations as ops

    ops.set_paused(app.store(), app.dag(dag_id).dag_id, True)
    click.echo(f"paused {dag_id}; " + scheduler_effect(app))


@main.command()
@click.argument("dag_id")
@pass_ctx
def unpause(app: Context, dag_id: str) -> None:
    """Unpause a DAG: its schedule fires again and its queued runs start."""
    from .. import operations as ops

    ops.set_paused(app.store(), app.dag(dag_id).dag_id, False)
    click.echo(f"unpaused {dag_id}; " + scheduler_effect(app))


@main.group()
def db() -> None:
    """Look after the state file: prune old runs, check it."""


@db.command()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="DURATION",
    help='Delete finished runs that ended longer ago than this ("90d", "12h").',
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option("Print what was deleted as JSON (needs --yes: JSON output cannot ask).")
@pass_ctx
def prune(app: Context, older_than: str, yes: bool, as_json: bool) -> None:
    """Delete old finished runs with their tasks, tries, results and log folders."""
    from dataclasses import asdict

    from .. import operations as ops

    if older_than.strip().replace(".", "", 1).isdigit():  # a bare number would be seconds: too easy to misread
        raise ConfigError(f"--older-than {older_than} needs a unit", hint=f'write e.g. "{older_than}d" for days')
    if as_json and not yes:
        raise ConfigError("db prune --json cannot ask for confirmation", hint="add --yes")
    seconds = parse_duration(older_than, name="--older-than")
    store = app.store()
    now = time.time()
    preview = ops.prune(app.settings, store, seconds, now, dry_run=True)
    if as_json:
        done = ops.prune(app.settings, store, seconds, now) if preview.runs else preview
        click.echo(json.dumps({"older_than": older_than, **asdict(done), "dry_run": False}, indent=2))
        return
    if not preview.runs:
        click.echo(f"no finished runs older than {older_than}")
        return
    what = (
        f"{preview.runs} runs ({preview.task_instances} task instances, {preview.attempts} tries) older than "
        f"{older_than}"
    )
    if not yes:
        click.confirm(f"delete {what} and their logs?", abort=True)
    done = ops.prune(app.settings, store, seconds, now)
    click.echo(
        f"deleted {done.runs} runs, {done.task_instances} task instances, {done.attempts} tries and "
        f"{done.log_folders} log folders"
    )


@db.command("check")
@click.option("--full", is_flag=True, help="Read every page (SQLite integrity_check): slower, more thorough.")
@json_option("Print the problems found as JSON.")
@pass_ctx
def check_db(app: Context, full: bool, as_json: bool) -> None:
    """Check the state file; exit 1 if there are problems."""
    import sqlite3

    from .. import operations as ops
    from ..errors import MinorchError
    from ..store import Store

    path = app.settings.db_path
    if not path.exists():
        raise ConfigError(f"no state file at {path}", hint="`minorch up` or `minorch run` creates it")
    try:
        problems = ops.check(app.settings, Store(path, readonly=True), full=full)
    except (MinorchError, sqlite3.DatabaseError) as err:  # damaged beyond opening: a problem found, not a usage error
        problems = [str(err)]
    if as_json:
        click.echo(json.dumps({"state_file": str(path), "ok": not problems, "problems": problems}, indent=2))
        sys.exit(1 if problems else 0)
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{path}: no problems found")
