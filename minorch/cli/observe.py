"""Pictures and numbers: `gantt` (a run's Gantt as text, JSON or SVG) and `metrics` (Prometheus text)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from . import Context, main, pass_ctx, resolve_run


@main.command()
@click.argument("dag_id")
@click.argument("run", default="latest")
@click.option("--json", "as_json", is_flag=True, help="Print the bars, segments and critical path as JSON.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "svg"]), default="text", show_default=True, help="Text or SVG."
)
@click.option("--width", type=click.IntRange(min=40), help="Text width (default: the terminal's).")
@click.option("--copies", is_flag=True, help="Text: list every copy of a mapped task under it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@pass_ctx
def gantt(
    app: Context, dag_id: str, run: str, as_json: bool, fmt: str, width: int | None, copies: bool, output: str | None
) -> None:
    """Draw a run's Gantt chart: one bar per task try on a shared time axis.

    RUN is a run id, a day (2024-01-15), an ISO logical date or `latest` (the default). Bars show
    waiting to start, running and retry delays; `*` marks the critical path (the chain that decided when
    the run ended); the summary compares the run's wall time with the sum of its task times. A run
    still running is drawn up to now.
    """
    from .. import gantt_draw
    from ..views import run_gantt

    dag, store, record = resolve_run(app, dag_id, run, readonly=True)
    try:
        chart = run_gantt(store, dag, record, time.time())
    finally:
        store.close()
    if as_json:
        out = json.dumps(chart.to_dict(), indent=2)
    elif fmt == "svg":
        out = gantt_draw.svg(chart)
    else:
        import shutil

        out = gantt_draw.text(chart, width or shutil.get_terminal_size((100, 24)).columns, copies=copies)
    if output:
        Path(output).write_text(out if out.endswith("\n") else out + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(out.rstrip("\n"))


@main.command()
@click.option(
    "--textfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file atomically (for node_exporter's textfile collector) instead of printing.",
)
@pass_ctx
def metrics(app: Context, textfile: Path | None) -> None:
    """Print the state file's metrics in Prometheus text format.

    The same numbers `minorch up` serves with `metrics_port` and writes with `metrics = "textfile:PATH"`
    (see docs/running.md), read once now; needs prometheus-client (pip install "minorch[metrics]").
    """
    from .. import metrics as m
    from ..operations import scheduler_running

    store = app.store(readonly=True)
    try:
        up = scheduler_running(app.settings)
        data = m.exposition(m.registry(lambda: m.collect(store, up=up, ready=None, now=time.time())))
    finally:
        store.close()
    if textfile is not None:
        m.write_textfile(textfile, data)
    else:
        click.echo(data.decode(), nl=False)
