"""Airflow's sensors as minorch sensors, which never hold a slot between pokes.

`poke_interval` and `timeout` (the whole wait, seconds or a timedelta) and `soft_fail` keep their
meanings; `mode` ("poke"/"reschedule") makes no difference in minorch.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from ..dag import Task, _current_dag, child_id
from .dagargs import seconds
from .operators import BaseOperator, unquoted


class BaseSensorOperator(BaseOperator):
    """Base of the sensors below. A subclass of its own (with `poke(context)`) is not supported yet."""

    def __init__(
        self, *, poke_interval: Any = 60, timeout: Any = 7 * 24 * 3600, soft_fail: bool = False, **kwargs: Any
    ) -> None:
        kwargs.update(poke_interval=seconds(poke_interval), timeout=seconds(timeout), soft_fail=soft_fail)
        kwargs.pop("exponential_backoff", None)
        kwargs.pop("max_wait", None)
        super().__init__(**kwargs)

    def _create(self, task_id: str, options: dict) -> Task:
        file, line = self._where
        made = Task(task_id=child_id(task_id), given={**options, "sensor": self._waits()}, file=file, line=line)
        return _current_dag(f"sensor '{task_id}'").add(made)

    def _waits(self) -> dict:
        from ..errors import DagError

        raise DagError(
            f"a sensor class of its own ({type(self).__name__}) is not supported by minorch",
            hint="write it as a BashSensor whose command exits 0 when the condition holds",
        )


class FileSensor(BaseSensorOperator):
    """Waits until `filepath` (a glob, templated) exists."""

    def __init__(self, *, filepath: str, fs_conn_id: str | None = None, recursive: bool = False, **kw: Any) -> None:
        self.filepath = filepath
        super().__init__(**kw)

    def _waits(self) -> dict:
        return {"file": unquoted(self.filepath)}


class BashSensor(BaseSensorOperator):
    """Waits until `bash_command` exits 0."""

    def __init__(self, *, bash_command: str, env: dict | None = None, **kw: Any) -> None:
        self.bash_command = bash_command
        if env:
            kw["env"] = env
        super().__init__(**kw)

    def _waits(self) -> dict:
        return {"command": unquoted(self.bash_command)}


class TimeSensor(BaseSensorOperator):
    """Waits until `target_time` (a time of day) on the run's day."""

    def __init__(self, *, target_time: time | str, **kw: Any) -> None:
        self.target_time = target_time
        super().__init__(**kw)

    def _waits(self) -> dict:
        value = self.target_time
        return {"until": value.strftime("%H:%M:%S") if isinstance(value, time) else str(value)}


class ExternalTaskSensor(BaseSensorOperator):
    """Waits until `external_task_id` of `external_dag_id` succeeded for the same logical date."""

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        execution_delta: timedelta | None = None,
        **kw: Any,
    ) -> None:
        self.external_dag_id, self.external_task_id = external_dag_id, external_task_id
        self.execution_delta = execution_delta
        super().__init__(**kw)

    def _waits(self) -> dict:
        from ..errors import DagError

        if self.external_task_id is None:
            raise DagError(
                "ExternalTaskSensor without external_task_id is not supported by minorch",
                hint="name the task to wait for with external_task_id=",
            )
        return {"dag": self.external_dag_id, "task": self.external_task_id}


class PokeReturnValue:
    """What a sensor's poke may return: done or not, and the value to pass on as its result."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done, self.xcom_value = is_done, xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)
