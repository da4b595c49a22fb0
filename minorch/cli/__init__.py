"""The `minorch` command: the click group, what every command shares, and one module per family
of commands (project, inspect, observe, run, ops, secrets, ui, assets, health, worker, airflow), which
import only this module, never each other.

A family's module is imported only when one of its commands runs (or its own --help is asked
for): `COMMANDS` names each command's module and the summary `minorch --help` shows, so the
group's help imports no command module at all. Heavy modules (Textual, the scheduler) are
imported inside the commands that need them, so `minorch validate` and friends start fast.

User errors print one line to stderr and exit 2; a failed run or check exits 1. A command
given --json also writes its errors as one JSON object on stdout:
``{"error": {"message": ..., "hint": ..., "file": ..., "line": ..., "exit_code": 2}}``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import click

from ..errors import MinorchError


class Context:
    """What every command needs, loaded on first use: settings, DAGs, the store."""

    def __init__(self, config: str | None, env: str | None = None) -> None:
        self.config = config
        self.env = env
        self.json_errors = False  # set by --json: errors go to stdout as JSON too
        self._settings = None
        self._registry = None

    @property
    def settings(self):
        if self._settings is None:
            from ..config import load_settings

            self._settings = load_settings(self.config, env=self.env)
        return self._settings

    @property
    def registry(self):
        if self._registry is None:
            from ..registry import load

            self._registry = load(self.settings)
        return self._registry

    @property
    def listed_registry(self):
        """The registry for commands that only list: Python DAG files unchanged since the last
        listing are not imported again (`registry.load(cached=True)`)."""
        if self._registry is None:
            from ..registry import load

            self._registry = load(self.settings, cached=True)
        return self._registry

    def dag(self, dag_id: str):
        from ..errors import NotFound, did_you_mean

        found = self.registry.dags.get(dag_id)
        if found is None:
            broken = [e for e in self.registry.errors if f"'{dag_id}'" in e.message or dag_id in (e.file or "")]
            if broken:
                raise NotFound(f"DAG '{dag_id}' did not load: {broken[0]}")
            raise NotFound(
                f"no DAG '{dag_id}'", hint=did_you_mean(dag_id, self.registry.dags) or "`minorch dags` lists them"
            )
        return found

    def store(self, *, readonly: bool = False):
        from ..store import Store

        return Store(self.settings.db_path, readonly=readonly)


pass_ctx = click.make_pass_decorator(Context)

MAX_LIMIT = 1_000_000  # rows a listing (--limit, -n) shows at most; also above any try number or map index


def limit_range(low: int = 1) -> click.IntRange:
    """A count or number compared in SQL: up to MAX_LIMIT, so an oversized one is a usage error
    in one line, not SQLite's integer overflow."""
    return click.IntRange(min=low, max=MAX_LIMIT)


# Every command of `main`: its family's module and the summary `minorch --help` shows (the first
# sentence of its help; tests/test_cli_basics.py checks both against the commands themselves).
COMMANDS: dict[str, tuple[str, str]] = {
    "airflow-check": ("airflow", "Check Airflow DAG files before moving them to minorch."),
    "asset": ("assets", "Act on one asset (emit an event from outside)."),
    "assets": ("assets", "List assets: producers, consumers, last event, freshness, what consumers wait for."),
    "backfill": ("ops", "Create one run per logical date the DAG's schedule yields from --start to --end."),
    "clear": ("ops", "Run tasks of RUN again (all tasks if none are named): fresh retries, results dropped."),
    "conn": ("secrets", "Connections: [connections.NAME] in minorch.toml, the state file, $MINORCH_CONN_<NAME>."),
    "dags": ("inspect", "List the DAGs: schedule, tasks, paused, next fire, file."),
    "db": ("ops", "Look after the state file: prune old runs, check it."),
    "gantt": ("observe", "Draw a run's Gantt chart: one bar per task try on a shared time axis."),
    "graph": ("inspect", "Print a DAG's tasks and dependencies as text, Graphviz dot or Mermaid."),
    "import-crontab": (
        "project",
        "Turn a crontab into DAGs: one DAG per line, no overlapping runs, history and alerts.",
    ),
    "init": ("project", "Create minorch.toml and dags/hello.toml in FOLDER (default: here)."),
    "logs": ("inspect", "Print the log of a try of TASK in RUN."),
    "mark": ("ops", "Set TASK of RUN to success, failed or skipped (a running try is killed)."),
    "mark-run": (
        "ops",
        "Finish RUN as success or failed; its unfinished tasks are set to match (running tries are killed).",
    ),
    "metrics": ("observe", "Print the state file's metrics in Prometheus text format."),
    "next": (
        "inspect",
        "Print a DAG's next fire times and the logical dates their runs get (from its start_date on, up to its "
        "end_date).",
    ),
    "pause": ("ops", "Pause a DAG: no new runs or tries start; running tries finish."),
    "retry": ("ops", "Run the failed tasks of RUN again, and the tasks that were skipped or not run because of them."),
    "run": ("run", "Run one DAG run in the foreground and exit 0 if it succeeded, 1 if it failed."),
    "runs": ("inspect", "List a DAG's runs, newest first: state, logical date, start, duration, task states."),
    "status": ("health", "Say whether a scheduler runs for this project; exit 0 if healthy, 1 if not."),
    "tasks": ("inspect", "The tasks of a run: list them (the default: `minorch tasks DAG RUN`), or test one."),
    "trigger": ("run", "Queue a manual run; a running `minorch up` starts it within a second, else the next one does."),
    "ui": ("ui", "Open the terminal UI: DAGs, runs, graphs, logs; trigger, clear, retry, mark, backfill, pause."),
    "unpause": ("ops", "Unpause a DAG: its schedule fires again and its queued runs start."),
    "up": ("run", "Run the scheduler and the executor (and, on a terminal, the UI) until stopped."),
    "validate": ("inspect", "Load every DAG file and check it; writes nothing."),
    "var": ("secrets", "Variables: [variables] in minorch.toml, the state file, $MINORCH_VAR_<NAME>."),
    "worker": ("worker", 'Run tries sent by `minorch up` with executor = "dask", on this host.'),
}


class MinorchGroup(click.Group):
    """Loads each command's module when the command is used (see `COMMANDS`), and turns
    MinorchError into one line on stderr and its exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f".{COMMANDS[cmd_name][0]}", __name__)  # its module registers it on `main`
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's list of commands, from the summaries in `COMMANDS`: no command module is imported."""
        width = max(len(name) for name in COMMANDS)
        limit = formatter.width - 6 - width  # as click.Group shortens them
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context):
        import sqlite3

        try:
            return super().invoke(ctx)
        except MinorchError as err:
            fail(ctx.obj, err)
        except sqlite3.DatabaseError as err:  # a state file damaged after it was opened
            from ..store import unusable

            fail(ctx.obj, unusable(ctx.obj.settings.db_path, err))
        except click.UsageError as err:
            if ctx.obj is None or not ctx.obj.json_errors:
                raise
            fail(ctx.obj, MinorchError(err.format_message(), hint="see --help"))


def fail(app: Context | None, err: MinorchError) -> None:
    """Report `err` (one line on stderr; also a JSON object on stdout after --json) and exit."""
    import json

    click.echo(f"minorch: error: {err}", err=True)
    if app is not None and app.json_errors:
        error = {"message": err.message, "hint": err.hint, "file": err.file, "line": err.line}
        click.echo(json.dumps({"error": {**error, "exit_code": err.exit_code}}, indent=2))
    sys.exit(err.exit_code)


@click.group(cls=MinorchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    "config",
    metavar="PATH",
    envvar="MINORCH_CONFIG",
    help="minorch.toml to use (default: $MINORCH_CONFIG, or the nearest minorch.toml upwards).",
)
@click.option(
    "--env",
    "env",
    metavar="NAME",
    envvar="MINORCH_ENV",
    help="Environment: layer minorch.NAME.toml over minorch.toml (default: $MINORCH_ENV).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: show_version(ctx) if value else None,
    help="Show the versions of minorch, Python and SQLite, and exit.",
)
@click.pass_context
def main(ctx: click.Context, config: str | None, env: str | None) -> None:
    """minorch: DAGs of tasks with cron schedules, retries and timeouts, in one process and one SQLite file."""
    ctx.obj = Context(config, env or None)


# ---------------------------------------------------------------- shared helpers


def show_version(ctx: click.Context) -> None:
    """`minorch 0.1.0 (Python 3.11.7, SQLite 3.40.1)`: what a bug report needs first."""
    import platform
    import sqlite3

    from .. import __version__

    click.echo(f"minorch {__version__} (Python {platform.python_version()}, SQLite {sqlite3.sqlite_version})")
    ctx.exit()


def json_option(help_text: str = "Print the result as JSON (errors too).") -> Callable:
    """--json: the command prints JSON, and its errors become a JSON object on stdout as well."""

    def remember(ctx: click.Context, param, value: bool) -> bool:
        if value and ctx.obj is not None:
            ctx.obj.json_errors = True
        return value

    return click.option("--json", "as_json", is_flag=True, is_eager=True, callback=remember, help=help_text)


def parse_params(items: tuple[str, ...]) -> dict:
    """--param k=v pairs; values that parse as JSON (numbers, true, lists) keep their type."""
    import json

    from ..errors import ConfigError

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


def parse_conf(conf_json: str | None, params: tuple[str, ...]) -> dict:
    """A run's conf: the --conf JSON object, with --param KEY=VALUE pairs over it."""
    import json

    from ..errors import ConfigError

    conf = {}
    if conf_json is not None:
        try:
            conf = json.loads(conf_json)
        except ValueError as e:
            raise ConfigError(f"--conf is not JSON: {e}", hint='write e.g. --conf \'{"region": "eu"}\'') from None
        if not isinstance(conf, dict):
            raise ConfigError("--conf must be a JSON object", hint='write e.g. --conf \'{"region": "eu"}\'')
    return {**conf, **parse_params(params)}


def scheduler_effect(app: Context, verb: str = "acts on it") -> str:
    """What happens next to a change in the state file: who will pick it up, and when."""
    from .. import operations

    holder = operations.scheduler_holder(app.settings)
    if holder is None:
        return f"no scheduler is running: the next `minorch up` {verb}"
    if holder.is_up:
        return f"the running scheduler {verb} within a second"
    return (
        f"only a foreground `{holder.what}` (pid {holder.pid}) is running, and it works on its own run only: "
        f"the next `minorch up` {verb}"
    )


def resolve_run(app: Context, dag_id: str, ref: str, *, readonly: bool = False):
    from .. import operations

    dag = app.dag(dag_id)
    store = app.store(readonly=readonly)
    return dag, store, operations.resolve_run(store, dag, ref)


def local_time(iso_text: str | None) -> str:
    """ "2026-11-26T03:30:00+01:00" -> "2026-11-26 03:30 +01:00" (the DAG's own clock, offset shown)."""
    if not iso_text:
        return "-"
    day, clock = iso_text.split("T")
    return f"{day} {clock[:5]} {clock[8:] or '+00:00'}"


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
