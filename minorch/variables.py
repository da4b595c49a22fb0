"""Variables and connections as tasks see them: ``Variable.get`` and ``Connection.get`` in
Python tasks, ``{{ var.value.x }}``, ``{{ var.json.x.key }}`` and ``{{ conn.x.host }}`` in templates.

In a template the scheduler's `Resolver` for the try answers (`template_names`). In a
Python task the task's own process resolves, from the project its environment names
($MINORCH_CONFIG, $MINORCH_ENV), and registers every secret value with the relay that
writes its log (`minorch.masking.register`) before handing it over.
"""

from __future__ import annotations

import json
import os

from .secrets import (
    MISSING,
    Catalog,
    ConnectionValue,
    Resolver,
    SecretError,
    Source,
    parse_connection,
    parse_source,
    parse_uri,
    store_in_keyring,
    text_of,
)

_resolver: Resolver | None = None  # the task process's own, made on first use


def project_resolver(settings, on_secret=None) -> Resolver:
    """A Resolver for a project's definitions: its settings (with their layer) and its state
    file if there is one, and this process's environment."""
    from .store import Store

    stored: tuple[dict, dict] = ({}, {})
    if settings.db_path.exists():
        store = Store(settings.db_path, readonly=True)
        try:
            stored = (store.variables(), store.connections())
        finally:
            store.close()
    return Resolver(Catalog.gather(settings, stored), settings.root, on_secret=on_secret)


def _task_resolver() -> Resolver:
    global _resolver
    if _resolver is None:
        from .config import load_settings
        from .masking import register

        # The project of this try: its environment names it ($MINORCH_CONFIG, $MINORCH_ENV).
        settings = load_settings(os.environ.get("MINORCH_CONFIG"), env=os.environ.get("MINORCH_ENV") or None)
        _resolver = project_resolver(settings, on_secret=register)
    return _resolver


class Variable:
    """``Variable.get("bucket")``, ``Variable.get("limits", deserialize_json=True)``,
    ``Variable.get("optional", default=None)``."""

    @staticmethod
    def get(key: str, default: object = MISSING, deserialize_json: bool = False) -> object:
        resolver = _task_resolver()
        if deserialize_json:
            if default is not MISSING and key not in resolver.catalog.variables:
                return default
            return resolver.variable_json(key)
        return resolver.variable(key, default)


class Connection:
    """``Connection.get("warehouse")`` -> host, port, login, password, schema, extra, uri."""

    @staticmethod
    def get(conn_id: str) -> ConnectionValue:
        return _task_resolver().connection(conn_id)


class _Values:
    """``var.value.NAME`` (or ``var.json.NAME``); ``var.value.get("name", "default")``."""

    def __init__(self, resolver: Resolver, as_json: bool) -> None:
        self._resolver = resolver
        self._json = as_json

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._resolver.variable_json(name) if self._json else self._resolver.variable(name)

    __getitem__ = __getattr__

    def get(self, name: str, default: object = None) -> object:
        if name not in self._resolver.catalog.variables:
            return default
        return self.__getattr__(name)


class _Variables:
    def __init__(self, resolver: Resolver) -> None:
        self.value = _Values(resolver, False)
        self.json = _Values(resolver, True)


class _Connections:
    """``conn.NAME.host``, ``conn.NAME.uri``."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    def __getattr__(self, name: str) -> ConnectionValue:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._resolver.connection(name)

    __getitem__ = __getattr__


def template_names(resolver: Resolver) -> dict[str, object]:
    """The ``var`` and ``conn`` a template of one try sees."""
    return {"var": _Variables(resolver), "conn": _Connections(resolver)}


# -- what an operator does (`minorch var ...`, `minorch conn ...`) ---------------------


def keyring_ref(settings, kind: str, name: str) -> tuple[str, str]:
    """Where `var set --secret` and `conn add` keep a secret value: service "minorch",
    username "<project folder>/<env>/<kind>/<name>"."""
    return "minorch", f"{settings.root}/{settings.env_name or 'default'}/{kind}/{name}"


def save_variable(settings, store, name: str, raw: object, *, secret: bool) -> Source:
    """Store a variable. A secret literal goes to the keyring and the state file keeps the
    reference (so no secret value is ever in it); a reference is stored as given."""
    source = parse_source(raw, name)
    if source.kind == "value" and (secret or source.secret):
        service, username = keyring_ref(settings, "var", name)
        store_in_keyring(service, username, text_of(source.ref))
        source = Source("keyring", (service, username), True)
    store.put_definition("variables", name, json.dumps(source.to_json()))
    return source


def save_connection(settings, store, name: str, fields: dict[str, object]) -> dict[str, Source]:
    """Store a connection from `fields` (Airflow's names, `uri`, or `<field>_<backend>`).
    A password given as a value (or inside `uri`) goes to the keyring."""
    uri = fields.get("uri")
    if isinstance(uri, str):
        del fields["uri"]
        parsed = parse_uri(uri, name)
        fields = {**{k: v for k, v in parsed.items() if v is not None}, **fields}
    password = fields.get("password")
    if isinstance(password, str):
        del fields["password"]
        service, username = keyring_ref(settings, "conn", name)
        store_in_keyring(service, username, password)
        fields["password_keyring"] = [service, username]
    spec = parse_connection(fields, name)
    store.put_definition("connections", name, json.dumps(fields))
    return spec


def listing(catalog: Catalog, kind: str) -> list[dict]:
    """Rows for `var list` / `conn list`: name, where it is defined, and each value as
    `Source.describe` shows it (secret literals as ***; nothing is resolved)."""
    if kind == "var":
        return [
            {"name": name, "origin": origin, "value": source.describe(), "secret": source.secret}
            for name, (origin, source) in sorted(catalog.variables.items())
        ]
    return [
        {"name": name, "origin": origin, "fields": {key: source.describe() for key, source in fields.items()}}
        for name, (origin, fields) in sorted(catalog.connections.items())
    ]


def check_port(conn: ConnectionValue, timeout: float) -> str:
    """`minorch conn test`: a TCP connection to host:port (no drivers). The sentence to print;
    raises SecretError when nothing answers."""
    port = conn.port or DEFAULT_PORTS.get((conn.conn_type or "").lower())
    if not conn.host or not port:
        raise SecretError(
            f"connection '{conn.conn_id}' has no host and port to test", hint="set host and port (or a uri with both)"
        )
    import socket

    try:
        with socket.create_connection((conn.host, port), timeout=timeout):
            return f"connection '{conn.conn_id}': {conn.host}:{port} answers"
    except OSError as err:
        raise SecretError(
            f"connection '{conn.conn_id}': {conn.host}:{port} does not answer ({err.strerror or err})"
        ) from None


DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "redis": 6379,
    "http": 80,
    "https": 443,
    "ftp": 21,
    "sftp": 22,
    "ssh": 22,
    "smtp": 25,
    "mongodb": 27017,
}
