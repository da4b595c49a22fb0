"""minorch: Airflow's model — DAGs, cron schedules, retries, timeouts, backfills — in one
process and one SQLite file, with a terminal UI.

The Python API for DAG files::

    from minorch import DAG, task, shell

    with DAG("etl", schedule="@daily", retries=2):
        extract = shell("extract", "curl -fsS https://example.com/{{ ds }}.csv -o /data/{{ ds }}.csv")

        @task
        def load(ds):
            ...

        extract >> load()
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .asset_decorators import asset, multi_asset
    from .assets import Asset
    from .dag import (
        DAG,
        Label,
        PokeReturnValue,
        XComArg,
        chain,
        cross_downstream,
        dag,
        date_time_sensor,
        day_of_week_sensor,
        empty,
        external_task_marker,
        external_task_sensor,
        latest_only,
        sensor,
        setup,
        shell,
        task,
        teardown,
        time_delta_sensor,
        trigger_dag,
    )
    from .errors import SkipTask
    from .params import Param
    from .taskgroup import TaskGroup, task_group
    from .variables import Connection, Variable

# Where each public name lives. They load on first use, so `minorch --help`, the CLI and the fork
# server do not pay for the DAG API (and asyncio, inspect, ...) when they do not use it.
_HOMES = {
    "asset": "asset_decorators",
    "multi_asset": "asset_decorators",
    "Asset": "assets",
    "SkipTask": "errors",
    "Param": "params",
    "TaskGroup": "taskgroup",
    "task_group": "taskgroup",
    "Variable": "variables",
    "Connection": "variables",
    **dict.fromkeys(
        [
            "DAG",
            "Label",
            "PokeReturnValue",
            "XComArg",
            "chain",
            "cross_downstream",
            "dag",
            "date_time_sensor",
            "day_of_week_sensor",
            "empty",
            "external_task_marker",
            "external_task_sensor",
            "latest_only",
            "sensor",
            "setup",
            "shell",
            "task",
            "teardown",
            "time_delta_sensor",
            "trigger_dag",
        ],
        "dag",
    ),
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'minorch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    if name != "dag":
        globals()[name] = value
    return value


class _Package(types.ModuleType):
    """`minorch.dag` is the `@dag` decorator, as `from minorch import dag` expects, even after the
    submodule `minorch.dag` was imported (which sets the package's attribute to the module)."""

    @property
    def dag(self) -> object:
        return importlib.import_module(".dag", __name__).dag

    @dag.setter
    def dag(self, module: object) -> None:
        pass  # the import system recording the submodule; sys.modules has it


sys.modules[__name__].__class__ = _Package

__all__ = [
    "DAG",
    "Asset",
    "Connection",
    "Label",
    "Param",
    "PokeReturnValue",
    "SkipTask",
    "TaskGroup",
    "Variable",
    "XComArg",
    "asset",
    "chain",
    "cross_downstream",
    "dag",
    "multi_asset",
    "date_time_sensor",
    "day_of_week_sensor",
    "empty",
    "external_task_marker",
    "external_task_sensor",
    "latest_only",
    "sensor",
    "setup",
    "shell",
    "task",
    "task_group",
    "teardown",
    "time_delta_sensor",
    "trigger_dag",
]
__version__ = "0.1.0"
