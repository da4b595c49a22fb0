"""The `minorch` command. Each command parses, calls one core function, formats the result.

Heavy modules (Textual, the scheduler) are imported inside the commands that need them, so
`minorch validate` and friends start fast. User errors print one line to stderr and exit 2;
a failed run or check exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import MinorchError


class Context:
    """What every command needs, loaded on first use: settings, DAGs, the store."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings = None
        self._registry = None

    @property
    def settings(self):
        if self._settings is None:
            from .config import load_settings
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def registry(self):
        if self._registry is None:
            from .registry import load
            self._registry = load(self.settings)
        return self._registry

    def dag(self, dag_id: str):
        from .errors import NotFound, did_you_mean
        found = self.registry.dags.get(dag_id)
        if found is None:
            broken = [e for e in self.registry.errors if f"'{dag_id}'" in e.message or dag_id in (e.file or "")]
            if broken:
                raise NotFound(f"DAG '{dag_id}' did not load: {broken[0]}")
            raise NotFound(f"no DAG '{dag_id}'", hint=did_you_mean(dag_id, self.registry.dags)
                           or "`minorch dags` lists them")
        return found

    def store(self, *, readonly: bool = False):
        from .store import Store
        return Store(self.settings.db_path, readonly=readonly)


pass_ctx = click.make_pass_decorator(Context)


class MinorchGroup(click.Group):
    """Turns MinorchError into one line on stderr and its exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        import sqlite3
        try:
            return super().invoke(ctx)
        except MinorchError as err:
            click.echo(f"minorch: error: {err}", err=True)
            sys.exit(err.exit_code)
        except sqlite3.DatabaseError as err:  # a state file damaged after it was opened
            from .store import unusable
            click.echo(f"minorch: error: {unusable(ctx.obj.settings.db_path, err)}", err=True)
            sys.exit(2)


@click.group(cls=MinorchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config", metavar="PATH", envvar="MINORCH_CONFIG",
              help="minorch.toml to use (default: $MINORCH_CONFIG, or the nearest minorch.toml upwards).")
@click.version_option(package_name="minorch")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """minorch: DAGs of tasks with cron schedules, retries and timeouts, in one process and one SQLite file."""
    ctx.obj = Context(config)


# ---------------------------------------------------------------- setup and checks

HELLO_TOML = '''# A first DAG. Run it with `minorch run hello`, or start the scheduler with `minorch up`.
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
'''

INIT_TOML = '''# minorch settings. DAGs live in the folders named by dag_folders (TOML or Python files).
[minorch]
state_dir = ".minorch"      # minorch.db and logs/
dag_folders = ["dags"]
timezone = "UTC"            # default timezone of schedules
parallelism = 8             # task processes at once

[minorch.pools]             # named pools limit tasks that share a resource
# db = 2

[defaults]                  # defaults for every task; a DAG or task may override them
retries = 0
retry_delay = "5m"
timeout = "1h"
'''


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(folder: Path) -> None:
    """Create minorch.toml and dags/hello.toml in FOLDER (default: here)."""
    config, hello = folder / "minorch.toml", folder / "dags" / "hello.toml"
    for path in (config, hello):
        if path.exists():
            raise MinorchError(f"{path} already exists", hint="edit it, or run init in an empty folder")
    hello.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(INIT_TOML)
    hello.write_text(HELLO_TOML)
    click.echo(f"created {config} and {hello}\nnext: `minorch validate`, then `minorch run hello` or `minorch up`")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def validate(app: Context, as_json: bool) -> None:
    """Load every DAG file and check it; writes nothing.

    Exit 0 if every DAG is valid, 1 if any DAG file has errors, 2 if minorch.toml itself is wrong.
    """
    from .validate import check_registry, missing_folders
    registry = app.registry
    errors = registry.errors + check_registry(registry)
    warnings = missing_folders(app.settings)
    if as_json:
        click.echo(json.dumps({"ok": not errors, "dags": sorted(registry.dags),
                               "errors": [{"file": e.file, "line": e.line, "message": e.message, "hint": e.hint}
                                          for e in errors], "warnings": warnings}, indent=2))
    else:
        for line in [f"warning: {w}" for w in warnings] + [f"error: {e}" for e in errors]:
            click.echo(line, err=True)
        tasks = sum(len(d.tasks) for d in registry.dags.values())
        click.echo(", ".join(f"{n} {word}{'' if n == 1 else 's'}"
                             for n, word in ((len(registry.dags), "DAG"), (tasks, "task"), (len(errors), "error"))))
    sys.exit(1 if errors else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_ctx
def dags(app: Context, as_json: bool) -> None:
    """List the DAGs: schedule, tasks, paused, next fire, file."""
    from datetime import datetime, timezone

    from .views import dag_summaries
    rows = dag_summaries(app.settings, app.registry, datetime.now(timezone.utc))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(_table(["dag", "schedule", "tasks", "paused", "next run", "file"],
                      [[r["dag_id"], r["schedule"] or "-", r["tasks"], "yes" if r["paused"] else "no",
                        _local_time(r["next_fire"]), r["file"]] for r in rows]))
    for err in app.registry.errors:
        click.echo(f"error: {err}", err=True)


@main.command()
@click.argument("dag_id")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text", show_default=True)
@pass_ctx
def graph(app: Context, dag_id: str, fmt: str) -> None:
    """Print a DAG's tasks and dependencies as text, Graphviz dot or Mermaid."""
    from .views import graph_text
    click.echo(graph_text(app.dag(dag_id), fmt))


@main.command("next")
@click.argument("dag_id")
@click.option("-n", "count", default=10, show_default=True, type=click.IntRange(min=1), help="How many fire times.")
@click.option("--after", metavar="ISO", help="Start after this time (default: now).")
@pass_ctx
def next_(app: Context, dag_id: str, count: int, after: str | None) -> None:
    """Print a DAG's next fire times and the logical dates their runs get."""
    from .views import next_fires
    dag = app.dag(dag_id)
    rows = next_fires(dag, count, after)
    if not rows and dag.schedule.kind in ("none", "reboot"):
        when = "once each time `minorch up` starts" if dag.schedule.kind == "reboot" else "only when triggered"
        click.echo(f"{dag_id} has no timed schedule ({dag.schedule.expr}): it runs {when}")
        return
    click.echo(_table(["fires at (local)", "fires at (UTC)", "logical date"], rows))


# ---------------------------------------------------------------- running

@main.command()
@click.argument("dag_id")
@click.option("--date", "date", metavar="DATE", help="Logical date (YYYY-MM-DD or ISO time); default: now.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set params.KEY for this run.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write a JUnit XML report.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary.")
@pass_ctx
def run(app: Context, dag_id: str, date: str | None, params: tuple[str, ...], as_json: bool, junit: Path | None,
        quiet: bool) -> None:
    """Run one DAG run in the foreground and exit 0 if it succeeded, 1 if it failed.

    Records the run in the same state file as `minorch up`. Ctrl-C kills running tasks,
    records them as failed and exits 130.
    """
    from .foreground import run_foreground
    from .reports import junit_xml, run_json, summary_table
    conf = parse_params(params)
    dag = app.dag(dag_id)
    echo = (lambda line: None) if quiet or as_json else (lambda line: click.echo(line))
    result = run_foreground(app.settings, app.registry, dag, date, conf, echo)
    if junit:
        junit.write_text(junit_xml(result))
    if as_json:
        click.echo(json.dumps(run_json(result), indent=2))
    else:
        click.echo(summary_table(result))
    sys.exit(result.exit_code)


def parse_params(items: tuple[str, ...]) -> dict:
    """--param k=v pairs; values that parse as JSON (numbers, true, lists) keep their type."""
    from .errors import ConfigError
    conf = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r} is not KEY=VALUE", hint="write e.g. --param table=orders")
        try:
            conf[key] = json.loads(value)
        except ValueError:
            conf[key] = value
    return conf


@main.command()
@click.option("--no-ui", is_flag=True, help="Run headless (for systemd and containers), logging to stdout.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_ctx
def up(app: Context, no_ui: bool, log_format: str) -> None:
    """Run the scheduler and the executor (and, on a terminal, the UI) until stopped.

    SIGTERM or SIGINT stops it: no new runs or tries, running tries get the grace period
    (minorch.grace), then they are killed and recorded as failed tries.
    """
    from .daemon import serve
    sys.exit(serve(app.settings, app.registry, ui=not no_ui and sys.stdout.isatty(), log_format=log_format))


@main.command()
@click.argument("dag_id")
@click.option("--date", "date", metavar="DATE", help="Logical date (default: now).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Set params.KEY for this run.")
@pass_ctx
def trigger(app: Context, dag_id: str, date: str | None, params: tuple[str, ...]) -> None:
    """Queue a manual run; a running `minorch up` starts it within a second, else the next one does."""
    from .operations import trigger as trigger_run
    run_id = trigger_run(app.settings, app.dag(dag_id), date, parse_params(params))
    from .operations import scheduler_running
    effect = ("the running scheduler starts it within a second" if scheduler_running(app.settings)
              else "no scheduler is running: the next `minorch up` starts it")
    click.echo(f"queued {dag_id} run {run_id}; {effect}")
    store = app.store(readonly=True)
    try:
        row = store.dag_rows().get(dag_id)
    finally:
        store.close()
    if row is not None and row.paused:
        click.echo(f"warning: {dag_id} is paused: the run waits until `minorch unpause {dag_id}`", err=True)


@main.command("import-crontab")
@click.argument("source", required=False, metavar="[FILE|-]")
@click.option("--system", is_flag=True, help="Lines have a user field (automatic for /etc/crontab and /etc/cron.d/*).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="DAG file to write (default: dags/crontab.toml in the first DAG folder; - for stdout).")
@click.option("--anacron", is_flag=True, help='Run the latest missed fire after downtime (catchup = "latest").')
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@pass_ctx
def import_crontab(app: Context, source: str | None, system: bool, output: Path | None, anacron: bool,
                   force: bool) -> None:
    """Turn a crontab into DAGs: one DAG per line, no overlapping runs, history, retries and alerts.

    FILE defaults to your own crontab (`crontab -l`); - reads standard input.
    """
    from .crontab_import import import_crontab as convert
    written, converted = convert(app, source, system=system, output=output, anacron=anacron, force=force)
    for skipped in converted.skipped:
        click.echo(f"warning: {converted.source}:{skipped.line}: not imported: {skipped.reason}", err=True)
    if written is None:
        return
    click.echo(f"wrote {len(converted.entries)} DAGs to {written}"
               + (f" ({len(converted.skipped)} lines not imported, listed at its top)" if converted.skipped else ""))
    click.echo("next: review it, `minorch validate`, and compare fire times with `minorch next DAG`")


# ---------------------------------------------------------------- helpers


def _local_time(iso_text: str | None) -> str:
    """"2026-11-26T03:30:00+01:00" -> "2026-11-26 03:30 +01:00" (the DAG's own clock, offset shown)."""
    if not iso_text:
        return "-"
    day, clock = iso_text.split("T")
    return f"{day} {clock[:5]} {clock[8:] or '+00:00'}"


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# Commands defined in their own modules register themselves on `main` when imported.
from . import cli_ops  # noqa: E402,F401
from . import cli_ui  # noqa: E402,F401
