"""The `minorch` command: the click group, what every command shares, and one module per family
of commands (project, inspect, observe, run, ops, secrets, ui, assets, health, worker, airflow), which
import only this module, never each other.

Heavy modules (Textual, the scheduler) are imported inside the commands that need them, so
`minorch validate` and friends start fast. User errors print one line to stderr and exit 2;
a failed run or check exits 1. A command given --json also writes its errors as one JSON
object on stdout: ``{"error": {"message": ..., "hint": ..., "file": ..., "line": ..., "exit_code": 2}}``.
"""

from __future__ import annotations

import json
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


class MinorchGroup(click.Group):
    """Turns MinorchError into one line on stderr and its exit code, never a traceback."""

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


# Each family registers its commands on `main` when imported.
from . import airflow, assets, health, inspect, observe, ops, project, run, secrets, ui, worker  # noqa: E402,F401
