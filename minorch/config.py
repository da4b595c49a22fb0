"""minorch.toml: where it is, what it says (`Settings`), and TOML reading with line numbers.

Lookup order: `--config PATH`, then `$MINORCH_CONFIG`, then `minorch.toml` in the current
folder and its parents. Paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# tomli, not the standard library's tomllib (the same parser, pure Python): its compiled wheels read
# DAG files about 3x faster, which is most of `minorch validate` on a large project.
import tomli as tomllib

from .durations import parse_duration
from .errors import ConfigError, MinorchError, did_you_mean

CONFIG_NAME = "minorch.toml"
MINORCH_KEYS = {
    "state_dir",
    "dag_folders",
    "timezone",
    "parallelism",
    "pools",
    "log_cap",
    "grace",
    "max_map_length",
    "dag_file_timeout",
    "metrics",
    "metrics_port",
    "metrics_address",
    "task_env",
    "env_passthrough",
    "airflow_compat",
    "executor",
    "on_restart",
}
EXECUTORS = ("local", "dask")
DASK_KEYS = {
    "address",
    "tls_ca_file",
    "tls_cert",
    "tls_key",
    "allow_insecure",
    "worker_lost_after",
    "start_timeout",
}
NOTIFIER_KINDS = ("command", "webhook", "mail")
TOP_KEYS = {"minorch", "defaults", "notifiers", "dags", "assets", "variables", "connections", "executor"}
TASK_ENVS = ("inherit", "clean")


@dataclass
class Settings:
    config_file: Path
    root: Path
    state_dir: Path
    dag_folders: list[Path]
    timezone: str = "UTC"
    parallelism: int = 8
    pools: dict[str, int] = field(default_factory=dict)
    log_cap: int = 10 * 2**20
    max_map_length: int = 1024  # most copies one mapped task may expand to
    grace: float = 5.0
    dag_file_timeout: float = 30.0
    airflow_compat: str = "auto"  # serve `airflow.*` imports in DAG files: "auto" | "on" | "off"
    metrics_textfile: Path | None = None  # metrics = "textfile:PATH": node_exporter's textfile collector
    metrics_port: int | None = None  # serve /metrics here (0: any free port)
    metrics_address: str = "127.0.0.1"
    defaults: dict[str, Any] = field(default_factory=dict)
    notifiers: dict[str, dict] = field(default_factory=dict)
    dags: dict[str, Any] = field(default_factory=dict)  # [dags.*] tables of minorch.toml itself
    assets: dict[str, Any] = field(default_factory=dict)  # [assets.*] tables of minorch.toml, checked by the registry
    executor: str = "local"  # where tasks run unless they say otherwise
    on_restart: str = "adopt"  # what a restarted scheduler does with tries still running: adopt | kill
    dask: DaskSettings | None = None  # [executor.dask]
    text: str = ""
    env_name: str | None = None  # --env / $MINORCH_ENV: minorch.<env>.toml is layered over minorch.toml
    task_env: str = "inherit"  # what a try's environment starts from: the scheduler's, or a minimal one
    env_passthrough: list[str] = field(default_factory=list)  # names (or globs) a clean environment keeps
    variables: dict[str, Any] = field(default_factory=dict)  # name -> secrets.Source
    connections: dict[str, Any] = field(default_factory=dict)  # name -> {field: secrets.Source}

    @property
    def config_files(self) -> list[Path]:
        """minorch.toml, and the layer of the environment in use: a change to either reloads the settings."""
        return [self.config_file, *([layer_path(self.config_file, self.env_name)] if self.env_name else [])]

    @property
    def config_name(self) -> str:
        """Where the settings come from: ``minorch.toml``, or ``minorch.toml + minorch.prod.toml``."""
        base = display_path(self.config_file)
        return f"{base} + {layer_path(self.config_file, self.env_name).name}" if self.env_name else base

    @property
    def db_path(self) -> Path:
        return self.state_dir / "minorch.db"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"


@dataclass
class DaskSettings:
    """[executor.dask]: the Dask scheduler to use and how to reach it safely. Paths are absolute."""

    address: str
    tls_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False
    worker_lost_after: float = 30.0
    start_timeout: float = 10.0


def find_config(explicit: str | os.PathLike | None = None, cwd: Path | None = None) -> Path:
    if explicit:  # --config, or $MINORCH_CONFIG passed through it
        path = Path(explicit)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(
                f"{path}: no such file", hint="check --config or $MINORCH_CONFIG, or run `minorch init` to create one"
            )
        return path.resolve()
    env = os.environ.get("MINORCH_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: no such file (from $MINORCH_CONFIG)", hint="fix or unset MINORCH_CONFIG")
        return path.resolve()
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or its parents", hint="run `minorch init` to create one, or pass --config PATH"
    )


def read_toml(path: Path) -> tuple[dict, str]:
    """Parse a TOML file; errors become one-line ConfigErrors with file:line (the path as
    `display_path` shows it, worked out only then)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=display_path(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x})",
            file=display_path(path),
            line=line,
            hint="save the file as UTF-8",
        ) from None
    try:
        return tomllib.loads(text), text
    except RecursionError:
        raise ConfigError(
            "values are nested too deeply to read",
            file=display_path(path),
            hint="nest tables and lists at most a few levels deep",
        ) from None
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"\(at line (\d+), column \d+\)", str(err))
        problem = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(err)) or "invalid TOML"
        line = int(match.group(1)) if match else max(1, text.count("\n"))
        message, hint = _explain_toml(problem)
        raise ConfigError(f"TOML syntax error: {message}", file=display_path(path), line=line, hint=hint) from None


def _explain_toml(problem: str) -> tuple[str, str]:
    """tomllib's message in words a user acts on, and a hint."""
    twice = re.fullmatch(r"Cannot declare \((.*)\) twice", problem)
    if twice:
        table = ".".join(re.findall(r"'([^']*)'", twice.group(1)))
        return f"table [{table}] is declared twice", "merge the two tables into one"
    known = {
        "Illegal character '\\n'": (
            "a string is not closed before the end of the line",
            'end it with the same quote it starts with: "..."',
        ),
        "Invalid value": (
            "a value is missing or not valid TOML",
            'strings need quotes, e.g. schedule = "@daily"; lists are written [1, 2]',
        ),
        "Cannot overwrite a value": ("a key is set twice", "remove one of the two lines"),
        "Unescaped '\\' in a string": (
            'a backslash in a "string" starts an escape',
            "write \\\\ or use a 'literal string' in single quotes",
        ),
    }
    return known.get(problem, (problem, 'check quotes and brackets; strings need "double quotes"'))


def display_path(path: Path) -> str:
    """The path relative to the current folder when that is shorter, as users typed it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("../..") else str(path)


# A key part: a basic string (with its escapes), a literal string, or bare. A header's quoted parts
# may hold "]", "#" and spaces.
_PART = r"""(?:"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[A-Za-z0-9_\-]+)"""
_DOTTED = rf"{_PART}(?:[ \t]*\.[ \t]*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")


Locator = Callable[[tuple[str, ...]], int | None]  # a key path -> its line in a TOML file
Where = Callable[[tuple[str, ...]], dict]  # a key path -> the file= and line= of an error there


_QUOTE_OR_SPACE = re.compile("[\"' \t\r\n\f\v]")


def _split_key(text: str) -> tuple[str, ...]:
    if not _QUOTE_OR_SPACE.search(text):  # a bare dotted key, as most are: no pattern needed
        return tuple(filter(None, text.split(".")))
    return tuple(_unquote(part) for part in re.findall(_PART, text))


def _unquote(part: str) -> str:
    """A key part as TOML reads it: a basic string's escapes decoded (by the TOML parser itself)."""
    if part.startswith('"'):
        if "\\" not in part:
            return part[1:-1]
        try:
            return tomllib.loads(f"k = {part}")["k"]
        except tomllib.TOMLDecodeError:
            return part[1:-1]
    return part[1:-1] if part.startswith("'") else part


def toml_locator(text: str) -> Locator:
    """A function mapping a key path (("dags", "etl", "tasks", "load", "after")) to its line.

    A path that is not written in the file maps to its nearest written parent's line
    (a key inside an inline table maps to the line of that table). Lines inside
    multi-line strings are never read as keys or headers.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_quote = None  # the delimiter of the multi-line string we are inside, if any
    for number, line in enumerate(text.split("\n"), 1):  # TOML breaks lines at LF (CRLF) only
        if open_quote:
            if open_quote in line:
                open_quote = None
            continue
        # The cheap tests first: only a line starting with "[" can be a header, only one with "=" a key.
        header = _HEADER.match(line) if line.lstrip()[:1] == "[" else None
        if header:
            table = _split_key(header.group(1))
            for cut in range(1, len(table) + 1):  # [dags.etl.tasks.a] also places dags.etl if not yet seen
                lines.setdefault(table[:cut], number)
            continue
        key = _KEY.match(line) if "=" in line else None
        if key:
            path = table + _split_key(key.group(1))
            lines.setdefault(path, number)
            # inline `tasks.x.command = ` style keys also locate their parents
            for cut in range(len(table) + 1, len(path)):
                lines.setdefault(path[:cut], number)
        if '"""' in line or "'''" in line:
            open_quote = next((quote for quote in ('"""', "'''") if line.count(quote) % 2 == 1), None)

    def locate(path: tuple[str, ...]) -> int | None:
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return None

    return locate


def layer_path(config_file: Path, env: str) -> Path:
    """minorch.prod.toml beside minorch.toml for env "prod"."""
    return config_file.with_name(f"{config_file.stem}.{env}{config_file.suffix}")


def is_layer(path: Path, config_file: Path) -> bool:
    """minorch.<anything>.toml beside minorch.toml: an environment's settings, never a DAG file."""
    stem = config_file.stem + "."
    return path.parent == config_file.parent and path.name.startswith(stem) and path.suffix == config_file.suffix


def merge_layer(base: Mapping, layer: Mapping) -> dict:
    """`layer` over `base`: tables merged by key (recursively), anything else (lists too) replaced."""
    merged = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_layer(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has(data: Mapping, key: tuple[str, ...]) -> bool:
    for part in key:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def load_settings(
    explicit: str | os.PathLike | None = None, cwd: Path | None = None, env: str | None = None
) -> Settings:
    """Find, read and check minorch.toml; ConfigError (file:line, hint) for anything wrong.

    With an environment (`env`, else $MINORCH_ENV), minorch.<env>.toml beside it is layered
    over it (`merge_layer`); an error in a key the layer sets names the layer's file and line.
    Only [minorch], [defaults], [notifiers], [variables] and [connections] are checked here;
    [dags.*] tables are kept raw in `Settings.dags` for the registry, which reports their errors
    without stopping other DAGs.
    """
    path = find_config(explicit, cwd)
    data, text = read_toml(path)
    files = [(display_path(path), data, toml_locator(text))]
    env = env if env is not None else os.environ.get("MINORCH_ENV") or None
    if not text.strip():
        raise ConfigError(
            "the file is empty",
            file=files[0][0],
            line=1,
            hint="add a [minorch] table and DAGs; `minorch init` writes a starter file",
        )
    if env is not None:
        layer = layer_path(path, env)
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", env) or not layer.is_file():
            raise ConfigError(
                f"environment {env!r}: no {layer.name} beside {files[0][0]}",
                hint="create it with the settings that differ, or check --env / $MINORCH_ENV",
            )
        layer_data, layer_text = read_toml(layer)
        files.append((display_path(layer), layer_data, toml_locator(layer_text)))
        if "dags" in layer_data:
            raise ConfigError(
                "an environment's file cannot define [dags]",
                file=files[1][0],
                line=files[1][2](("dags",)),
                hint="DAGs are shared by every environment: define them in minorch.toml or the DAG folders",
            )
        data = merge_layer(data, layer_data)

    def where(key: tuple[str, ...]) -> dict:
        """The file (the layer when it sets `key`) and line of a key path, as keyword arguments."""
        name, _, locate = next((f for f in reversed(files) if _has(f[1], key)), files[0])
        return {"file": name, "line": locate(key)}

    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"unknown table [{key}]",
                **where((key,)),
                hint=did_you_mean(key, TOP_KEYS) or "known tables: " + ", ".join(sorted(TOP_KEYS)),
            )

    def fail(message: str, *key: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, **where(key), hint=hint)

    for table in ("minorch", "defaults", "notifiers", "variables", "connections"):
        if not isinstance(data.get(table, {}), Mapping):
            raise fail(f"{table} must be a table", table, hint=f"write a [{table}] header with keys below it")
    section = data.get("minorch", {})
    for key in section:
        if key not in MINORCH_KEYS:
            from .options import TASK_OPTIONS

            hint = "task options belong under [defaults]" if key in TASK_OPTIONS else None
            raise fail(
                f"unknown [minorch] option '{key}'",
                "minorch",
                key,
                hint=hint or did_you_mean(key, MINORCH_KEYS) or "see docs/toml-reference.md",
            )
    root = path.parent
    state_dir = section.get("state_dir", ".minorch")
    if not isinstance(state_dir, str) or not state_dir:
        raise fail(
            f"state_dir must be a folder name, not {state_dir!r}",
            "minorch",
            "state_dir",
            hint='write e.g. state_dir = ".minorch"',
        )
    folders = section.get("dag_folders", ["dags"])
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders):
        raise fail(
            f"dag_folders must be a list of folder names, not {folders!r}",
            "minorch",
            "dag_folders",
            hint='write e.g. dag_folders = ["dags"]',
        )
    settings = Settings(
        config_file=path,
        root=root,
        state_dir=root / state_dir,
        dag_folders=[root / f for f in folders],
        text=text,
        env_name=env,
    )
    settings.timezone = section.get("timezone", "UTC")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a name too long for a file
        raise fail(
            f"unknown timezone {settings.timezone!r}",
            "minorch",
            "timezone",
            hint=did_you_mean(str(settings.timezone), available_timezones())
            or 'write an IANA name like "Europe/Berlin"',
        ) from None
    parallelism = section.get("parallelism", 8)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or not 1 <= parallelism <= 100_000:
        raise fail(
            f"parallelism must be a whole number from 1 to 100000, not {parallelism!r}",
            "minorch",
            "parallelism",
            hint="write e.g. parallelism = 8",
        )
    settings.parallelism = parallelism
    compat = section.get("airflow_compat", "auto")
    if compat not in ("auto", "on", "off"):
        raise fail(
            f'airflow_compat must be "auto", "on" or "off", not {compat!r}',
            "minorch",
            "airflow_compat",
            hint='"auto" serves airflow.* imports to DAG files unless a real Airflow is installed',
        )
    settings.airflow_compat = compat
    pools = section.get("pools", {})
    if not isinstance(pools, Mapping) or any(
        isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100_000 for v in pools.values()
    ):
        raise fail(
            "pools must map names to slot counts from 1 to 100000",
            "minorch",
            "pools",
            hint="write e.g. pools = { db = 2 }",
        )
    settings.pools = dict(pools)
    for key in ("grace", "dag_file_timeout"):
        try:
            setattr(settings, key, parse_duration(section.get(key, getattr(settings, key)), name=key))
        except ConfigError as err:
            raise err.at(**where(("minorch", key))) from None
    log_cap = section.get("log_cap", settings.log_cap)
    if isinstance(log_cap, bool) or not isinstance(log_cap, int) or not 1024 <= log_cap <= 2**40:
        raise fail(
            "log_cap must be a number of bytes from 1024 to 2**40 (1 TiB)",
            "minorch",
            "log_cap",
            hint="write e.g. log_cap = 10485760",
        )
    settings.log_cap = log_cap
    max_map = section.get("max_map_length", settings.max_map_length)
    if isinstance(max_map, bool) or not isinstance(max_map, int) or not 1 <= max_map <= 1_000_000:
        raise fail(
            "max_map_length must be a whole number from 1 to 1000000",
            "minorch",
            "max_map_length",
            hint="write e.g. max_map_length = 1024",
        )
    settings.max_map_length = max_map
    _check_metrics(settings, section, fail)
    _check_executor(settings, section, data.get("executor", {}), fail)
    settings.defaults = _check_defaults(data.get("defaults", {}), where)
    settings.notifiers = _check_notifiers(data.get("notifiers", {}), where)
    settings.dags = dict(data.get("dags", {}))
    settings.assets = dict(data.get("assets", {}))
    _check_task_env(settings, section, fail)
    _check_secrets(settings, data, where)
    return settings


def _check_metrics(settings: Settings, section: Mapping, fail: Callable[..., ConfigError]) -> None:
    """`metrics = "textfile:PATH"`, `metrics_port` (0-65535) and `metrics_address` (a host to bind)."""
    target = section.get("metrics")
    if target is not None:
        if not isinstance(target, str) or not target.startswith("textfile:") or not target[len("textfile:") :]:
            raise fail(
                f'metrics must be "textfile:PATH", not {target!r}',
                "minorch",
                "metrics",
                hint='write e.g. metrics = "textfile:/var/lib/node_exporter/minorch.prom", or metrics_port = 9464',
            )
        settings.metrics_textfile = settings.root / target[len("textfile:") :]
    port = section.get("metrics_port")
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise fail(
                f"metrics_port must be a port number, not {port!r}",
                "minorch",
                "metrics_port",
                hint="write e.g. metrics_port = 9464",
            )
        settings.metrics_port = port
    address = section.get("metrics_address", settings.metrics_address)
    if not isinstance(address, str) or not address:
        raise fail(
            f"metrics_address must be a host to listen on, not {address!r}",
            "minorch",
            "metrics_address",
            hint='write e.g. metrics_address = "0.0.0.0" to accept scrapes from other hosts',
        )
    settings.metrics_address = address


def _check_task_env(settings: Settings, section: Mapping, fail: Callable[..., ConfigError]) -> None:
    task_env = section.get("task_env", settings.task_env)
    if task_env not in TASK_ENVS:
        raise fail(
            f"task_env must be one of {', '.join(TASK_ENVS)}, not {task_env!r}",
            "minorch",
            "task_env",
            hint=did_you_mean(str(task_env), TASK_ENVS) or 'write task_env = "clean"',
        )
    settings.task_env = task_env
    passthrough = section.get("env_passthrough", [])
    if not isinstance(passthrough, list) or not all(isinstance(n, str) and n for n in passthrough):
        raise fail(
            "env_passthrough must be a list of environment variable names",
            "minorch",
            "env_passthrough",
            hint='write e.g. env_passthrough = ["AWS_PROFILE", "SSH_AUTH_SOCK"]',
        )
    settings.env_passthrough = passthrough


def _check_secrets(settings: Settings, data: Mapping, where: Where) -> None:
    """[variables] and [connections.NAME]: definitions only; nothing is resolved here."""
    if not data.get("variables") and not data.get("connections"):
        return  # most projects define none: no need to import the secrets module
    from .secrets import parse_connection, parse_source

    for key, raw in data.get("variables", {}).items():
        try:
            settings.variables[key] = parse_source(raw, key)
        except MinorchError as err:
            raise ConfigError(f"variable {err.message}", **where(("variables", key)), hint=err.hint) from None
    for key, raw in data.get("connections", {}).items():
        try:
            settings.connections[key] = parse_connection(raw, key)
        except MinorchError as err:
            raise ConfigError(err.message, **where(("connections", key)), hint=err.hint) from None


def _check_executor(settings: Settings, section: Mapping, tables: Any, fail: Callable[..., ConfigError]) -> None:
    """[minorch] executor and on_restart, and [executor.dask]."""
    for key, allowed in (("executor", EXECUTORS), ("on_restart", ("adopt", "kill"))):
        value = section.get(key, getattr(settings, key))
        if value not in allowed:
            raise fail(
                f"{key} must be one of {', '.join(allowed)}, not {value!r}",
                "minorch",
                key,
                hint=f'write e.g. {key} = "{allowed[0]}"',
            )
        setattr(settings, key, value)
    if not isinstance(tables, Mapping) or any(k != "dask" for k in tables):
        raise fail("[executor] holds only [executor.dask]", "executor", hint="write [executor.dask] with address = ...")
    dask = tables.get("dask")
    if dask is None:
        if settings.executor == "dask":
            raise fail(
                'executor = "dask" needs an [executor.dask] table with the Dask scheduler\'s address',
                "minorch",
                "executor",
                hint='add [executor.dask] with address = "tcp://127.0.0.1:8786"',
            )
        return
    if not isinstance(dask, Mapping):
        raise fail("[executor.dask] must be a table", "executor", "dask")
    for key in dask:
        if key not in DASK_KEYS:
            raise fail(
                f"unknown [executor.dask] option '{key}'",
                "executor",
                "dask",
                key,
                hint=did_you_mean(key, DASK_KEYS) or "see docs/scale-out.md",
            )
    address = dask.get("address")
    if not isinstance(address, str) or "://" not in address:
        raise fail(
            f"[executor.dask] address must be a URL like tcp://host:8786, not {address!r}",
            "executor",
            "dask",
            "address",
            hint='write e.g. address = "tls://scheduler.example:8786"',
        )
    made = DaskSettings(address)
    for key in ("tls_ca_file", "tls_cert", "tls_key"):
        if key in dask:
            if not isinstance(dask[key], str):
                raise fail(f"{key} must be a file path", "executor", "dask", key)
            setattr(made, key, settings.root / dask[key])
    if not isinstance(dask.get("allow_insecure", False), bool):
        raise fail("allow_insecure must be true or false", "executor", "dask", "allow_insecure")
    made.allow_insecure = dask.get("allow_insecure", False)
    for key in ("worker_lost_after", "start_timeout"):
        try:
            setattr(made, key, parse_duration(dask.get(key, getattr(made, key)), name=key))
        except ConfigError as err:
            raise fail(str(err.message), "executor", "dask", key, hint=err.hint) from None
    settings.dask = made


def _check_defaults(defaults: Mapping, where: Where) -> dict:
    """[defaults] holds task options; a wrong one is a ConfigError at its line."""
    from .options import TASK_OPTIONS, resolve_options, unknown_key

    for key, value in defaults.items():
        try:
            if key not in TASK_OPTIONS:
                raise unknown_key(key, TASK_OPTIONS, "[defaults]")
            resolve_options({key: value})
        except MinorchError as err:
            raise ConfigError(err.message, **where(("defaults", key)), hint=err.hint) from None
    return dict(defaults)


def _check_notifiers(notifiers: Mapping, where: Where) -> dict[str, dict]:
    """Each [notifiers.NAME] holds exactly one of command, webhook, mail (a string);
    a webhook may add `timeout` (a duration)."""
    allowed = (*NOTIFIER_KINDS, "timeout")
    for key, spec in notifiers.items():

        def fail(problem: str, *at: str, hint: str | None = None, key: str = key) -> ConfigError:
            return ConfigError(
                f"notifier '{key}': {problem}",
                **where(("notifiers", key, *at)),
                hint=hint
                or f'write [notifiers.{key}] with command = "...", webhook = "https://..." or mail = "ops@example.com"',
            )

        if not isinstance(spec, Mapping):
            raise fail("must be a table")
        for extra in spec:
            if extra not in allowed:
                raise fail(f"unknown key '{extra}'", extra, hint=did_you_mean(extra, allowed))
        kinds = [k for k in NOTIFIER_KINDS if k in spec]
        if len(kinds) != 1 or not isinstance(spec[kinds[0]], str) or not spec[kinds[0]]:
            raise fail("needs exactly one of command, webhook or mail, as a string")
        if "timeout" in spec:
            try:
                parse_duration(spec["timeout"], name="timeout")
            except ConfigError as err:
                raise err.at(**where(("notifiers", key, "timeout"))) from None
    return {key: dict(spec) for key, spec in notifiers.items()}
