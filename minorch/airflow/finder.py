"""Which `airflow.*` module serves which names, and the meta-path finder that serves them.

Airflow 2 and 3 put the same names under several paths (`airflow.operators.bash`,
`airflow.providers.standard.operators.bash`, `airflow.sdk`, ...); each path below lists the names
it offers, all taken from minorch.airflow's own modules. A path that is not listed (a provider
minorch has no counterpart for) still imports, but naming anything from it is a load error that
says what to use instead, so an unsupported operator is never silently ignored.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import types
from typing import TYPE_CHECKING, cast

from ..errors import DagError, did_you_mean

if TYPE_CHECKING:
    import importlib.abc

_DAG = ("DAG", "dag")
_TASKFLOW = ("task", "task_group", "setup", "teardown")
_CHAIN = ("chain", "cross_downstream", "chain_linear")
_BASH = ("BashOperator",)
_PYTHON = ("PythonOperator", "BranchPythonOperator", "ShortCircuitOperator", "get_current_context")
_SENSOR_BASE = ("BaseSensorOperator", "PokeReturnValue")
_EXCEPTIONS = (
    "AirflowException",
    "AirflowSkipException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowTaskTimeout",
)

_TIMEZONE = ("datetime", "utcnow", "make_aware", "utc")

# module path -> the names it serves (each found in one of minorch.airflow's modules)
SERVED: dict[str, tuple[str, ...]] = {
    "airflow": ("DAG", "XComArg", "Dataset"),
    "airflow.sdk": (
        *_DAG,
        *_TASKFLOW,
        *_CHAIN,
        "TaskGroup",
        "Label",
        "Param",
        "BaseOperator",
        "XComArg",
        "Variable",
        "Connection",
        "Asset",
        "BaseHook",
        "get_current_context",
        "PokeReturnValue",
        "BaseSensorOperator",
        "TriggerRule",
        "Context",
        "timezone",
    ),
    "airflow.sdk.definitions.param": ("Param",),
    "airflow.sdk.exceptions": _EXCEPTIONS,
    "airflow.sdk.timezone": _TIMEZONE,
    "airflow.models": ("DAG", "BaseOperator", "Param", "XComArg", "Variable", "Connection"),
    "airflow.models.variable": ("Variable",),
    "airflow.models.connection": ("Connection",),
    "airflow.hooks.base": ("BaseHook",),
    "airflow.hooks.base_hook": ("BaseHook",),
    "airflow.datasets": ("Dataset",),
    "airflow.models.dataset": ("Dataset",),
    "airflow.sdk.definitions.asset": ("Asset",),
    "airflow.models.dag": ("DAG",),
    "airflow.models.baseoperator": ("BaseOperator", *_CHAIN),
    "airflow.models.param": ("Param", "ParamsDict"),
    "airflow.models.xcom_arg": ("XComArg",),
    "airflow.decorators": (*_DAG, *_TASKFLOW),
    "airflow.exceptions": _EXCEPTIONS,
    "airflow.utils.trigger_rule": ("TriggerRule",),
    "airflow.utils.task_group": ("TaskGroup",),
    "airflow.utils.edgemodifier": ("Label",),
    "airflow.utils.helpers": _CHAIN,
    "airflow.utils.dates": ("days_ago",),
    "airflow.utils.timezone": _TIMEZONE,
    "airflow.utils.context": ("Context",),
    "airflow.utils.decorators": ("apply_defaults",),
    "airflow.utils.state": ("State", "TaskInstanceState", "DagRunState"),
    "airflow.operators.bash": _BASH,
    "airflow.operators.bash_operator": _BASH,
    "airflow.operators.python": (*_PYTHON, "task"),
    "airflow.operators.python_operator": _PYTHON,
    "airflow.operators.empty": ("EmptyOperator",),
    "airflow.operators.dummy": ("DummyOperator", "EmptyOperator"),
    "airflow.operators.dummy_operator": ("DummyOperator",),
    "airflow.operators.latest_only": ("LatestOnlyOperator",),
    "airflow.operators.latest_only_operator": ("LatestOnlyOperator",),
    "airflow.operators.trigger_dagrun": ("TriggerDagRunOperator",),
    "airflow.operators.weekday": ("BranchDayOfWeekOperator",),
    "airflow.operators.datetime": ("BranchDateTimeOperator",),
    "airflow.providers.standard.operators.weekday": ("BranchDayOfWeekOperator",),
    "airflow.providers.standard.operators.datetime": ("BranchDateTimeOperator",),
    "airflow.sensors.base": _SENSOR_BASE,
    "airflow.sensors.bash": ("BashSensor",),
    "airflow.sensors.python": ("PythonSensor",),
    "airflow.sensors.filesystem": ("FileSensor",),
    "airflow.sensors.time_sensor": ("TimeSensor", "TimeSensorAsync"),
    "airflow.sensors.time_delta": ("TimeDeltaSensor", "TimeDeltaSensorAsync"),
    "airflow.sensors.date_time": ("DateTimeSensor", "DateTimeSensorAsync"),
    "airflow.sensors.weekday": ("DayOfWeekSensor",),
    "airflow.sensors.external_task": ("ExternalTaskSensor", "ExternalTaskMarker"),
    "airflow.providers.standard.operators.bash": _BASH,
    "airflow.providers.standard.operators.python": _PYTHON,
    "airflow.providers.standard.operators.empty": ("EmptyOperator",),
    "airflow.providers.standard.operators.latest_only": ("LatestOnlyOperator",),
    "airflow.providers.standard.operators.trigger_dagrun": ("TriggerDagRunOperator",),
    "airflow.providers.standard.sensors.bash": ("BashSensor",),
    "airflow.providers.standard.sensors.python": ("PythonSensor",),
    "airflow.providers.standard.sensors.filesystem": ("FileSensor",),
    "airflow.providers.standard.sensors.time": ("TimeSensor", "TimeSensorAsync"),
    "airflow.providers.standard.sensors.time_delta": ("TimeDeltaSensor", "TimeDeltaSensorAsync"),
    "airflow.providers.standard.sensors.date_time": ("DateTimeSensor", "DateTimeSensorAsync"),
    "airflow.providers.standard.sensors.weekday": ("DayOfWeekSensor",),
    "airflow.providers.standard.sensors.external_task": ("ExternalTaskSensor", "ExternalTaskMarker"),
    "airflow.providers.standard.utils.weekday": ("WeekDay",),
    "airflow.utils.weekday": ("WeekDay",),
}
# Airflow's providers import the SDK's names through a compatibility module; some DAG files copy that.
SERVED["airflow.providers.common.compat.sdk"] = (*SERVED["airflow.sdk"], *_EXCEPTIONS)

# Where minorch.airflow keeps each name.
_HOMES = ("operators", "sensors", "dagargs", "names")

_NO_METADATA = "minorch has no metadata database to query; read runs and tries with `minorch runs --json`"

# What to write instead of classes minorch does not have (matched on the class name).
_INSTEAD = (
    ("SparkSubmit", "run `spark-submit ...` in a BashOperator (a minorch shell task)"),
    ("KubernetesPod", "run the container with `kubectl run --rm -i ...` or `docker run ...` in a BashOperator"),
    ("Docker", "run `docker run ...` in a BashOperator"),
    ("SSH", "run `ssh host command` in a BashOperator"),
    ("SFTP", "run `sftp`/`scp` in a BashOperator"),
    ("Sql", "run `psql`/`sqlite3`/`mysql` in a BashOperator, or query with the driver in a @task"),
    ("Postgres", "run `psql` in a BashOperator, or query with the driver in a @task"),
    ("MySql", "run `mysql` in a BashOperator, or query with the driver in a @task"),
    ("Email", "use a mail notifier (on_failure = [{ mail = ... }]) or `mail` in a BashOperator"),
    ("Http", "call the URL with `curl -fsS` in a BashOperator, or with urllib in a @task"),
    ("S3", "run `aws s3 ...` in a BashOperator, or use boto3 in a @task"),
    ("GCS", "run `gsutil ...` in a BashOperator, or use the client library in a @task"),
    ("BigQuery", "run `bq ...` in a BashOperator, or use the client library in a @task"),
    ("Virtualenv", "run the other interpreter in a BashOperator (`/path/to/venv/bin/python script.py`)"),
    ("ExternalPython", "run the other interpreter in a BashOperator (`/path/to/python script.py`)"),
    ("Alias", "name the assets themselves in outlets=[...] and schedule=[...]"),
    *((model, _NO_METADATA) for model in ("DagRun", "TaskInstance", "DagModel", "DagBag", "Session")),
    ("Timetable", 'use a cron expression, a preset such as "@daily", a timedelta, or a list of assets as schedule'),
    ("Hook", "use the service's client library inside a @task function"),
    ("Operator", "write it as a @task function or a BashOperator"),
    ("Sensor", "write it as a @task.sensor function or a BashSensor"),
)
_INSTEAD_NAMED = {
    "asset": "write a DAG whose task has outlets=[Asset(...)], which is what @asset makes",
    **dict.fromkeys(("conf", "configuration", "settings"), "read your own settings with Variable.get(...)"),
}
_GENERIC = (None, *(text for key, text in _INSTEAD if key in ("Operator", "Sensor")))


def unsupported(module: str, name: str) -> DagError:
    """The load error for `from module import name` when minorch has no such thing there."""
    homes = sorted(path for path, names in SERVED.items() if name in names)
    if homes:
        return DagError(f"{name} is not in {module}", hint=f"import it from {homes[0]}")
    hint = _INSTEAD_NAMED.get(name) or next((text for key, text in _INSTEAD if key.lower() in name.lower()), None)
    close = did_you_mean(name, SERVED.get(module, ()))
    if close and hint in _GENERIC:  # PythonVirtualenvOperator is no misspelt PythonOperator
        return DagError(f"{name} is not in {module}", hint=close)
    return DagError(
        f"{name} from {module} is not supported by minorch",
        hint=hint or "see docs/moving-from-airflow.md for what minorch offers; `minorch airflow-check` lists it",
    )


_NOT_YET: dict[str, str] = {}


def _lookup(name: str):
    for home in _HOMES:
        module = importlib.import_module(f"minorch.airflow.{home}")
        if hasattr(module, name):
            return getattr(module, name)
    raise DagError(f"{name} is not supported by minorch yet", hint=_NOT_YET.get(name))


def _is_package(fullname: str) -> bool:
    return fullname == "airflow" or any(path.startswith(fullname + ".") for path in SERVED)


class _Loader:
    """Each served module looks its names up when they are used, so the loader knows what a file used.
    (The import system needs only these two methods; importlib.abc, which pulls in importlib.resources,
    tempfile and shutil, would cost every process that loads DAG files about 10 ms.)"""

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        fullname = module.__name__
        names = SERVED.get(fullname, ())

        def attribute(name: str, _module: str = fullname, _names: tuple = names):
            if name.startswith("_"):
                raise AttributeError(name)
            if name in _names:
                from . import USED

                USED.add(name)
                return _lookup(name)
            below = f"{_module}.{name}"
            if below in SERVED or _is_package(below):  # `import airflow` then `airflow.utils.dates.days_ago(1)`
                return importlib.import_module(below)
            return _missing(_module, name)

        vars(module).update(__getattr__=attribute, __all__=list(names))  # PEP 562: looked up in the module's dict


def _missing(module: str, name: str):
    """A name minorch does not serve (a class, a function or a module of Airflow's): a load error, or
    (while `minorch airflow-check` runs) a stand-in, so the rest of the file is checked too."""
    from . import CHECK_ENV, UNSUPPORTED

    err = unsupported(module, name)
    if not os.environ.get(CHECK_ENV):
        raise err
    UNSUPPORTED[name] = str(err)
    if name[:1].islower():
        return _Inert(name)
    from .operators import EmptyOperator

    namespace = {"__init__": _stand_in_init, "__getattr__": _stand_in_attribute, "__repr__": _stand_in_repr}
    return _StandIn(name, (EmptyOperator,), namespace)


class _Inert:
    """Stands in for an unsupported function or value: calls, attributes and items give another stand-in;
    used as a decorator (`@name` or `@name(...)`), it leaves the function as it was."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and inspect.isfunction(args[0]):
            return args[0]
        return self

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(f"{self._name}.{name}")

    def __getitem__(self, key):
        return self

    def __repr__(self) -> str:
        return self._name


class _StandIn(type):
    """The class of a stand-in for an unsupported class: `conf.get(...)`, `Hook.method` are stand-ins too."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert(f"{cls.__name__}.{name}")


def _stand_in_init(self, *args, task_id: str = "unsupported", dag=None, task_group=None, **kwargs) -> None:
    """An empty task where the class is created as an operator (in a DAG); otherwise (a hook, a
    timetable, an asset alias) no task."""
    from ..dag import _CONTEXT
    from .operators import EmptyOperator

    if dag is not None or _CONTEXT:
        EmptyOperator.__init__(self, task_id=task_id, dag=dag, task_group=task_group)


def _stand_in_attribute(self, name: str):
    task = self.__dict__.get("_task")
    if name.startswith("__") or task is not None and hasattr(task, name):
        return getattr(task, name) if task is not None else object.__getattribute__(self, name)
    return _Inert(f"{type(self).__name__}.{name}")


def _stand_in_repr(self) -> str:
    return f"{type(self).__name__}(...)"


class AirflowFinder:
    """Finds `airflow` and every `airflow.*` module (served from minorch.airflow)."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname == "pendulum":
            return self._pendulum()
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        spec = importlib.machinery.ModuleSpec(fullname, cast("importlib.abc.Loader", _Loader()), is_package=True)
        spec.submodule_search_locations = []
        return spec

    def _pendulum(self):
        """minorch's few pendulum calls, when the real pendulum is not installed."""
        for finder in sys.meta_path:
            if finder is not self and getattr(finder, "find_spec", None):
                found = finder.find_spec("pendulum", None)
                if found is not None:
                    return None
        return importlib.util.find_spec("minorch.airflow.pendulum")


def served_names() -> set[str]:
    """Every name some `airflow.*` path serves (for `minorch airflow-check`)."""
    return {name for names in SERVED.values() for name in names}
