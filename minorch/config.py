"""minorch.toml: where it is, what it says (`Settings`), and TOML reading with line numbers.

Lookup order: `--config PATH`, then `$MINORCH_CONFIG`, then `minorch.toml` in the current
folder and its parents. Paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .errors import ConfigError, MinorchError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_NAME = "minorch.toml"
MINORCH_KEYS = {"state_dir", "dag_folders", "timezone", "parallelism", "pools", "log_cap", "grace",
                "dag_file_timeout", "skip_exit_code"}
TOP_KEYS = {"minorch", "defaults", "notifiers", "dags"}


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
    grace: float = 5.0
    dag_file_timeout: float = 30.0
    defaults: dict[str, Any] = field(default_factory=dict)
    notifiers: dict[str, dict] = field(default_factory=dict)
    dags: dict[str, Any] = field(default_factory=dict)  # [dags.*] tables of minorch.toml itself
    text: str = ""

    @property
    def db_path(self) -> Path:
        return self.state_dir / "minorch.db"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"


def find_config(explicit: str | os.PathLike | None = None, cwd: Path | None = None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: no such file", hint="check --config, or run `minorch init` to create one")
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
    raise ConfigError(f"no {CONFIG_NAME} in {start} or its parents",
                      hint="run `minorch init` to create one, or pass --config PATH")


def read_toml(path: Path) -> tuple[dict, str]:
    """Parse a TOML file; errors become one-line ConfigErrors with file:line."""
    name = display_path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[err.start]:02x})", file=name, line=line,
                          hint="save the file as UTF-8") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"\(at line (\d+), column \d+\)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "invalid TOML"
        line = int(match.group(1)) if match else None
        raise ConfigError(f"TOML syntax error: {message}", file=name, line=line,
                          hint='check quotes and brackets; strings need "double quotes"') from None


def display_path(path: Path) -> str:
    """The path relative to the current folder when that is shorter, as users typed it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("../..") else str(path)


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-"']+)\s*=""")


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(next(p for p in part if p) if any(part) else "" for part in parts)


def toml_locator(text: str):
    """A function mapping a key path (("dags", "etl", "tasks", "load", "after")) to its line."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = table + _split_key(key.group(1))
            lines.setdefault(path, number)
            # inline `tasks.x.command = ` style keys also locate their parents
            for cut in range(len(table) + 1, len(path)):
                lines.setdefault(path[:cut], number)

    def locate(path: tuple[str, ...]) -> int | None:
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return None

    return locate


def load_settings(explicit: str | os.PathLike | None = None, cwd: Path | None = None) -> Settings:
    path = find_config(explicit, cwd)
    data, text = read_toml(path)
    name = display_path(path)
    locate = toml_locator(text)
    if not text.strip():
        raise ConfigError(f"{CONFIG_NAME} is empty", file=name, line=1,
                          hint="add a [minorch] table and DAGs; `minorch init` writes a starter file")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(f"unknown table [{key}]", file=name, line=locate((key,)),
                              hint=did_you_mean(key, TOP_KEYS) or "known tables: " + ", ".join(sorted(TOP_KEYS)))
    section = data.get("minorch", {})
    for key in section:
        if key not in MINORCH_KEYS:
            raise ConfigError(f"unknown [minorch] option '{key}'", file=name, line=locate(("minorch", key)),
                              hint=did_you_mean(key, MINORCH_KEYS) or "see docs/toml-reference.md")
    root = path.parent

    def fail(message: str, key: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=name, line=locate(("minorch", key)), hint=hint)

    folders = section.get("dag_folders", ["dags"])
    if isinstance(folders, str):
        folders = [folders]
    settings = Settings(config_file=path, root=root, state_dir=root / section.get("state_dir", ".minorch"),
                        dag_folders=[root / f for f in folders], text=text)
    settings.timezone = section.get("timezone", "UTC")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown timezone {settings.timezone!r}", "timezone",
                   did_you_mean(settings.timezone, available_timezones()) or 'write an IANA name like "Europe/Berlin"') from None
    parallelism = section.get("parallelism", 8)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        raise fail(f"parallelism must be a whole number of 1 or more, not {parallelism!r}", "parallelism")
    settings.parallelism = parallelism
    pools = section.get("pools", {})
    if not isinstance(pools, Mapping) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                             for v in pools.values()):
        raise fail("pools must map names to slot counts of 1 or more", "pools", "write e.g. pools = { db = 2 }")
    settings.pools = dict(pools)
    try:
        settings.grace = parse_duration(section.get("grace", 5), name="grace")
        settings.dag_file_timeout = parse_duration(section.get("dag_file_timeout", 30), name="dag_file_timeout")
    except ConfigError as err:
        raise err.at(name, locate(("minorch",))) from None
    log_cap = section.get("log_cap", settings.log_cap)
    if isinstance(log_cap, bool) or not isinstance(log_cap, int) or log_cap < 1024:
        raise fail("log_cap must be a number of bytes of 1024 or more", "log_cap", "write e.g. log_cap = 10485760")
    settings.log_cap = log_cap
    settings.defaults = dict(data.get("defaults", {}))
    from .dag import TASK_OPTIONS, resolve_options, unknown_key
    for key in settings.defaults:
        if key not in TASK_OPTIONS:
            raise unknown_key(key, TASK_OPTIONS, "[defaults]").at(name, locate(("defaults", key)))
    try:
        resolve_options(settings.defaults)
    except MinorchError as err:
        raise err.at(name, locate(("defaults",))) from None
    settings.notifiers = dict(data.get("notifiers", {}))
    settings.dags = dict(data.get("dags", {}))
    return settings
