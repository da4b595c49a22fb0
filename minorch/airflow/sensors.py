"""Airflow's sensors as minorch sensors, which never hold a slot between pokes.

`poke_interval` and `timeout` (the whole wait, seconds or a timedelta) and `soft_fail` keep their
meanings; `mode` ("poke"/"reschedule") makes no difference in minorch. A `BaseSensorOperator`
subclass of the user's own is poked as a short try calling its `poke(context)`, as `PythonSensor`
and `@task.sensor` are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from ..dag import (
    PokeReturnValue,
    date_time_sensor,
    day_of_week_sensor,
    external_task_marker,
    external_task_sensor,
    sensor,
    time_delta_sensor,
)
from ..dag import task as _minorch_task
from .dagargs import seconds
from .operators import BaseOperator, _with_macros, call_airflow_style, render_value, unquoted

__all__ = ["PokeReturnValue"]


class BaseSensorOperator(BaseOperator):
    """Base of the sensors below; a subclass of the user's own overrides `poke(context) -> bool`."""

    def __init__(
        self, *, poke_interval: Any = 60, timeout: Any = 7 * 24 * 3600, soft_fail: bool = False, **kwargs: Any
    ) -> None:
        kwargs.update(poke_interval=seconds(poke_interval), timeout=seconds(timeout), soft_fail=soft_fail)
        for ignored in ("exponential_backoff", "max_wait", "mode"):
            kwargs.pop(ignored, None)
        super().__init__(**kwargs)

    def _create(self, task_id: str, options: dict):
        return _minorch_task.sensor(self._poke, task_id=task_id, **options)()

    def _poke(self, **context: Any) -> Any:
        context = _with_macros(context)
        for name in self.template_fields:
            if hasattr(self, name):
                setattr(self, name, render_value(getattr(self, name), context))
        return self.poke(context)

    def poke(self, context: dict) -> bool | PokeReturnValue:
        raise NotImplementedError(f"{type(self).__name__} does not define poke(context)")


class PythonSensor(BaseSensorOperator):
    """Pokes `python_callable(*op_args, **op_kwargs)` (with context values) until it returns something truthy."""

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Sequence | None = None,
        op_kwargs: dict | None = None,
        templates_dict: dict | None = None,
        **kw: Any,
    ) -> None:
        self.python_callable, self.op_args, self.op_kwargs = python_callable, list(op_args or ()), op_kwargs or {}
        self.templates_dict = templates_dict
        super().__init__(**kw)

    def poke(self, context: dict) -> Any:
        if self.templates_dict is not None:
            context["templates_dict"] = render_value(self.templates_dict, context)
        args, kwargs = render_value(self.op_args, context), render_value(self.op_kwargs, context)
        return call_airflow_style(self.python_callable, context, args, kwargs)


class FileSensor(BaseSensorOperator):
    """Waits until `filepath` (a glob, templated) exists."""

    def __init__(self, *, filepath: str, fs_conn_id: str | None = None, recursive: bool = False, **kw: Any) -> None:
        self.filepath = filepath
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        return sensor(task_id, file=unquoted(self.filepath), **options)


class BashSensor(BaseSensorOperator):
    """Waits until `bash_command` exits 0."""

    def __init__(self, *, bash_command: str, env: dict | None = None, **kw: Any) -> None:
        self.bash_command = bash_command
        if env:
            kw["env"] = env
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        return sensor(task_id, command=unquoted(self.bash_command), **options)


class TimeSensor(BaseSensorOperator):
    """Waits until `target_time` (a time of day) on the run's day."""

    def __init__(self, *, target_time: time | str, **kw: Any) -> None:
        self.target_time = target_time
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        value = self.target_time
        return sensor(task_id, until=value.strftime("%H:%M:%S") if isinstance(value, time) else str(value), **options)


class TimeDeltaSensor(BaseSensorOperator):
    """Waits until `delta` after the run's data interval end."""

    def __init__(self, *, delta: timedelta, **kw: Any) -> None:
        self.delta = delta
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        return time_delta_sensor(task_id, self.delta, **options)


class DateTimeSensor(BaseSensorOperator):
    """Waits until `target_time` (a datetime or a templated text)."""

    def __init__(self, *, target_time: datetime | str, **kw: Any) -> None:
        self.target_time = target_time
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        value = self.target_time
        return date_time_sensor(task_id, value.isoformat() if isinstance(value, datetime) else value, **options)


# Airflow's deferrable variants: a minorch sensor never holds a slot between pokes, deferred or not.
TimeSensorAsync, TimeDeltaSensorAsync, DateTimeSensorAsync = TimeSensor, TimeDeltaSensor, DateTimeSensor


class DayOfWeekSensor(BaseSensorOperator):
    """Waits until today is one of `week_day` ("Monday", a WeekDay, or a set of them)."""

    def __init__(self, *, week_day: Any, use_task_logical_date: bool = False, **kw: Any) -> None:
        self.week_day = week_day
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        days = self.week_day if isinstance(self.week_day, (set, list, tuple, frozenset)) else [self.week_day]
        names = sorted(getattr(d, "name", str(d)).lower() for d in days)
        return day_of_week_sensor(task_id, names if len(names) > 1 else names[0], **options)


class ExternalTaskSensor(BaseSensorOperator):
    """Waits until `external_task_id` of `external_dag_id` reached `allowed_states` for the same logical date
    (moved by `execution_delta`); fails at once in `failed_states`."""

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Sequence[str] | None = None,
        external_task_group_id: str | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable | None = None,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        **kw: Any,
    ) -> None:
        if external_task_id is None and external_task_ids and len(external_task_ids) == 1:
            external_task_id = external_task_ids[0]
        self.external_dag_id, self.external_task_id = external_dag_id, external_task_id
        self.several = bool(external_task_ids and len(external_task_ids) > 1)
        self.group = external_task_group_id
        self.extra = {
            "execution_date_fn": execution_date_fn,
            "execution_delta": seconds(execution_delta) if execution_delta is not None else None,
            "allowed_states": [str(getattr(s, "value", s)) for s in allowed_states] if allowed_states else None,
            "failed_states": [str(getattr(s, "value", s)) for s in failed_states] if failed_states else None,
        }
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        from ..errors import DagError

        if self.several or self.group:
            raise DagError(
                f"ExternalTaskSensor over {'several tasks' if self.several else 'a task group'} "
                "is not supported by minorch",
                hint="make one ExternalTaskSensor per task, with external_task_id=",
            )
        if self.external_task_id is None:
            raise DagError(
                "ExternalTaskSensor without external_task_id is not supported by minorch",
                hint="name the task to wait for with external_task_id=",
            )
        extra: dict[str, Any] = {k: v for k, v in self.extra.items() if v is not None}
        return external_task_sensor(task_id, self.external_dag_id, self.external_task_id, **extra, **options)


class ExternalTaskMarker(BaseOperator):
    """Runs no process; clearing it clears `external_task_id` of `external_dag_id` (and its downstream) in the run
    of `logical_date` (Airflow 2: `execution_date`; templated, default this run's), `recursion_depth` DAGs deep."""

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        logical_date: str | datetime | None = None,
        execution_date: str | datetime | None = None,
        recursion_depth: int = 10,
        **kw: Any,
    ) -> None:
        when = logical_date if logical_date is not None else execution_date
        self.marker = {
            "logical_date": when.isoformat() if isinstance(when, datetime) else when,
            "recursion_depth": recursion_depth,
        }
        self.external_dag_id, self.external_task_id = external_dag_id, external_task_id
        super().__init__(**kw)

    def _create(self, task_id: str, options: dict):
        extra: dict[str, Any] = {k: v for k, v in self.marker.items() if v is not None}
        return external_task_marker(task_id, self.external_dag_id, self.external_task_id, **extra, **options)
