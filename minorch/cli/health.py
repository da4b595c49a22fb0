"""Monitoring: `status`."""

from __future__ import annotations

import json
import sys

import click

from . import Context, json_option, main, pass_ctx


@main.command()
@json_option("Print the status as JSON.")
@pass_ctx
def status(app: Context, as_json: bool) -> None:
    """Say whether a scheduler runs for this project; exit 0 if healthy, 1 if not.

    Healthy: a `minorch up` holds the state file and every DAG file loads. Also shows the
    DAG count, load errors, the tries running now and the latest failed try.
    """
    from ..health import status as health

    report = health(app.settings, app.registry)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        sys.exit(0 if report["healthy"] else 1)
    scheduler = report["scheduler"]
    if scheduler is None:
        click.echo("scheduler: not running (start it with `minorch up`)")
    else:
        version = f", version {scheduler['version']}" if scheduler["version"] else ""
        click.echo(f"scheduler: {scheduler['what']}, pid {scheduler['pid']}, since {scheduler['since']}{version}")
        if scheduler["what"] != "minorch up":
            click.echo("  (a foreground run works on its own run only; scheduled runs wait for `minorch up`)")
    click.echo(f"state file: {report['state_file']}")
    click.echo(f"DAGs: {report['dags']}, load errors: {len(report['load_errors'])}")
    for error in app.registry.errors:
        click.echo(f"  error: {error}")
    click.echo(f"running tries: {len(report['running_tries'])}")
    for t in report["running_tries"]:
        click.echo(f"  {t['dag_id']}.{t['task_id']} try {t['try_number']} (pid {t['pid']}) since {t['since']}")
    failure = report["last_failure"]
    if failure:
        click.echo(
            f"last failure: {failure['dag_id']}.{failure['task_id']} try {failure['try_number']} of run "
            f"{failure['run_id']} at {failure['ended']}: {failure['reason'] or 'failed'}"
        )
    click.echo("healthy" if report["healthy"] else "NOT healthy")
    sys.exit(0 if report["healthy"] else 1)
