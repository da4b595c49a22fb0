"""Checks beyond loading, for `minorch validate`: command templates parse and name known values,
DAG folders exist."""

from __future__ import annotations

from .config import Settings, display_path, toml_locator
from .errors import MinorchError
from .registry import Registry, is_folder
from .templates import check


def check_registry(registry: Registry) -> list[MinorchError]:
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
                    check(template, extra=extra)
            except MinorchError as err:
                err.message = f"task '{task.task_id}': {err.message}"
                err.file, err.line = dag.file, task.line
                errors.append(err)
    return errors


def missing_folders(settings: Settings) -> list[str]:
    """One warning per DAG folder that does not exist: ``minorch.toml:4: DAG folder 'dagz' does not exist ...``."""
    locate = toml_locator(settings.text)
    where = f"{display_path(settings.config_file)}:{locate(('minorch', 'dag_folders')) or 1}"
    return [
        f"{where}: DAG folder '{display_path(folder)}' does not exist (create it, or fix dag_folders)"
        for folder in settings.dag_folders
        if not is_folder(folder)
    ]
