"""Starting a project: `init`, `import-crontab`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import MinorchError
from . import Context, main, pass_ctx

HELLO_TOML = """# A first DAG. Run it with `minorch run hello`, or start the scheduler with `minorch up`.
[dags.hello]
schedule = "*/5 * * * *"
description = "Says hello every five minutes"
retries = 1
retry_delay = "30s"

[dags.hello.tasks.greet]
command = "echo 'hello from {{ dag_id }} for {{ ds }}'"

[dags.hello.tasks.count]
command = "ls -1 | wc -l"
after = ["greet"]
"""

INIT_TOML = """# minorch settings. DAGs live in the folders named by dag_folders (TOML or Python files).
[minorch]
state_dir = ".minorch"      # minorch.db and logs/
dag_folders = ["dags"]
timezone = "UTC"            # default timezone of schedules
parallelism = 8             # task processes at once
task_env = "clean"          # tasks get a minimal environment, not the scheduler's (see docs/secrets.md)
env_passthrough = []        # names (or globs) of the scheduler's variables tasks still get, e.g. ["AWS_PROFILE"]

[minorch.pools]             # named pools limit tasks that share a resource
# db = 2

[defaults]                  # defaults for every task; a DAG or task may override them
retries = 0
retry_delay = "5m"
timeout = "1h"
"""


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(folder: Path) -> None:
    """Create minorch.toml and dags/hello.toml in FOLDER (default: here)."""
    config, hello = folder / "minorch.toml", folder / "dags" / "hello.toml"
    if folder.exists() and not folder.is_dir():
        raise MinorchError(f"{folder} is not a folder", hint="name a folder (it is created if missing)")
    for path in (config, hello):
        if path.exists():
            raise MinorchError(f"{path} already exists", hint="edit it, or run init in an empty folder")
    try:
        hello.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(INIT_TOML)
        hello.write_text(HELLO_TOML)
    except OSError as err:
        where = err.filename or folder
        raise MinorchError(f"cannot create {where}: {err.strerror}", hint="choose a folder you can write to") from None
    click.echo(f"created {config} and {hello}\nnext: `minorch validate`, then `minorch run hello` or `minorch up`")


@main.command("import-crontab")
@click.argument("source", required=False, metavar="[FILE|-]")
@click.option("--system", is_flag=True, help="Lines have a user field (automatic for /etc/crontab and /etc/cron.d/*).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="DAG file to write (default: dags/crontab.toml in the first DAG folder; - for stdout).",
)
@click.option("--anacron", is_flag=True, help='Run the latest missed fire after downtime (catchup = "latest").')
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Retry a failed job N times (cron never does).",
)
@click.option("--retry-delay", default="5m", show_default=True, metavar="DURATION", help="Wait before a retry.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@pass_ctx
def import_crontab(
    app: Context,
    source: str | None,
    system: bool,
    output: Path | None,
    anacron: bool,
    retries: int,
    retry_delay: str,
    force: bool,
) -> None:
    """Turn a crontab into DAGs: one DAG per line, no overlapping runs, history and alerts.

    FILE defaults to your own crontab (`crontab -l`); - reads standard input. The output's
    suffix picks the format: .toml, or .py for a DAG file using the Python API. Imported DAGs
    have no timeout, whatever minorch.toml's [defaults] say: cron never kills a job. Exits 1
    if no line could be imported (and then writes no file).
    """
    from ..crontab_import import import_crontab as convert
    from ..durations import parse_duration

    delay = parse_duration(retry_delay, name="--retry-delay")
    written, converted = convert(
        app,
        source,
        system=system,
        output=output,
        anacron=anacron,
        force=force,
        retries=retries,
        retry_delay=delay,
    )
    for skipped in converted.skipped:
        click.echo(f"warning: {converted.source}:{skipped.line}: not imported: {skipped.reason}", err=True)
    if not converted.entries:
        click.echo(f"minorch: error: {converted.source}: no cron entry could be imported", err=True)
        sys.exit(1)
    if written is None:
        return
    click.echo(
        f"wrote {len(converted.entries)} DAGs to {written}"
        + (f" ({len(converted.skipped)} lines not imported, listed at its top)" if converted.skipped else "")
    )
    click.echo("next: review it, `minorch validate`, and compare fire times with `minorch next DAG`")
