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


def __getattr__(name: str):
    """`Variable` and `Connection` load on first use: `minorch --help` and the fork server stay light."""
    if name in ("Variable", "Connection"):
        from . import variables

        return getattr(variables, name)
    raise AttributeError(f"module 'minorch' has no attribute {name!r}")


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
