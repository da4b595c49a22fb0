"""Checks beyond loading, for `minorch validate`: command templates parse and name known values."""

from __future__ import annotations

from .errors import MinorchError
from .registry import Registry
from .templates import check


def check_registry(registry: Registry) -> list[MinorchError]:
    errors: list[MinorchError] = []
    for dag in registry.dags.values():
        for task in dag.tasks.values():
            if task.command is None:
                continue
            try:
                check(task.command)
            except MinorchError as err:
                err.message = f"task '{task.task_id}': {err.message}"
                err.file, err.line = dag.file, task.line
                errors.append(err)
    return errors
