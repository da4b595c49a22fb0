"""Assets: `assets`, `assets show`, `asset emit`."""

from __future__ import annotations

import json
import time

import click

from . import Context, limit_range, main, pass_ctx, scheduler_effect, table


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _store(app: Context):
    """The state file to read, or None before anything ran (then there are no events)."""
    if not app.settings.db_path.exists():
        return None
    return app.store(readonly=True)


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def assets(ctx: click.Context, as_json: bool) -> None:
    """List assets: producers, consumers, last event, freshness, what consumers wait for."""
    if ctx.invoked_subcommand is not None:
        return
    from ..asset_catalog import rows

    app: Context = ctx.obj
    found = rows(app.registry, _store(app), time.time())
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in found], indent=2))
        return
    if not found:
        click.echo("no assets (give a task outlets, or declare [assets.NAME] in minorch.toml)")
        return
    lines = []
    for r in found:
        last = f"{_when(r.last.created_at)} ds {r.last.ds} ({r.last.run_id or 'emitted'})" if r.last else "never"
        fresh = "STALE" if r.stale else ("fresh" if r.fresh_within else "-")
        lines.append([r.name, ", ".join(r.producers) or "(external)", ", ".join(r.consumers) or "-", last, fresh])
    click.echo(table(["ASSET", "PRODUCED BY", "CONSUMED BY", "LAST EVENT", "FRESH"], lines))
    waits = [w for r in found for w in r.waits]
    if waits:
        click.echo("\n" + "\n".join(dict.fromkeys(waits)))
    for err in app.registry.errors:
        click.echo(f"error: {err}", err=True)


@assets.command("show")
@click.argument("name")
@click.option("-n", "limit", default=20, show_default=True, type=limit_range(), help="How many events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_ctx
def show(app: Context, name: str, limit: int, as_json: bool) -> None:
    """Show an asset's event history, newest first, with each event's metadata."""
    from ..asset_catalog import history

    events = history(app.registry, _store(app), name, limit)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in events], indent=2))
        return
    if not events:
        click.echo(f"asset '{name}' has no events yet")
        return
    lines = [
        [e.id, _when(e.created_at), e.ds or "-", f"{e.dag_id}.{e.task_id}" if e.dag_id else "emitted",
         e.run_id or "-", json.dumps(e.extra)[:60]]
        for e in events
    ]  # fmt: skip
    click.echo(table(["EVENT", "TIME", "DS", "BY", "RUN", "METADATA"], lines))


@main.group()
def asset() -> None:
    """Act on one asset (emit an event from outside)."""


@asset.command()
@click.argument("name")
@click.option("--ds", metavar="DAY", help="The day the data is for (default: today).")
@click.option("--extra", metavar="JSON", help="Metadata stored with the event, e.g. '{\"rows\": 120}'.")
@pass_ctx
def emit(app: Context, name: str, ds: str | None, extra: str | None) -> None:
    """Record that an asset was updated outside minorch; DAGs waiting for it run."""
    from ..asset_catalog import emit as emit_event

    event_id = emit_event(app.settings, app.registry, name, ds, extra, time.time())
    click.echo(f"asset '{name}': event {event_id} recorded; {scheduler_effect(app)}")
