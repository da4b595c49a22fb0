"""`minorch import-crontab`: read a crontab from a file, stdin or `crontab -l`, write a DAG file."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from .crontab import ConvertedCrontab, host_timezone, is_system_crontab, parse_crontab
from .crontab_output import to_python, to_toml
from .errors import ConfigError, MinorchError


def read_source(source: str | None) -> tuple[bytes, str]:
    """(content, name) of the crontab to import."""
    if source == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    if source is None:
        try:
            done = subprocess.run(["crontab", "-l"], capture_output=True, timeout=30)
        except FileNotFoundError:
            raise ConfigError(
                "no crontab command on this host", hint="pass the crontab file: import-crontab FILE"
            ) from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise ConfigError(f"`crontab -l` failed: {message}", hint="pass the crontab file: import-crontab FILE")
        return done.stdout, "crontab -l"
    path = Path(source)
    try:
        return path.read_bytes(), source
    except OSError as err:
        raise ConfigError(f"{source}: {err.strerror}", hint="check the path") from None


def default_output(app) -> Path:
    try:
        folders = app.settings.dag_folders
    except MinorchError:
        return Path("dags") / "crontab.toml"
    return folders[0] / "crontab.toml"


WRITERS = {".toml": to_toml, ".py": to_python}


def import_crontab(
    app,
    source: str | None,
    *,
    system: bool,
    output: Path | None,
    anacron: bool,
    force: bool,
    retries: int = 0,
    retry_delay: float = 300.0,
) -> tuple[Path | None, ConvertedCrontab]:
    """Convert and write; returns (path written, or None for stdout or when nothing was imported,
    the conversion). The output's suffix picks the format: .toml or .py; stdout gets TOML."""
    to_stdout = output is not None and str(output) == "-"
    target = None if to_stdout else output or default_output(app)
    if target is not None:
        if target.suffix not in WRITERS:
            raise ConfigError(
                f"-o {target}: a DAG file ends in .toml or .py", hint=f"write e.g. -o {target.with_suffix('.toml')}"
            )
        if target.exists() and not force:
            raise ConfigError(f"{target} already exists", hint="pass --force to overwrite, or -o another file")
    content, name = read_source(source)
    system = system or (source not in (None, "-") and is_system_crontab(source))
    converted = parse_crontab(content, source=name, system=system, timezone=host_timezone())
    write = WRITERS[".toml" if target is None else target.suffix]
    text = write(converted, anacron=anacron, retries=retries, retry_delay=retry_delay, now=datetime.now().astimezone())
    if to_stdout:
        sys.stdout.write(text)
        return None, converted
    if not converted.entries or target is None:
        return None, converted
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as err:
        raise ConfigError(f"cannot write {target}: {err.strerror}", hint="choose another file with -o") from None
    return target, converted
