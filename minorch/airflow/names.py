"""Small Airflow names with a direct minorch meaning: exceptions, trigger rules, params, states,
week days and the date helpers DAG files use for `start_date`."""

from __future__ import annotations

import enum
from datetime import datetime as _datetime
from datetime import timedelta
from datetime import timezone as _timezone
from typing import Any
from zoneinfo import ZoneInfo

from ..dag import Label, XComArg, chain
from ..dag import cross_downstream as _cross_downstream
from ..errors import SkipTask
from ..params import _MISSING, SCHEMA_KEYS
from ..params import Param as _MinorchParam
from ..states import TriggerRule as _MinorchRule
from ..taskgroup import TaskGroup, _GroupFactory

__all__ = ["Label", "TaskGroup", "XComArg", "chain"]  # served as they are

utc = _timezone.utc


class AirflowException(Exception):
    """Raised by a task: the try fails (and is retried if it has retries left)."""


class AirflowSkipException(AirflowException, SkipTask):
    """Raised by a task: the try ends as skipped."""


class AirflowFailException(AirflowException):
    """Raised by a task: the try fails."""


class AirflowSensorTimeout(AirflowException):
    """A sensor waited longer than its timeout."""


class AirflowTaskTimeout(AirflowException):
    """A task ran longer than its execution_timeout."""


# Airflow's TriggerRule has minorch's 13 names and values, plus the two Airflow 2 names that Airflow 2
# read as newer rules (as aliases, so `TriggerRule.DUMMY` is `TriggerRule.ALWAYS`).
LEGACY_RULES = {"none_failed_or_skipped": "none_failed_min_one_success", "dummy": "always"}


class _Rule(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


TriggerRule = _Rule(  # type: ignore[call-overload]  # the functional Enum API
    "TriggerRule",
    [*((rule.name, rule.value) for rule in _MinorchRule), *((old.upper(), new) for old, new in LEGACY_RULES.items())],
)


class State(str, enum.Enum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    RUNNING = "running"
    QUEUED = "queued"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"


TaskInstanceState = State


class DagRunState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class WeekDay(enum.IntEnum):
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7


def datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, **kw: Any):
    """`airflow.utils.timezone.datetime(...)`: an aware datetime, UTC unless `tzinfo` is given."""
    tz = kw.pop("tzinfo", None) or kw.pop("tz", None) or utc
    if isinstance(tz, str):
        tz = ZoneInfo(tz)
    return _datetime(year, month, day, hour, minute, second, tzinfo=tz, **kw)


def utcnow() -> _datetime:
    return _datetime.now(utc)


def make_aware(value: _datetime, timezone: Any = None) -> _datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone or utc)


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0) -> _datetime:
    """Midnight UTC `n` days ago (Airflow 2's helper for start dates)."""
    today = utcnow().replace(hour=hour, minute=minute, second=second, microsecond=0)
    return today - timedelta(days=n)


class Param(_MinorchParam):
    """Airflow's `Param`: minorch's checks, without the keys that only lay out Airflow's trigger form
    (`section`, `description_md`, ...); other JSON-schema keys minorch does not check are dropped with a
    warning."""

    def __init__(self, default: Any = _MISSING, description: str | None = None, **schema: Any) -> None:
        from ..dag import _caller_location
        from . import warn

        description = description or schema.get("description_md")
        for key in [key for key in schema if key not in SCHEMA_KEYS]:
            del schema[key]
            if key not in _FORM_ONLY:
                warn(f"Param key {key!r} is not checked by minorch", *_caller_location())
        super().__init__(default, description, **schema)


_FORM_ONLY = frozenset({"section", "description_md", "values_display", "custom_html_form", "examples"})
ParamsDict = dict  # `params: ParamsDict` in annotations: the params a task gets are a dict


class _GroupMaker(_GroupFactory):
    """What `@task_group` makes of a function; mapping the whole group is refused with one line."""

    def override(self, **more: Any) -> _GroupMaker:
        return _GroupMaker(self.__wrapped__, {**self.options, **more})

    def expand(self, *args: Any, **kwargs: Any) -> Any:
        from ..errors import DagError

        raise DagError(
            f"mapping the task group {self.__wrapped__.__name__} (.partial/.expand) is not supported by minorch",
            hint="map the tasks inside the group with .expand(...)",
        )

    partial = expand_kwargs = expand


def task_group(func: Any = None, **options: Any) -> Any:
    """`@task_group` / `@task_group(group_id=...)` on a function that makes tasks (see minorch.taskgroup)."""
    return _GroupMaker(func, options) if func is not None else lambda fn: _GroupMaker(fn, options)


def cross_downstream(from_tasks: Any, to_tasks: Any) -> None:
    """Every task of `from_tasks` upstream of every task of `to_tasks` (one task, or a list, as in Airflow)."""
    _cross_downstream(from_tasks, to_tasks if isinstance(to_tasks, (list, tuple)) else [to_tasks])


Context = dict  # `context: Context` in annotations: the context minorch gives is a dict


class timezone:  # noqa: N801 - Airflow's module `airflow.sdk.timezone`, imported as a name
    """`timezone.datetime(...)`, `timezone.utcnow()`, ... as `from airflow.sdk import timezone` gives them."""

    datetime = staticmethod(datetime)
    utcnow = staticmethod(utcnow)
    make_aware = staticmethod(make_aware)
    utc = utc


def get_parsing_context() -> Any:
    """Airflow's hint to a file that makes many DAGs, saying which one is wanted: none here, so it
    makes all of them."""
    from types import SimpleNamespace

    return SimpleNamespace(dag_id=None, task_id=None)


def apply_defaults(func: Any) -> Any:
    """Airflow 1's decorator for an operator's `__init__` (a no-op since Airflow 2): returns `func`."""
    return func


def chain_linear(*items: Any) -> None:
    """Every task of each item upstream of every task of the next: chain_linear([a, b], [c, d])."""
    for left, right in zip(items, items[1:], strict=False):
        cross_downstream(
            left if isinstance(left, (list, tuple)) else [left], right if isinstance(right, (list, tuple)) else [right]
        )


def _asset_name(text: str) -> str:
    """A minorch asset name for an Airflow asset identified by a URI: "s3://b/orders" -> "s3_b_orders"."""
    import re

    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]", "_", text)).strip("_") or "asset"


def Asset(name: str | None = None, uri: str | None = None, **kwargs: Any):  # noqa: N802 - Airflow's spelling
    """Airflow 3's `Asset(name, uri=...)` (a URI as the name is kept as the uri) as a minorch asset."""
    from ..assets import Asset as MinorchAsset

    given = name if name is not None else uri
    if given is None:
        from ..errors import DagError

        raise DagError("Asset() needs a name or a uri", hint='write Asset("orders") or Asset(uri="s3://b/orders")')
    if uri is None and "://" in given:
        uri = given
    description = kwargs.get("extra", {}).get("description") if isinstance(kwargs.get("extra"), dict) else None
    return MinorchAsset(_asset_name(given), uri=uri, description=description)


def Dataset(uri: str, extra: dict | None = None):  # noqa: N802 - Airflow 2's spelling
    """Airflow 2's `Dataset(uri)`: a minorch asset named after the URI."""
    return Asset(uri, uri=uri)


_UNSET = object()


class Variable:
    """Airflow's `Variable.get(key, default, deserialize_json)`: a minorch variable. Airflow 2 named the
    default `default_var`, Airflow 3 `default`; both are taken."""

    @staticmethod
    def get(key: str, default_var: Any = _UNSET, deserialize_json: bool = False, default: Any = _UNSET) -> Any:
        from ..variables import Variable as _MinorchVariable

        given = default if default is not _UNSET else default_var
        if given is _UNSET:
            return _MinorchVariable.get(key, deserialize_json=deserialize_json)
        return _MinorchVariable.get(key, given, deserialize_json)


def _connection():
    from ..variables import Connection

    return Connection


class BaseHook:
    """`BaseHook.get_connection(conn_id)`: a minorch connection."""

    @staticmethod
    def get_connection(conn_id: str):
        return _connection().get(conn_id)


def __getattr__(name: str):
    if name == "Connection":
        return _connection()
    raise AttributeError(name)
