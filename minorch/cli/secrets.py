"""Variables and connections: `var set/get/list/delete`, `conn add/get/list/delete/test`.

Values marked secret are never printed (``***``) unless `get --reveal` asks for one, and
never written to the state file: a secret literal goes to the OS keyring and the state
file keeps the reference.
"""

from __future__ import annotations

import json

import click

from . import Context, main, pass_ctx, table


def _project(app: Context):
    from ..variables import project_resolver

    return project_resolver(app.settings)


@main.group()
def var() -> None:
    """Variables: [variables] in minorch.toml, the state file, $MINORCH_VAR_<NAME>."""


@var.command("set")
@click.argument("name")
@click.argument("value", required=False)
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON (a number, a list, an object).")
@click.option("--secret", is_flag=True, help="Mask it everywhere; the value goes to the OS keyring.")
@click.option("--file", "file", metavar="PATH", help="Read the value from this file when a try asks for it.")
@click.option("--cmd", "cmd", metavar="COMMAND", help="Run this command when a try asks; its output is the value.")
@click.option("--env", "env", metavar="NAME", help="Read the scheduler's environment variable NAME.")
@click.option("--keyring", "keyring", metavar="SERVICE/USERNAME", help="Read this entry of the OS keyring.")
@pass_ctx
def var_set(app: Context, name: str, value: str | None, as_json: bool, secret: bool, **refs: str | None) -> None:
    """Store variable NAME: a VALUE (prompted for, hidden, when left out), or a reference.

    A secret value (--secret, or a name like *password*, *token*, *key*) is kept in the OS
    keyring (`pip install "minorch[keyring]"`), never in the state file.
    """
    from ..errors import ConfigError
    from ..variables import save_variable

    given = {kind: ref for kind, ref in refs.items() if ref}
    if len(given) + (value is not None) > 1:
        raise ConfigError("give either a VALUE or one of --file, --cmd, --env, --keyring")
    if given:
        raw: object = dict(given)
    else:
        if value is None:
            value = click.prompt(f"value of {name}", hide_input=True, err=True)
        raw = value
        if as_json:
            try:
                raw = json.loads(value)
            except ValueError as err:
                raise ConfigError(
                    f"--json: VALUE is not JSON ({err})", hint="quote it for the shell: '{\"a\": 1}'"
                ) from None
        raw = {"value": raw}
    source = save_variable(app.settings, app.store(), name, raw, secret=secret)
    click.echo(f"variable {name} = {source.describe()}")


@var.command("get")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the value as JSON.")
@click.option("--reveal", is_flag=True, help="Print a secret value instead of ***.")
@pass_ctx
def var_get(app: Context, name: str, as_json: bool, reveal: bool) -> None:
    """Resolve variable NAME and print its value (a secret one as *** unless --reveal)."""
    from ..secrets import text_of

    resolver = _project(app)
    value = resolver.variable(name)
    if resolver.secrets and not reveal:
        value = "***"
    click.echo(json.dumps(value) if as_json else text_of(value))


@var.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def var_list(app: Context, as_json: bool) -> None:
    """List the variables, where each is defined and its value (secret ones as ***; nothing is resolved)."""
    from ..variables import listing

    rows = listing(_project(app).catalog, "var")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(table(["name", "value", "defined in"], [[r["name"], r["value"], r["origin"]] for r in rows]))


@var.command("delete")
@click.argument("name")
@pass_ctx
def var_delete(app: Context, name: str) -> None:
    """Delete variable NAME from the state file (not from minorch.toml or the keyring)."""
    from ..errors import NotFound

    if not app.store().delete_definition("variables", name):
        raise NotFound(f"no variable '{name}' in the state file", hint="`minorch var list` says where each is defined")
    click.echo(f"deleted variable {name}")


@main.group()
def conn() -> None:
    """Connections: [connections.NAME] in minorch.toml, the state file, $MINORCH_CONN_<NAME>."""


@conn.command("add")
@click.argument("name")
@click.option("--uri", metavar="URI", help="e.g. postgresql://user@host:5432/db")
@click.option("--conn-type", metavar="TYPE")
@click.option("--host", metavar="HOST")
@click.option("--port", type=int, metavar="PORT")
@click.option("--login", metavar="USER")
@click.option("--password", metavar="PASSWORD", help="Kept in the OS keyring; prefer --password-file/-cmd/-env.")
@click.option("--schema", metavar="SCHEMA")
@click.option("--extra", metavar="JSON", help='Extra fields as a JSON object, e.g. \'{"sslmode": "require"}\'.')
@click.option("--password-file", metavar="PATH", help="Read the password from this file when a try asks.")
@click.option("--password-cmd", metavar="COMMAND", help="Run this command when a try asks; its output is the password.")
@click.option("--password-env", metavar="NAME", help="Read the password from the scheduler's environment variable.")
@click.option("--password-keyring", metavar="SERVICE/USERNAME", help="Read the password from the OS keyring.")
@pass_ctx
def conn_add(app: Context, name: str, **options: object) -> None:
    """Store connection NAME (replacing one of that name). A password given as a value (or
    inside --uri) goes to the OS keyring; the state file keeps only the reference."""
    from ..variables import save_connection

    fields = {key: value for key, value in options.items() if value is not None}
    spec = save_connection(app.settings, app.store(), name, fields)
    click.echo(f"connection {name}: " + ", ".join(f"{k} = {s.describe()}" for k, s in spec.items()))


@conn.command("get")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--reveal", is_flag=True, help="Print the password (and the uri holding it) instead of ***.")
@pass_ctx
def conn_get(app: Context, name: str, as_json: bool, reveal: bool) -> None:
    """Resolve connection NAME and print its fields (the password as *** unless --reveal)."""
    from ..masking import Masker

    resolver = _project(app)
    found = resolver.connection(name)
    fields = {
        "conn_type": found.conn_type,
        "host": found.host,
        "port": found.port,
        "login": found.login,
        "password": found.password,
        "schema": found.schema,
        "extra": found.extra,
        "uri": found.uri,
    }
    text = json.dumps(fields, indent=2) if as_json else "\n".join(f"{k}: {v}" for k, v in fields.items() if v)
    click.echo(text if reveal else Masker(resolver.secrets).text(text))


@conn.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def conn_list(app: Context, as_json: bool) -> None:
    """List the connections and where each is defined (secret fields as ***; nothing is resolved)."""
    from ..variables import listing

    rows = listing(_project(app).catalog, "conn")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    shown = [[r["name"], ", ".join(f"{k}={v}" for k, v in r["fields"].items()), r["origin"]] for r in rows]
    click.echo(table(["name", "fields", "defined in"], shown))


@conn.command("delete")
@click.argument("name")
@pass_ctx
def conn_delete(app: Context, name: str) -> None:
    """Delete connection NAME from the state file (not from minorch.toml or the keyring)."""
    from ..errors import NotFound

    if not app.store().delete_definition("connections", name):
        raise NotFound(
            f"no connection '{name}' in the state file", hint="`minorch conn list` says where each is defined"
        )
    click.echo(f"deleted connection {name}")


@conn.command("test")
@click.argument("name")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for the port.")
@pass_ctx
def conn_test(app: Context, name: str, timeout: float) -> None:
    """Check that connection NAME's host answers on its TCP port (no database drivers); exit 1 if not."""
    import sys

    from ..secrets import SecretError
    from ..variables import check_port

    try:
        click.echo(check_port(_project(app).connection(name), timeout))
    except SecretError as err:
        click.echo(f"minorch: {err}", err=True)
        sys.exit(1)
