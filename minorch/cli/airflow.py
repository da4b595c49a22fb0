"""Moving from Airflow: `airflow-check`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import Context, main, pass_ctx, table


@main.command("airflow-check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds one file may take to load.")
@pass_ctx
def airflow_check(app: Context, paths: tuple[Path, ...], as_json: bool, timeout: float) -> None:
    """Check Airflow DAG files before moving them to minorch.

    For each file: whether it loads in minorch unmodified, loads with warnings (arguments minorch
    ignores), or cannot load and why; the Airflow names it uses and those minorch does not have,
    with what to write instead.

    PATHS are files or folders (default: the current folder). Needs no minorch.toml. Exit 0 when
    every file loads, 1 when some cannot.
    """
    from ..airflow_check import check

    reports = check(list(paths) or [Path(".")], timeout)
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps([asdict(r) for r in reports], indent=2))
    else:
        rows = [
            [r.file, r.status, ", ".join(r.dags) or "-", ", ".join(r.used) or "-", ", ".join(r.unsupported) or "-"]
            for r in reports
        ]
        click.echo(table(["file", "status", "DAGs", "Airflow names used", "unsupported"], rows))
        for report in reports:
            for line in report.problems:
                click.echo(line if line.startswith("warning: ") else f"error: {line}", err=True)
        loads = sum(r.status != "cannot load" for r in reports)
        click.echo(f"{loads} of {len(reports)} files load in minorch")
    sys.exit(0 if all(r.status != "cannot load" for r in reports) else 1)
