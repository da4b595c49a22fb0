"""Variables and connections: where their values come from, and resolving them when a try starts.

A value is a literal or a reference to a secrets backend, chosen per value:

    env      the scheduler's environment variable of that name      { env = "DB_PASSWORD" }
    file     the contents of a file, one trailing newline dropped     { file = "/run/secrets/db" }
    cmd      the standard output of a shell command (exit 0)         { cmd = "pass show db" }
    keyring  the OS keyring (the optional `keyring` package)         { keyring = "service/username" }

Definitions come from three places, looked up in this order: the environment
(``MINORCH_VAR_<NAME>``, ``MINORCH_CONN_<NAME>``, ``AIRFLOW_CONN_<NAME>``), minorch.toml with
its ``--env`` layer (``[variables]``, ``[connections.NAME]``), and the state file (``minorch var
set``, ``minorch conn add``, which hold literals and references but never a secret's value).
Nothing is read from a backend until a try (or a command) asks for the value: `Resolver`
resolves, caches for one try, and collects the secret values it returned for masking.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .errors import ConfigError, MinorchError, did_you_mean
from .masking import looks_sensitive

BACKENDS = ("env", "file", "cmd", "keyring")
FIELDS = ("conn_type", "host", "port", "login", "password", "schema", "extra", "uri")
CMD_TIMEOUT = 30.0  # seconds a password_cmd may take
ENV_PREFIXES = ("MINORCH_VAR_", "AIRFLOW_CONN_", "MINORCH_CONN_")
MISSING = object()


class SecretError(MinorchError):
    """A variable or connection cannot be resolved; the message names it, never its value."""


@dataclass(frozen=True)
class Source:
    """Where one value comes from: ``kind`` "value" (``ref`` is the literal) or a backend."""

    kind: str
    ref: object
    secret: bool

    def describe(self) -> str:
        """How `list` shows it: the literal (``***`` when secret) or ``file /run/secrets/db``."""
        if self.kind == "value":
            return "***" if self.secret else text_of(self.ref)
        if self.kind == "keyring":
            service, username = _keyring_ref(self.ref, self.kind)
            return f"keyring {service}/{username}"
        return f"{self.kind} {self.ref}"

    def to_json(self) -> dict:
        ref = list(_keyring_ref(self.ref, self.kind)) if self.kind == "keyring" else self.ref
        return {self.kind: ref, "secret": self.secret}


def parse_source(raw: object, name: str) -> Source:
    """A TOML or stored value: a literal, or a table with one of value/env/file/cmd/keyring
    (and `secret = true` to mask a literal). Raises ConfigError (without a location)."""
    sensitive = looks_sensitive(name)
    if not isinstance(raw, Mapping):
        return Source("value", raw, sensitive)
    kinds = [key for key in ("value", *BACKENDS) if key in raw]
    extra = [key for key in raw if key not in ("value", *BACKENDS, "secret")]
    if len(kinds) != 1 or extra:
        wrong = extra[0] if extra else None
        raise ConfigError(
            f"'{name}' needs exactly one of value, env, file, cmd, keyring"
            + (f"; unknown key '{wrong}'" if wrong else ""),
            hint=(did_you_mean(wrong, ("value", *BACKENDS, "secret")) if wrong else None)
            or 'write e.g. { file = "/run/secrets/db" }; a table as a value: { value = { a = 1 } }',
        )
    kind = kinds[0]
    secret = raw.get("secret", kind != "value" or sensitive)
    if not isinstance(secret, bool):
        raise ConfigError(f"'{name}': secret must be true or false")
    ref = raw[kind]
    if kind == "keyring":
        ref = _keyring_ref(ref, name)
    elif kind != "value" and (not isinstance(ref, str) or not ref):
        raise ConfigError(f"'{name}': {kind} must be a non-empty string")
    return Source(kind, ref, secret or kind != "value")


def _keyring_ref(ref: object, name: str) -> tuple[str, str]:
    if isinstance(ref, str) and "/" in ref.strip("/"):
        service, _, username = ref.partition("/")
        return service, username
    if isinstance(ref, (list, tuple)) and len(ref) == 2 and all(isinstance(p, str) and p for p in ref):
        return ref[0], ref[1]
    raise ConfigError(f"'{name}': keyring must be \"service/username\"", hint='write e.g. keyring = "minorch/db"')


def parse_connection(raw: object, name: str) -> dict[str, Source]:
    """[connections.NAME]: `uri` or fields, each a literal or `<field>_<backend>`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"connection '{name}' must be a table", hint='write [connections.NAME] with uri = "..."')
    spec: dict[str, Source] = {}
    known = [*FIELDS, *(f"{f}_{b}" for f in FIELDS for b in BACKENDS)]
    for key, value in raw.items():
        field_name, _, backend = key.rpartition("_") if key.rsplit("_", 1)[-1] in BACKENDS else (key, "", "")
        if field_name not in FIELDS:
            raise ConfigError(
                f"connection '{name}': unknown key '{key}'",
                hint=did_you_mean(key, known) or "keys: " + ", ".join(FIELDS) + " (or e.g. password_file)",
            )
        if field_name in spec:
            raise ConfigError(f"connection '{name}': {field_name} is given twice")
        source = parse_source({backend: value} if backend else {"value": value}, field_name)
        if field_name == "uri" and source.kind == "value":  # a static problem; secret if it holds a password
            source = Source("value", source.ref, parse_uri(str(source.ref), name)["password"] is not None)
        spec[field_name] = source
    return spec


@dataclass(frozen=True)
class ConnectionValue:
    """A resolved connection (Airflow's fields); `uri` rebuilds it with quoted parts."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    extra: dict | None = None

    @property
    def uri(self) -> str:
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        netloc = auth + (self.host or "") + (f":{self.port}" if self.port else "")
        query = "?" + urlencode({k: text_of(v) for k, v in self.extra.items()}) if self.extra else ""
        return f"{self.conn_type or ''}://{netloc}/{quote(self.schema or '')}{query}"

    @property
    def extra_dejson(self) -> dict:
        return dict(self.extra or {})

    def __str__(self) -> str:
        return self.uri


def parse_uri(uri: str, name: str) -> dict[str, object]:
    """``postgresql://user:pw@host:5432/db?sslmode=require`` -> fields; SecretError (naming
    the connection, never the URI) if it does not parse."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as err:
        raise SecretError(f"connection '{name}': its uri does not parse ({err})") from None
    if not parts.scheme or "://" not in uri:
        raise SecretError(
            f"connection '{name}': its uri does not parse (no scheme://)",
            hint="write e.g. postgresql://user@host:5432/db",
        )
    return {
        "conn_type": parts.scheme,
        "host": unquote(parts.hostname or "") or None,
        "port": port,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": unquote(parts.path.lstrip("/")) or None,
        "extra": dict(parse_qsl(parts.query)) or None,
    }


class Catalog:
    """Every variable and connection one try can see, as definitions (nothing resolved)."""

    def __init__(
        self,
        variables: dict[str, tuple[str, Source]],
        connections: dict[str, tuple[str, dict[str, Source]]],
    ) -> None:
        self.variables = variables  # name -> (origin, source)
        self.connections = connections  # name -> (origin, fields)

    @classmethod
    def gather(cls, settings, stored: tuple[dict, dict] = ({}, {}), environ: Mapping[str, str] = os.environ):
        """From the environment, `settings` (minorch.toml and its layer) and `stored`, the
        state file's (variables, connections) as JSON texts by name. Earlier places win."""
        variables: dict[str, tuple[str, Source]] = {}
        connections: dict[str, tuple[str, dict[str, Source]]] = {}
        for name, text in stored[0].items():
            variables[name] = ("state file", parse_source(json.loads(text), name))
        for name, text in stored[1].items():
            connections[name] = ("state file", parse_connection(json.loads(text), name))
        for name, source in settings.variables.items():
            variables[name] = (settings.config_name, source)
        for name, fields in settings.connections.items():
            connections[name] = (settings.config_name, fields)
        for prefix in ENV_PREFIXES:  # the later prefix wins: MINORCH_CONN_X over AIRFLOW_CONN_X
            for key, value in environ.items():
                if not key.startswith(prefix) or len(key) == len(prefix):
                    continue
                name, source = key[len(prefix) :].lower(), Source("env", key, True)
                if prefix == "MINORCH_VAR_":
                    variables[name] = (f"${key}", source)
                else:
                    field = "json" if value.lstrip().startswith("{") else "uri"
                    connections[name] = (f"${key}", {field: source})
        return cls(variables, connections)

    def has_secrets(self) -> bool:
        """A try may resolve a secret: its output then passes through the masking relay."""
        return bool(self.connections) or any(source.secret for _, source in self.variables.values())

    def env_names(self) -> set[str]:
        """The environment variables the definitions read: every try's environment carries them."""
        sources = [s for _, s in self.variables.values()]
        sources += [s for _, fields in self.connections.values() for s in fields.values()]
        return {str(s.ref) for s in sources if s.kind == "env"}


class Resolver:
    """Resolves for one try (or one command): values cached, secret values collected in `secrets`.

    `environ` is what the env backend reads; `cwd` is where relative file paths and commands start.
    `on_secret` is called with each secret value the first time it is resolved.
    """

    def __init__(
        self,
        catalog: Catalog,
        cwd: Path,
        environ: Mapping[str, str] = os.environ,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.cwd = cwd
        self.environ = environ
        self.secrets: list[str] = []
        self._on_secret = on_secret
        self._values: dict[str, object] = {}
        self._connections: dict[str, ConnectionValue] = {}

    def variable(self, name: str, default: object = MISSING) -> object:
        """The variable's value: the literal as written (a TOML table stays a dict), backend text as read."""
        found = self.catalog.variables.get(name)
        if found is None:
            if default is not MISSING:
                return default
            raise SecretError(
                f"unknown variable '{name}'",
                hint=did_you_mean(name, self.catalog.variables)
                or "define it under [variables] in minorch.toml or with `minorch var set`",
            )
        if name not in self._values:
            self._values[name] = self._fetch(found[1], f"variable '{name}'")
        return self._values[name]

    def variable_json(self, name: str) -> object:
        """The variable parsed as JSON (a TOML table or list is already parsed)."""
        value = self.variable(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise SecretError(f"variable '{name}' is not JSON ({err.msg} at character {err.pos})") from None

    def connection(self, name: str) -> ConnectionValue:
        found = self.catalog.connections.get(name)
        if found is None:
            raise SecretError(
                f"unknown connection '{name}'",
                hint=did_you_mean(name, self.catalog.connections)
                or "define it under [connections.NAME] in minorch.toml or with `minorch conn add`",
            )
        if name not in self._connections:
            self._connections[name] = self._build(name, found[1])
        return self._connections[name]

    def _build(self, name: str, fields: dict[str, Source]) -> ConnectionValue:
        what = f"connection '{name}'"
        values: dict[str, object] = {}
        if "json" in fields:  # AIRFLOW_CONN_X='{"conn_type": ..., "host": ...}'
            text = self._fetch(fields["json"], what)
            try:
                document = json.loads(str(text))
            except ValueError:
                raise SecretError(f"{what}: its JSON does not parse") from None
            values.update({k: v for k, v in document.items() if k in FIELDS and k != "uri"})
            self._note(values.get("password"))
        if "uri" in fields:
            values.update(parse_uri(str(self._fetch(fields["uri"], what)), name))
            self._note(values.get("password"))
        for field_name, source in fields.items():
            if field_name not in ("uri", "json"):
                values[field_name] = self._fetch(source, f"{what} field {field_name}")
                if field_name == "password":
                    self._note(values[field_name])
        extra = values.get("extra")
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra.strip() else None
            except ValueError:
                raise SecretError(f"{what}: extra is not JSON") from None
        if extra is not None and not isinstance(extra, dict):
            raise SecretError(f"{what}: extra must be a table")
        for key, value in (extra or {}).items():
            if looks_sensitive(key):
                self._note(value)
        given = values.get("port")
        port: int | None = None
        if given not in (None, ""):
            try:
                port = int(given) if isinstance(given, (int, float, str)) else int(str(given))
            except (ValueError, OverflowError):
                raise SecretError(f"{what}: port must be a number") from None

        def given_text(field: str) -> str | None:
            return None if values.get(field) in (None, "") else str(values[field])

        return ConnectionValue(
            name,
            given_text("conn_type"),
            given_text("host"),
            port,
            given_text("login"),
            given_text("password"),
            given_text("schema"),
            extra,
        )

    def _fetch(self, source: Source, what: str) -> object:
        if source.kind == "value":
            value = source.ref
        elif source.kind == "env":
            if source.ref not in self.environ:
                raise SecretError(f"{what}: environment variable {source.ref} is not set")
            value = self.environ[str(source.ref)]
        elif source.kind == "file":
            value = self._read_file(Path(str(source.ref)), what)
        elif source.kind == "cmd":
            value = self._run(str(source.ref), what)
        else:
            value = _from_keyring(*_keyring_ref(source.ref, what), what)
        if source.secret:
            self._note(value)
        return value

    def _note(self, value: object) -> None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
            if text not in self.secrets:
                self.secrets.append(text)
                if self._on_secret is not None:
                    self._on_secret(text)

    def _read_file(self, path: Path, what: str) -> str:
        """The file's text; ``$NAME`` / ``${NAME}`` in the path come from the environment
        (``${CREDENTIALS_DIRECTORY}/db`` under systemd)."""
        expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: self.environ.get(m[1] or m[2], m[0]), str(path))
        path = self.cwd / expanded
        try:
            text = path.read_text()
        except OSError as err:
            raise SecretError(f"{what}: cannot read {path}: {err.strerror}") from None
        return text[:-1] if text.endswith("\n") else text

    def _run(self, command: str, what: str) -> str:
        try:
            done = subprocess.run(
                command,
                shell=True,
                cwd=self.cwd,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CMD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise SecretError(f"{what}: its command did not finish within {CMD_TIMEOUT:g}s") from None
        except OSError as err:
            raise SecretError(f"{what}: its command could not start: {err.strerror}") from None
        if done.returncode != 0:
            first = next((line.strip() for line in done.stderr.splitlines() if line.strip()), "no output on stderr")
            raise SecretError(f"{what}: its command exited with code {done.returncode}: {first}")
        out = done.stdout
        return out[:-1] if out.endswith("\n") else out


def _from_keyring(service: str, username: str, what: str) -> str:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretError(
            f"{what}: the keyring backend needs the keyring package", hint='pip install "minorch[keyring]"'
        ) from None
    try:
        value = keyring.get_password(service, username)
    except keyring.errors.KeyringError as err:
        raise SecretError(f"{what}: the keyring failed: {err}") from None
    if value is None:
        raise SecretError(f"{what}: the keyring has no password for {service}/{username}")
    return value


def store_in_keyring(service: str, username: str, value: str) -> None:
    """For `minorch var set --secret` and `conn add` with a password: the value goes to the keyring."""
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise SecretError(
            "a secret value needs the keyring package to be stored (the state file never holds one)",
            hint='pip install "minorch[keyring]", or give a reference: --file, --cmd or --env',
        ) from None
    try:
        keyring.set_password(service, username, value)
    except keyring.errors.KeyringError as err:
        raise SecretError(
            f"the keyring refused to store {service}/{username}: {err}",
            hint="give a reference instead: --file, --cmd or --env",
        ) from None


def text_of(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)
