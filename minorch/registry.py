"""Find and load every DAG file; one bad file never hides the rest.

TOML DAGs come from the `[dags]` tables of minorch.toml and of every `*.toml` in the DAG
folders; Python DAGs from every `*.py` there (names starting with `_` are skipped, so
helper modules can live beside DAGs). Python files are imported in one child process
(`minorch.pyloader`) with a per-file timeout, so syntax errors, exceptions, `sys.exit()`
and endless loops are reported as errors with file:line instead of stopping anything.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import airflow, lineage
from .assets import check_declaration
from .config import Settings, display_path, is_layer, read_toml, toml_locator
from .dag import Dag
from .errors import DagError, MinorchError, did_you_mean
from .pyloader import stamp
from .spec import build_dag


@dataclass
class Registry:
    dags: dict[str, Dag] = field(default_factory=dict)
    errors: list[MinorchError] = field(default_factory=list)
    files: dict[Path, float] = field(default_factory=dict)  # every file read, with its mtime
    assets: dict[str, dict] = field(default_factory=dict)  # declared assets: name -> uri, description, ...
    warnings: list[str] = field(default_factory=list)  # `file:line: text` of arguments loaded but ignored
    empty: list[str] = field(default_factory=list)  # Python DAG files that loaded but defined no DAG

    def _add(self, made: Dag) -> None:
        """Add a DAG; of two with one id, the one in the file changed longer ago stays, and the
        error points at the newer file (most likely the copy someone just made)."""
        first = self.dags.get(made.dag_id)
        if first is not None:
            if self._mtime_of(made.file) < self._mtime_of(first.file):
                first, made = made, first
                self.dags[made.dag_id] = first
            self.errors.append(
                DagError(
                    f"DAG id '{made.dag_id}' is already defined in {first.file}:{first.line}",
                    hint="rename one of them; DAG ids are unique across all files",
                    file=made.file,
                    line=made.line,
                )
            )
            return
        self.dags[made.dag_id] = made

    def _mtime_of(self, name: str | None) -> float:
        return next((m for path, m in self.files.items() if display_path(path) == name), 0.0)


def is_folder(path: Path) -> bool:
    """Whether `path` is a folder; a name the file system refuses (too long) is none."""
    try:
        return path.is_dir()
    except OSError:
        return False


def dag_files(settings: Settings) -> tuple[list[Path], list[Path]]:
    """(TOML files, Python files) in the DAG folders and their subfolders, sorted.

    Skipped: minorch.toml itself and its environments' layers (minorch.prod.toml), and every
    file or folder whose name starts with `_` or `.`
    (helper modules, `__pycache__`, `.venv`, `.git`).
    """
    tomls: list[Path] = []
    pys: list[Path] = []
    for folder in settings.dag_folders:
        if not is_folder(folder):
            continue
        found = []
        for top, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]  # never walk into .venv or .git
            found += [Path(top) / n for n in names if not n.startswith(("_", ".")) and n.endswith((".toml", ".py"))]
        for path in sorted(found):
            if path != settings.config_file and not is_layer(path, settings.config_file) and path.is_file():
                (tomls if path.suffix == ".toml" else pys).append(path)
    return tomls, pys


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def file_stamps(settings: Settings, found: tuple[list[Path], list[Path]] | None = None) -> dict[Path, float]:
    """minorch.toml (and its layer) and every DAG file with its mtime: a reload is due when this changes."""
    tomls, pys = found or dag_files(settings)
    return {path: _mtime(path) for path in [*settings.config_files, *tomls, *pys]}


def load(settings: Settings, *, cached: bool = False) -> Registry:
    """Every DAG of the project. `cached`: take a Python DAG file's DAGs from the last load (see
    `import_python_cached`) when neither it nor any of the project's own modules it may import
    changed since; for commands that only list. Without, every Python file is imported."""
    reg = Registry()
    tomls, pys = dag_files(settings)
    reg.files = file_stamps(settings, (tomls, pys))
    build: dict[str, Any] = {
        "defaults": settings.defaults,
        "default_timezone": settings.timezone,
        "pools": settings.pools,
        "notifiers": settings.notifiers,
    }
    _load_assets(reg, settings.assets, settings.text, display_path(settings.config_file), settings.notifiers)
    _load_tables(reg, settings.dags, settings.text, display_path(settings.config_file), build)
    for path in tomls:
        try:
            data, text = read_toml(path)
        except MinorchError as err:
            reg.errors.append(err)
            continue
        name = display_path(path)
        _load_assets(reg, data.get("assets", {}), text, name, settings.notifiers)
        extra = set(data) - {"dags", "assets"}
        if extra:
            key = sorted(extra)[0]
            reg.errors.append(
                DagError(
                    f"unknown table [{key}] in a DAG file",
                    file=name,
                    line=toml_locator(text)((key,)),
                    hint="DAG files hold [dags.<id>] tables; settings belong in minorch.toml",
                )
            )
        _load_tables(reg, data.get("dags", {}), text, name, build)
    if settings.airflow_compat != "auto":  # the loader child and task processes inherit it
        os.environ[airflow.ENV] = settings.airflow_compat
    if cached:
        results = import_python_cached(pys, settings.dag_file_timeout, _cache_file(settings))
    else:
        results = import_python(pys, settings.dag_file_timeout)
    if any(result.get("real_airflow") for result in results):
        reg.warnings.append(airflow.REAL_AIRFLOW)
    for result in results:
        name = display_path(Path(result["file"]))
        reg.warnings.extend(
            f"{name}:{w['line']}: {w['warning']}" if w["line"] else f"{name}: {w['warning']}"
            for w in result.get("warnings", ())
        )
        if "error" in result:
            reg.errors.append(DagError(result["error"], file=name, line=result.get("line"), hint=result.get("hint")))
            continue
        if not result["dags"]:
            reg.empty.append(name)
        for dag_id, spec in result["dags"].items():
            try:
                made = build_dag(dag_id, spec, file=name, **build)
            except MinorchError as err:
                reg.errors.extend(err.every())
                continue
            made.source_path = result["file"]
            reg._add(made)
        for asset, table in result.get("assets", {}).items():
            try:
                reg.assets[asset] = check_declaration(asset, table)
            except MinorchError as err:
                reg.errors.append(err.at(name))
    reg.errors += lineage.check(reg.dags, reg.assets)
    return reg


def _load_assets(reg: Registry, tables, text: str, name: str, notifiers) -> None:
    """[assets.NAME] tables: each a declaration; a bad one (or one naming an undefined notifier) is one error."""
    if tables == {}:  # most DAG files declare none: no need to locate lines
        return
    locate = toml_locator(text)
    if not isinstance(tables, dict):
        reg.errors.append(DagError("[assets] must hold tables", file=name, line=locate(("assets",))))
        return
    for asset, table in tables.items():
        try:
            declared = check_declaration(asset, table)
            for target in declared.get("on_stale", []):
                if isinstance(target, str) and target not in notifiers:
                    raise DagError(
                        f"asset '{asset}' uses notifier '{target}', which is not defined",
                        hint=did_you_mean(target, notifiers) or f"add a [notifiers.{target}] table to minorch.toml",
                    )
            reg.assets[asset] = declared
        except MinorchError as err:
            reg.errors.append(err.at(name, locate(("assets", asset, "on_stale")) or locate(("assets", asset))))


def _load_tables(reg: Registry, tables, text: str, name: str, build: dict) -> None:
    if not tables:
        return
    locate = toml_locator(text)
    if not isinstance(tables, dict):
        reg.errors.append(DagError("[dags] must hold tables", file=name, line=locate(("dags",))))
        return
    for dag_id, spec in tables.items():
        try:
            if not isinstance(spec, dict):
                raise DagError(f"dags.{dag_id} must be a table", hint=f"write [dags.{dag_id}]")
            made = build_dag(dag_id, spec, file=name, locate=locate, **build)
        except MinorchError as err:
            reg.errors.extend(e.at(name, locate(("dags", dag_id))) for e in err.every())
            continue
        reg._add(made)


def import_python(paths: list[Path], timeout: float) -> list[dict]:
    """Import files in a child; a child that stops answering is killed and restarted after the file.

    The child interrupts a slow file itself after `timeout` seconds; the parent waits `margin`
    longer (for the child's start and for files that block the alarm) before it kills the child.
    """
    import selectors
    import subprocess

    results: list[dict] = []
    margin = min(5.0, 1.0 + timeout)
    pending = [str(p.resolve()) for p in paths]
    while pending:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent.parent), env.get("PYTHONPATH")]))
        child = subprocess.Popen(
            [sys.executable, "-m", "minorch.pyloader", str(timeout), *pending],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        out = child.stdout
        assert out is not None  # stdout=PIPE
        sel = selectors.DefaultSelector()
        sel.register(out, selectors.EVENT_READ)
        buffer = b""
        deadline = time.monotonic() + timeout + margin
        while pending:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                results.append(
                    {
                        "file": pending.pop(0),
                        "error": f"did not finish loading within {timeout:g}s",
                        "hint": "a DAG file must only define DAGs; move slow work into tasks",
                    }
                )
                child.kill()
                break
            chunk = os.read(out.fileno(), 65536)
            if not chunk:
                child.wait()
                results.append(
                    {
                        "file": pending.pop(0),
                        "error": f"the loader died (exit {child.returncode}) while importing this file",
                        "hint": "look for os._exit or a crash in native code",
                    }
                )
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                result = json.loads(line)
                results.append(result)
                pending.remove(result["file"])
                deadline = time.monotonic() + timeout + margin
        sel.close()
        out.close()
        if child.poll() is None:
            child.kill()
        child.wait()
    return results


CACHE_VERSION = 1


def _cache_file(settings: Settings) -> Path:
    """Where the loaded Python DAG files of this project are kept between list-only commands:
    the user's cache folder, one file per minorch.toml (derived data; deleting it costs one load)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minorch"
    # A checksum is enough: entries are keyed by absolute paths and checked by stamps, so two
    # projects sharing a file only evict each other's entries.
    key = zlib.crc32(f"{settings.config_file.resolve()} {settings.env_name}".encode())
    return base / f"dagfiles-{key:08x}.json"


def code_stamp(package: Path = Path(__file__).parent) -> int:
    """A checksum of the `stamp` of each of minorch's own modules: a kept load is not reused once
    minorch itself changed (an upgrade, an edit in a checkout), which may load the same file
    differently. About 0.7 ms."""
    stamps = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        stamps += [f"{folder}/{name} {stamp(os.path.join(folder, name))}" for name in files if name.endswith(".py")]
    return zlib.crc32("\n".join(sorted(stamps)).encode())


def import_python_cached(paths: list[Path], timeout: float, cache: Path) -> list[dict]:
    """`import_python`, reusing the result of each file whose stamp, and the stamps of the
    project's own modules its load imported (`modules` in the loader's answer), are those of the
    last load; the environment that shapes loading (the interpreter, `airflow_compat`, minorch's
    own code) is part of the key. Only the other files are imported; the cache is rewritten when any was. A cache
    that cannot be read or written is ignored."""
    key = [CACHE_VERSION, sys.executable, os.environ.get(airflow.ENV), code_stamp()]
    try:
        kept = json.loads(cache.read_text())
        entries = kept["files"] if kept.get("key") == key else {}
    except (OSError, ValueError, KeyError, TypeError):
        entries = {}
    wanted = [str(p.resolve()) for p in paths]
    fresh = {
        path: entries[path]
        for path in wanted
        if path in entries
        and entries[path]["stamp"] == stamp(path)
        and all(stamp(module) == was for module, was in entries[path]["modules"].items())
    }
    stale = [path for path in wanted if path not in fresh]
    if stale:
        for result in import_python([Path(path) for path in stale], timeout):
            modules = result.pop("modules", {})
            fresh[result["file"]] = {"stamp": result.pop("stamp", None), "modules": modules, "result": result}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"key": key, "files": fresh}))
            os.replace(tmp, cache)
        except OSError:
            pass
    return [fresh[path]["result"] for path in wanted if path in fresh]
