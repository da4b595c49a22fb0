"""Checks beyond loading, for `minorch validate`: command templates parse and name known values,
Python task targets import and are callable, DAG folders exist, Python files define DAGs."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from .config import Settings, display_path, toml_locator
from .errors import DagError, MinorchError
from .registry import Registry, is_folder

# `{{ name }}` or `{{ name.key }}`: most commands use nothing else.
_PLAIN_OUTPUT = re.compile(r"\{\{\s*([A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*\s*\}\}")


def check_registry(registry: Registry) -> list[MinorchError]:
    """Every command and sensor template parses and names only values a try will have. Templates
    of plain known names are passed without Jinja (see `plainly_known`); the others, and the
    import of Jinja, only when some template needs it."""
    from .context import CONTEXT_NAMES

    errors: list[MinorchError] = []
    for dag in registry.dags.values():
        for task in dag.tasks.values():
            templates = [
                t
                for t in (
                    task.command,
                    (task.sensor or {}).get("command"),
                    (task.sensor or {}).get("file"),
                    (task.sensor or {}).get("until"),
                )
                if t is not None
            ]
            extra = frozenset({task.map_as, "map_index"}) if task.map_over is not None else frozenset()
            try:
                for template in templates:
                    if not plainly_known(template, CONTEXT_NAMES | extra):
                        from .templates import check

                        check(template, extra=extra)
            except MinorchError as err:
                err.message = f"task '{task.task_id}': {err.message}"
                err.file, err.line = dag.file, task.line
                errors.append(err)
    return errors


def plainly_known(template: str, known: frozenset[str]) -> bool:
    """Whether Jinja would accept `template` with every name it uses in `known`, decided without
    Jinja: no ``{%`` or ``{#`` anywhere, and each ``{{`` (taken left to right, as Jinja's lexer
    does) opens a `_PLAIN_OUTPUT` of a known name. False means "ask Jinja", not "wrong"."""
    if "{%" in template or "{#" in template:
        return False
    start = template.find("{{")
    while start != -1:
        output = _PLAIN_OUTPUT.match(template, start)
        if output is None or output.group(1) not in known:
            return False
        start = template.find("{{", output.end())
    return True


def check_targets(settings: Settings, registry: Registry) -> list[MinorchError]:
    """Import every `python = "module:function"` target in a loader child, as a try would, with
    the DAG file timeout for each; one error per task whose target a try could not call."""
    users: dict[str, list] = {}
    for dag in registry.dags.values():
        for task in dag.tasks.values():
            if task.python is not None:
                users.setdefault(task.python, []).append((dag, task))
    if not users:
        return []
    import subprocess  # here: most projects have no such target

    timeout = settings.dag_file_timeout
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent.parent), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "minorch.pyloader", "--targets", str(timeout), str(settings.root), *users]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=settings.root,
            timeout=(timeout + 1.0) * len(users) + 5.0,
        )
        answers = {r["ref"]: r["error"] for r in map(json.loads, done.stdout.decode().splitlines())}
    except subprocess.TimeoutExpired:
        answers = {}
    errors: list[MinorchError] = []
    for ref, tasks in users.items():
        problem = answers.get(ref, "importing it did not finish (the loader was stopped)")
        if problem is None:
            continue
        for dag, task in tasks:
            errors.append(
                DagError(
                    f"task '{task.task_id}': {problem}",
                    file=dag.file,
                    line=task.line,
                    hint="every try of this task would fail the same way",
                )
            )
    return errors


def empty_files(registry: Registry) -> list[str]:
    """One warning per Python DAG file that defines no DAG (a `@dag` function never called?)."""
    return [
        f"{name}: defines no DAG (a @dag function must be called, e.g. `etl()` at the end of the file; "
        "a DAG made with `with DAG(...)` must be at the top level)"
        for name in registry.empty
    ]


def missing_folders(settings: Settings) -> list[str]:
    """One warning per DAG folder that does not exist: ``minorch.toml:4: DAG folder 'dagz' does not exist ...``."""
    locate = toml_locator(settings.text)
    where = f"{display_path(settings.config_file)}:{locate(('minorch', 'dag_folders')) or 1}"
    return [
        f"{where}: DAG folder '{display_path(folder)}' does not exist (create it, or fix dag_folders)"
        for folder in settings.dag_folders
        if not is_folder(folder)
    ]
