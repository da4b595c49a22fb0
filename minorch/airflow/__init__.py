"""The `airflow.*` import names, served by minorch while it loads DAG files, so Airflow DAG files run
unmodified with no Airflow installed.

`install(mode)` puts a meta-path finder (`finder.AirflowFinder`) in front of the import system in
the processes that import DAG files (the loader child and the task runtime). Every name it serves
maps onto minorch's own model (`minorch.dag`, `minorch.taskgroup`, ...): there is no second engine.
`mode` is `[minorch] airflow_compat`: "auto" (serve the names unless a real Airflow is importable),
"on" (always serve them) or "off".
"""

from __future__ import annotations

import importlib.util
import os
import sys

MODES = ("auto", "on", "off")
ENV = "MINORCH_AIRFLOW_COMPAT"  # how the mode reaches the loader child and task processes

REAL_AIRFLOW = (
    'a real Airflow is installed, so `import airflow` uses it; set [minorch] airflow_compat = "on" '
    "to load Airflow DAG files with minorch's names instead"
)

CHECK_ENV = "MINORCH_AIRFLOW_CHECK"  # set by `minorch airflow-check`: list every unsupported name, go on loading

#: (file, line, message) of Airflow arguments minorch accepts but ignores, collected while a file loads.
WARNINGS: list[tuple[str | None, int | None, str]] = []
#: The Airflow names a file used (served), and those minorch has no counterpart for (with the reason).
USED: set[str] = set()
UNSUPPORTED: dict[str, str] = {}
#: The operators a file made (their templated fields may hold other tasks' results: see `finish_file`).
OPERATORS: list = []


def start_file() -> None:
    """Forget what the previous file used."""
    WARNINGS.clear()
    USED.clear()
    UNSUPPORTED.clear()
    OPERATORS.clear()


def install(mode: str | None = None) -> str:
    """Serve `airflow.*` in this process as `mode` (default: $MINORCH_AIRFLOW_COMPAT, else "auto") says.
    Returns what happened: "served", "real airflow" (auto mode found one: it is not shadowed) or "off".
    Calling it again changes nothing."""
    from .finder import AirflowFinder

    mode = mode or os.environ.get(ENV) or "auto"
    if mode == "off":
        return "off"
    if any(isinstance(f, AirflowFinder) for f in sys.meta_path):
        return "served"
    if mode == "auto" and _real_airflow():
        return "real airflow"
    sys.meta_path.insert(0, AirflowFinder())
    return "served"


def _real_airflow() -> bool:
    try:
        return importlib.util.find_spec("airflow") is not None
    except (ImportError, ValueError):
        return False


def warn(message: str, file: str | None = None, line: int | None = None) -> None:
    """Note an ignored argument once per file and line (`minorch validate` lists them)."""
    entry = (file, line, message)
    if entry not in WARNINGS:
        WARNINGS.append(entry)


def finish_file(dags: list, path: str) -> None:
    """After a DAG file ran: `dag.doc_md = ...` set after `DAG(...)` is kept; Airflow task callbacks (a
    task's own, or its DAG's `default_args`) become command notifiers that run them in a child process
    (see `callback`); an operator whose templated field holds another task's result (`values=t.output`)
    runs after that task, as in Airflow."""
    for operator in OPERATORS:
        operator._follow_results()
    OPERATORS.clear()
    for made in dags:
        if made.doc_md is not None:
            made.given["doc_md"] = made.doc_md
        shared = made.given.pop("_airflow_callbacks", None) or {}
        for task in made.tasks.values():
            own = {**shared, **(task.given.pop("_airflow_callbacks", None) or {})}
            if not own:
                continue
            from .callback import CALLBACKS, notifier

            CALLBACKS[(made.dag_id, task.task_id)] = own
            for kind in own:
                task.given[kind] = [*task.given.get(kind, made.given.get(kind, [])), notifier(path, kind)]
