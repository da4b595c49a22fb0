"""Running: `run` (one run in the foreground), `up` (the scheduler), `trigger`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from . import Context, json_option, main, parse_conf, pass_ctx, scheduler_effect


@main.command()
@click.argument("dag_id")
@click.option("--date", "date", metavar="DATE", help="Logical date (YYYY-MM-DD or ISO time); default: now.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set params.KEY for this run.")
@click.option("--conf", "conf_json", metavar="JSON", help='The run\'s conf as a JSON object: \'{"region": "eu"}\'.')
@json_option("Print the result as JSON instead of a table.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write a JUnit XML report.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary.")
@pass_ctx
def run(
    app: Context,
    dag_id: str,
    date: str | None,
    params: tuple[str, ...],
    conf_json: str | None,
    as_json: bool,
    junit: Path | None,
    quiet: bool,
) -> None:
    """Run one DAG run in the foreground and exit 0 if it succeeded, 1 if it failed.

    Records the run in the same state file as `minorch up`. Ctrl-C kills running tasks,
    records them as failed and exits 130. After a failure, each failed task's reason and
    the last lines of its log go to stderr (with --json: its `log_tail`).
    """
    from ..foreground import run_foreground
    from ..reports import failure_report, junit_xml, run_json, summary_table

    conf = parse_conf(conf_json, params)
    dag = app.dag(dag_id)
    if junit:
        _check_writable(junit)
    echo = (lambda line: None) if quiet or as_json else (lambda line: click.echo(line))
    result = run_foreground(app.settings, app.registry, dag, date, conf, echo)
    if junit:
        try:
            junit.write_text(junit_xml(result))
        except OSError as err:
            click.echo(f"minorch: error: cannot write --junit {junit}: {err.strerror}", err=True)
    if as_json:
        click.echo(json.dumps(run_json(result), indent=2))
    else:
        click.echo(summary_table(result))
        if result.exit_code == 1:
            click.echo(failure_report(result), err=True)
    sys.exit(result.exit_code)


def _check_writable(path: Path) -> None:
    """Refuse a --junit path the report could not be written to, before anything runs."""
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "is not writable"
    elif not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        problem = f"{folder} is not writable"
    else:
        return
    raise ConfigError(f"--junit {path}: {problem}", hint="give a file in a writable folder")


@main.command()
@click.option("--no-ui", is_flag=True, help="Run headless (for systemd and containers), logging to stdout.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--dask-local",
    type=click.IntRange(1, 64),
    metavar="N",
    help="Start a local Dask cluster with N workers for this run of `up` (tasks default to executor = dask).",
)
@pass_ctx
def up(app: Context, no_ui: bool, log_format: str, dask_local: int | None) -> None:
    """Run the scheduler and the executor (and, on a terminal, the UI) until stopped.

    SIGTERM or SIGINT stops it: no new runs or tries, running tries get the grace period
    (minorch.grace). Tries still running then keep running and the next start adopts them
    (minorch.on_restart = "adopt", the default); with on_restart = "kill" they are killed and
    recorded as interrupted: they run again at the next start, not counted against retries.
    """
    settings, cluster = app.settings, None
    if dask_local:
        from dataclasses import replace

        from ..config import DaskSettings
        from ..executors.local_cluster import LocalCluster

        cluster = LocalCluster(settings.state_dir / "dask-local", dask_local, cwd=settings.root)
        address = cluster.start()
        lost_after = settings.dask.worker_lost_after if settings.dask else 30.0
        settings = replace(settings, executor="dask", dask=DaskSettings(address, worker_lost_after=lost_after))
        click.echo(f"local Dask cluster at {address}: {dask_local} workers (logs in {cluster.folder})", err=True)
    try:
        if no_ui or not sys.stdout.isatty():
            from ..daemon import serve

            code = serve(settings, app.registry, log_format=log_format)
        else:
            from ..tui.host import serve as serve_with_ui

            code = serve_with_ui(settings, app.registry)
    finally:
        if cluster is not None:
            cluster.stop()
    sys.exit(code)


@main.command()
@click.argument("dag_id")
@click.option("--date", "date", metavar="DATE", help="Logical date (default: now).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set params.KEY for this run.")
@click.option("--conf", "conf_json", metavar="JSON", help='The run\'s conf as a JSON object: \'{"region": "eu"}\'.')
@json_option("Print the queued run as JSON.")
@pass_ctx
def trigger(
    app: Context, dag_id: str, date: str | None, params: tuple[str, ...], conf_json: str | None, as_json: bool
) -> None:
    """Queue a manual run; a running `minorch up` starts it within a second, else the next one does."""
    from ..operations import scheduler_holder
    from ..operations import trigger as trigger_run

    run_id = trigger_run(app.settings, app.dag(dag_id), date, parse_conf(conf_json, params))
    holder = scheduler_holder(app.settings)
    store = app.store(readonly=True)
    try:
        row = store.dag_rows().get(dag_id)
    finally:
        store.close()
    paused = row is not None and row.paused
    if as_json:
        record = {
            "dag_id": dag_id,
            "run_id": run_id,
            "paused": paused,
            "scheduler": None if holder is None else {"pid": holder.pid, "what": holder.what, "since": holder.since},
        }
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"queued {dag_id} run {run_id}; {scheduler_effect(app, 'starts it')}")
    if paused:
        click.echo(f"warning: {dag_id} is paused: the run waits until `minorch unpause {dag_id}`", err=True)
