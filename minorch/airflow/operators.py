"""Airflow's operators and TaskFlow decorators as minorch tasks.

Each operator, when created inside a DAG, adds one minorch task (a shell task for `BashOperator`,
a Python task for `PythonOperator` and for any `BaseOperator` subclass with its own `execute`)
and stands for it on either side of `>>`. Python callables are called with Airflow's convention:
`op_args` positionally, `op_kwargs` by name, and context values (`ds`, `ti`, `params`, ...) for
the parameters that name them, or all of them for `**kwargs`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..dag import (
    _CONTEXT,
    Dependency,
    Task,
    XComArg,
    _caller_location,
    _current_dag,
    child_id,
    empty,
    latest_only,
    map_task,
    trigger_dag,
)
from ..dag import _TaskFactory as _MinorchFactory
from ..dag import teardown as _minorch_teardown
from ..errors import DagError
from . import OPERATORS, warn
from .dagargs import DOCS as _DOCS
from .dagargs import SEARCH_PATHS, seconds, task_options
from .names import AirflowException, AirflowSkipException

_CURRENT: contextvars.ContextVar[dict] = contextvars.ContextVar("airflow_context")


def get_current_context() -> dict:
    """The running task's context (inside a task only, as in Airflow)."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise AirflowException("get_current_context() works only inside a running task") from None


def call_airflow_style(fn: Callable, context: dict, args: Sequence = (), kwargs: dict | None = None) -> Any:
    """fn(*args, **kwargs) plus the context values its other parameters name (all for **kwargs)."""
    kwargs = dict(kwargs or {})
    params = list(inspect.signature(fn).parameters.values())
    positional = {p.name for p in params[: len(args)] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        extra = {k: v for k, v in context.items() if k not in positional}
        kwargs = {**extra, **kwargs}
    else:
        by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        for p in params:
            if p.name in context and p.name not in kwargs and p.name not in positional and p.kind in by_name:
                kwargs[p.name] = context[p.name]
    token = _CURRENT.set(context)
    try:
        return fn(*args, **kwargs)
    finally:
        _CURRENT.reset(token)


def render_value(value: Any, context: dict) -> Any:
    """Jinja-render the strings in `value` (lists, tuples and dicts walked), as Airflow's templated fields."""
    from ..templates import render

    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        text = _EXPRESSION.sub(lambda m: "{{" + m[1] + " " + _expression(m[2]) + " " + m[3] + "}}", value)
        return render(text, context, shell=False)
    if isinstance(value, (list, tuple)):
        return type(value)(render_value(v, context) for v in value)
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    return value


_EXPRESSION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)


def unquoted(command: str) -> str:
    """Airflow pastes template values into bash commands as they are; minorch quotes them unless they
    pass through `raw`. `echo "{{ ds }}"` -> `echo "{{ (ds) | raw }}"`, so an Airflow command means
    what it meant there. Airflow 2's names for dates (`execution_date`, `tomorrow_ds`, ...) are
    written as what they meant."""
    return _EXPRESSION.sub(lambda m: "{{" + m[1] + " (" + _expression(m[2]) + ") | raw " + m[3] + "}}", command)


def _expression(text: str) -> str:
    """One `{{ ... }}` expression of an Airflow template in minorch's names: Airflow 2's date names, and
    Airflow's date filters (`{{ data_interval_start | ds }}`) as the formats they stand for."""
    text = _AIRFLOW2_NAME.sub(_newer, text.strip())
    last = _DATE_FILTER.fullmatch(text)
    return f"({last[1]}).{_DATE_FILTERS[last[2]]}" if last else text


# Airflow's Jinja filters for dates, when last in an expression -> the datetime method each is.
_DATE_FILTERS = {
    "ds": "strftime('%Y-%m-%d')",
    "ds_nodash": "strftime('%Y%m%d')",
    "ts": "isoformat()",
    "ts_nodash": "strftime('%Y%m%dT%H%M%S')",
    "ts_nodash_with_tz": "strftime('%Y%m%dT%H%M%S%z')",
}
_DATE_FILTER = re.compile(r"(.*?)\s*\|\s*(" + "|".join(_DATE_FILTERS) + r")", re.S)


# Airflow 2's template names for dates (gone in Airflow 3) -> what they meant, in minorch's names.
_AIRFLOW2_DATES = {
    "execution_date": "logical_date",
    "tomorrow_ds": "macros.ds_add(ds, 1)",
    "yesterday_ds": "macros.ds_add(ds, -1)",
    "tomorrow_ds_nodash": "macros.ds_add(ds, 1).replace('-', '')",
    "yesterday_ds_nodash": "macros.ds_add(ds, -1).replace('-', '')",
}
_AIRFLOW2_NAME = re.compile(r"(?<![\w.'\"])(" + "|".join(_AIRFLOW2_DATES) + r")\b")


def _newer(match: re.Match) -> str:
    return _AIRFLOW2_DATES[match[1]]


@contextlib.contextmanager
def _within(dag: Any, group: Any) -> Iterator[None]:
    """Make `dag=` / `task_group=` arguments the current DAG and group while the task is created."""
    with contextlib.ExitStack() as stack:
        if dag is not None and (not _CONTEXT or _CONTEXT[-1] is not dag):
            stack.enter_context(dag)
        if group is not None:
            stack.enter_context(group)
        yield


class BaseOperator(Dependency):
    """An Airflow operator: subclasses override `execute(context)` (run as a minorch Python task), or
    `_create` to become another kind of minorch task. Attributes named in `template_fields` are
    rendered with the context before `execute` runs."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()

    def __init__(self, *, task_id: str, dag: Any = None, task_group: Any = None, **kwargs: Any) -> None:
        if not isinstance(task_id, str):
            raise DagError(f"{type(self).__name__} needs a task_id", hint='write task_id="..."')
        self._where = _caller_location()
        options = task_options(kwargs, self._where)
        with _within(dag, task_group):
            self._task = self._create(task_id, options)
        OPERATORS.append(self)

    def _create(self, task_id: str, options: dict) -> Task:
        return python_task(task_id, self._run, options, self._where)

    def _run(self, **context: Any) -> Any:
        context = self._prepared(context)
        for name in self.template_fields:
            if hasattr(self, name):
                value = getattr(self, name)
                if isinstance(value, str) and self.template_ext:  # a file named by a field: its text
                    value = _template_file(value, self._where, self.template_ext, name, self._task.dag)
                setattr(self, name, render_value(value, context))
        token = _CURRENT.set(context)
        try:
            return self.execute(context)
        finally:
            _CURRENT.reset(token)

    def _prepared(self, context: dict) -> dict:
        """The context for `execute`; a mapped copy first takes its item as the argument mapped over, and
        templated fields holding other tasks' results get those results."""
        mapped = self.__dict__.get("_mapped")
        if mapped is not None:
            setattr(self, mapped, context[mapped])
        for name in self.template_fields:
            value = getattr(self, name, None)
            if isinstance(value, XComArg):
                setattr(self, name, context["ti"].xcom_pull(task_ids=value.task.task_id, key=value.key))
        return _with_macros(context)

    def _follow_results(self) -> None:
        """Run after the tasks whose results the templated fields hold (called once the file is read)."""
        for name in self.template_fields:
            value = getattr(self, name, None)
            if isinstance(value, BaseOperator):
                value = value.output
            if isinstance(value, XComArg):
                value.task.set_downstream(self._task)

    def execute(self, context: dict) -> Any:
        raise AirflowException(f"{type(self).__name__} does not define execute(context)")

    @classmethod
    def partial(cls, **kwargs: Any) -> _Partial:
        """`Operator.partial(task_id=..., ...).expand(name=[...] or an upstream's output)`: one copy per item."""
        return _Partial(cls, kwargs)

    def _roots(self) -> list[Task]:
        return [self._task]

    _leaves = _roots

    @property
    def task_id(self) -> str:
        return self._task.task_id

    def __getattr__(self, name: str) -> Any:
        task = self.__dict__.get("_task")
        if task is None:
            raise AttributeError(name)
        return getattr(task, name)  # output, as_setup, as_teardown, ...

    def __setattr__(self, name: str, value: Any) -> None:
        """`t.doc_md = "..."` after the operator is made documents its task, as in Airflow."""
        if name in _DOCS and "_task" in self.__dict__:
            self._task.given["doc_md"] = value
        object.__setattr__(self, name, value)


class _Partial:
    """An operator with its fixed arguments, waiting for `.expand(name=...)` to make a mapped task."""

    def __init__(self, cls: type[BaseOperator], kwargs: dict) -> None:
        self.cls, self.kwargs = cls, kwargs

    def expand(self, **mapped: Any) -> BaseOperator:
        name = self.cls.__name__
        if len(mapped) != 1:
            raise DagError(
                f"{name}.partial(...).expand(...) over {len(mapped)} arguments is not supported by minorch",
                hint="expand over one argument and fix the others in .partial(...)",
            )
        [(argument, over)] = mapped.items()
        if issubclass(self.cls, BashOperator) != (argument == "bash_command") or argument == "python_callable":
            raise DagError(
                f"{name} mapped over {argument} is not supported by minorch",
                hint="map a BashOperator over bash_command, another operator over the argument execute reads",
            )
        made = self.cls(**{**self.kwargs, argument: _MAPPED if argument == "bash_command" else None})
        made._mapped = argument if argument != "bash_command" else None
        map_task(made._task, argument, over._task if isinstance(over, BaseOperator) else over)
        return made

    def expand_kwargs(self, *args: Any, **kwargs: Any) -> BaseOperator:
        raise DagError(
            f"{self.cls.__name__}.partial(...).expand_kwargs(...) is not supported by minorch",
            hint="expand over one argument with .expand(name=...)",
        )


def python_task(task_id: str, func: Callable, options: dict, where: tuple) -> Task:
    file, line = where
    made = Task(task_id=child_id(task_id), func=func, given=options, file=file, line=line)
    return _current_dag(f"task '{task_id}'").add(made)


class BashOperator(BaseOperator):
    """`bash_command` run by bash; a command ending in .sh/.bash names a template file, looked up in the
    DAG's template_searchpath and the DAG file's folder. The last line of output is the result."""

    def __init__(
        self,
        *,
        task_id: str,
        bash_command: str | Callable[..., str],
        env: dict | None = None,
        append_env: bool = False,
        cwd: str | None = None,
        skip_on_exit_code: int | Sequence[int] | None = 99,
        output_encoding: str = "utf-8",
        **kwargs: Any,
    ) -> None:
        self.bash_command, self.env, self.cwd = bash_command, env, cwd
        self.skip_on_exit_code = skip_on_exit_code
        super().__init__(task_id=task_id, **kwargs)

    def _create(self, task_id: str, options: dict) -> Task:
        if callable(self.bash_command):  # called when the try runs
            options.pop("skip_exit_code", None)
            return python_task(task_id, self._run_callable, options, self._where)
        if self.env:
            options["env"] = {**options.get("env", {}), **self.env}
        if self.cwd:
            options["cwd"] = self.cwd
        code = self.skip_on_exit_code
        if isinstance(code, (list, tuple)):
            if len(code) > 1:
                warn(f"skip_on_exit_code={list(code)}: minorch skips on one exit code, {code[0]}", *self._where)
            code = code[0] if code else None
        if code is not None:
            options["skip_exit_code"] = code
        if self.bash_command is _MAPPED:  # each copy renders and runs its own command
            options.pop("skip_exit_code", None)
            return python_task(task_id, self._run_mapped, options, self._where)
        command = _template_file(self.bash_command, self._where, (".sh", ".bash"), "bash_command")
        options.setdefault("shell", "/bin/bash")
        options.setdefault("do_xcom_push", True)
        file, line = self._where
        made = Task(task_id=child_id(task_id), command=unquoted(command), given=options, file=file, line=line)
        return _current_dag(f"task '{task_id}'").add(made)

    def _run_mapped(self, **context: Any) -> Any:
        command = context["bash_command"]
        return _bash(lambda: command, _with_macros(context))

    def _run_callable(self, **context: Any) -> Any:
        """`bash_command=fn`: Airflow calls `fn(context, jinja_env)` for the command, then renders it."""
        from ..jinja_env import PLAIN

        context, make = _with_macros(context), self.bash_command
        command = make(context=context, jinja_env=PLAIN) if callable(make) else make
        return _bash(lambda: command, context)


_MAPPED = object()  # the bash_command of a BashOperator mapped over its commands


def _template_file(value: str, where: tuple, exts: Sequence[str], what: str, dag: Any = None) -> str:
    """`value` itself, or when it names a file ending with one of `exts` (Airflow's template_ext), that
    file's text: looked up in the DAG's template_searchpath, then beside the DAG file."""
    text = value.strip()
    if not exts or not text.endswith(tuple(exts)) or " " in text:
        return value
    dag = dag or (_CONTEXT[-1] if _CONTEXT else None)
    folders = [os.fspath(folder) for folder in SEARCH_PATHS.get(dag.dag_id, [])] if dag else []
    if where[0]:
        folders.append(os.path.dirname(where[0]))
    for folder in folders:
        path = os.path.join(folder, text)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as file:
                return file.read()
    raise DagError(
        f"{what} names the template file {text!r}, which is not in {folders}",
        hint="put it beside the DAG file or in a folder named by the DAG's template_searchpath",
    )


class PythonOperator(BaseOperator):
    """`python_callable(*op_args, **op_kwargs)` with context values; op_args, op_kwargs and
    templates_dict are rendered as templates first."""

    _flavor: dict[str, Any] = {}

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable,
        op_args: Sequence | None = None,
        op_kwargs: dict | None = None,
        templates_dict: dict | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise DagError(f"python_callable of task '{task_id}' is not callable")
        self.python_callable, self.op_args, self.op_kwargs = python_callable, list(op_args or ()), op_kwargs or {}
        self.templates_dict = templates_dict
        if templates_exts:  # a value naming a template file: the file's text
            where, dag = _caller_location(), kwargs.get("dag")

            def read(value: Any, what: str) -> Any:
                return _template_file(value, where, templates_exts, what, dag) if isinstance(value, str) else value

            self.op_args = [read(value, "op_args") for value in self.op_args]
            if isinstance(self.op_kwargs, dict):
                self.op_kwargs = {key: read(value, key) for key, value in self.op_kwargs.items()}
            if isinstance(self.templates_dict, dict):
                self.templates_dict = {key: read(value, key) for key, value in self.templates_dict.items()}
        super().__init__(task_id=task_id, **{**self._flavor, **kwargs})

    def _run(self, **context: Any) -> Any:
        context = self._prepared(context)
        if self.templates_dict is not None:
            context["templates_dict"] = render_value(self.templates_dict, context)
        args = render_value(self.op_args, context)
        kwargs = render_value(self.op_kwargs, context)
        return call_airflow_style(self.python_callable, context, args, kwargs)


class BranchPythonOperator(PythonOperator):
    """The callable returns the task id(s) to follow among the direct downstream tasks."""

    _flavor = {"branch": True}


class _BranchOnTime(BaseOperator):
    """Follows `follow_task_ids_if_true` when the time (now, or the run's logical date with
    `use_task_logical_date`, in the DAG's time zone) meets `_met`, else `follow_task_ids_if_false`."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Sequence[str],
        follow_task_ids_if_false: str | Sequence[str],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        self.follow_task_ids_if_true, self.follow_task_ids_if_false = follow_task_ids_if_true, follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date
        super().__init__(**{**kwargs, "branch": True})

    def execute(self, context: dict) -> Any:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(context.get("timezone") or "UTC")
        now = context["logical_date"] if self.use_task_logical_date else datetime.now(zone)
        return self.follow_task_ids_if_true if self._met(now.astimezone(zone), zone) else self.follow_task_ids_if_false

    def _met(self, now: Any, zone: Any) -> bool:
        raise NotImplementedError


class BranchDayOfWeekOperator(_BranchOnTime):
    """True on `week_day`: a day's name ("Monday"), a `WeekDay`, or a set of them."""

    def __init__(self, *, week_day: Any, **kwargs: Any) -> None:
        from .names import WeekDay

        days = week_day if isinstance(week_day, (set, frozenset, list, tuple)) else [week_day]
        try:
            self._days = {day if isinstance(day, WeekDay) else WeekDay[str(day).upper()] for day in days}
        except KeyError as err:
            raise DagError(
                f"week_day {err.args[0]!r} is not a day of the week", hint='write "Monday" or WeekDay.MONDAY'
            ) from None
        super().__init__(**kwargs)

    def _met(self, now: Any, zone: Any) -> bool:
        return now.isoweekday() in self._days


class BranchDateTimeOperator(_BranchOnTime):
    """True from `target_lower` to `target_upper` (datetimes, or times of the day; either may be None)."""

    def __init__(self, *, target_lower: Any, target_upper: Any, **kwargs: Any) -> None:
        if target_lower is None and target_upper is None:
            raise DagError("BranchDateTimeOperator needs target_lower or target_upper", hint="give one or both")
        self.target_lower, self.target_upper = target_lower, target_upper
        super().__init__(**kwargs)

    def _met(self, now: Any, zone: Any) -> bool:
        from datetime import datetime, time, timedelta

        def moment(value: Any) -> Any:  # a time of the day is on now's date; a naive time is in the DAG's zone
            value = datetime.combine(now.date(), value) if isinstance(value, time) else value
            return value.replace(tzinfo=zone) if value is not None and value.tzinfo is None else value

        lower, upper = moment(self.target_lower), moment(self.target_upper)
        if isinstance(self.target_upper, time) and lower is not None and upper < lower:
            upper += timedelta(days=1)  # 22:00 to 02:00 runs over midnight
        return (lower is None or lower <= now) and (upper is None or now <= upper)


class ShortCircuitOperator(PythonOperator):
    """A falsy return value skips every task downstream."""

    _flavor = {"short_circuit": True}

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        if not ignore_downstream_trigger_rules:
            warn(_ALL_DOWNSTREAM, *_caller_location())
        super().__init__(**kwargs)


_ALL_DOWNSTREAM = (
    "ignore_downstream_trigger_rules=False is ignored: a short circuit skips all downstream tasks in minorch"
)


class EmptyOperator(BaseOperator):
    """A task that runs no process and succeeds."""

    def _create(self, task_id: str, options: dict) -> Task:
        return empty(task_id, **options)


class LatestOnlyOperator(BaseOperator):
    """Skips the tasks directly downstream unless the run is the latest scheduled one (or manual)."""

    def _create(self, task_id: str, options: dict) -> Task:
        return latest_only(task_id, **options)


class TriggerDagRunOperator(BaseOperator):
    """Queues a run of `trigger_dag_id`; with `wait_for_completion`, waits for it without a slot."""

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        conf: dict | None = None,
        wait_for_completion: bool = False,
        logical_date: Any = None,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        poke_interval: Any = 60,
        reset_dag_run: bool = False,
        trigger_run_id: str | None = None,
        skip_when_already_exists: bool = False,
        execution_date: Any = None,
        **kwargs: Any,
    ) -> None:
        where = _caller_location()
        if callable(conf):
            raise DagError(
                "TriggerDagRunOperator conf given as a function is not supported by minorch",
                hint="give conf as a dict (its strings may be templates)",
            )
        for name, given in (("reset_dag_run", reset_dag_run), ("trigger_run_id", trigger_run_id)):
            if given:
                warn(f"TriggerDagRunOperator argument {name} is ignored by minorch", *where)
        logical_date = logical_date if logical_date is not None else execution_date  # Airflow 2's name
        self._trigger = {
            "trigger_dag_id": trigger_dag_id,
            "conf": conf,
            "wait_for_completion": wait_for_completion,
            "logical_date": logical_date.isoformat() if hasattr(logical_date, "isoformat") else logical_date,
            "allowed_states": list(allowed_states) if allowed_states else None,
            "failed_states": list(failed_states) if failed_states else None,
        }
        kwargs["poke_interval"] = seconds(poke_interval)
        super().__init__(**kwargs)

    def _create(self, task_id: str, options: dict) -> Task:
        return trigger_dag(task_id, **{k: v for k, v in self._trigger.items() if v is not None}, **options)


DummyOperator = EmptyOperator


def _with_macros(context: dict) -> dict:
    """The runtime's context plus the template names Airflow callables also reach for."""
    from ..runtime import Namespace
    from ..templates import MACROS

    extra = {
        "macros": MACROS,
        "dag": Namespace(dag_id=context.get("dag_id"), timezone=context.get("timezone")),
        "task": Namespace(
            task_id=context.get("task_id"),
            dag_id=context.get("dag_id"),
            render_template=lambda content, given=None: render_value(content, given or context),
        ),
    }
    ds = context.get("ds")
    if isinstance(ds, str):  # Airflow 2's names for dates, which its callables still read
        days = {"tomorrow_ds": MACROS.ds_add(ds, 1), "yesterday_ds": MACROS.ds_add(ds, -1)}
        extra.update(days, execution_date=context.get("logical_date"))
        extra.update({f"{name}_nodash": day.replace("-", "") for name, day in days.items()})
    return {**extra, **context}


# ---------------------------------------------------------------- TaskFlow


def _airflow_callable(fn: Callable, body: Callable[[Callable, dict], Any]) -> Callable:
    """A function minorch calls with its arguments and the whole context, that runs `body(fn, context)`;
    it shows `fn`'s parameters (for `f(x)` calls in the DAG file) plus **context."""

    @functools.wraps(fn)
    def run(**context: Any) -> Any:
        return body(fn, _with_macros(context))

    params = list(inspect.signature(fn).parameters.values())
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        params.append(inspect.Parameter("context", inspect.Parameter.VAR_KEYWORD))
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]  # typeshed's _Wrapped omits __signature__, which inspect.signature reads
    del run.__wrapped__
    return run


def _call(fn: Callable, context: dict) -> Any:
    context = {k: render_value(str(v), context) if isinstance(v, _Template) else v for k, v in context.items()}
    names = inspect.signature(fn).parameters
    given = {k: v for k, v in context.items() if k in names}
    return call_airflow_style(fn, context, (), given)


def _bash(fn: Callable, context: dict) -> Any:
    from ..templates import render

    command = _call(fn, context)
    if not isinstance(command, str) or not command.strip():
        raise AirflowException(f"@task.bash function {fn.__name__} must return a non-empty command, not {command!r}")
    command = render(unquoted(command), context, shell=True)
    last = None
    sys.stdout.flush()
    with subprocess.Popen(["/bin/bash", "-c", command], stdout=subprocess.PIPE, text=True) as proc:
        if proc.stdout is None:
            raise RuntimeError("bash was started without a pipe for its output")
        for line in proc.stdout:
            sys.stdout.write(line)
            last = line.rstrip("\n")
    if proc.returncode == 99:
        raise AirflowSkipException("bash command exited with 99: skipped")
    if proc.returncode:
        raise AirflowException(f"bash command failed: it exited with code {proc.returncode}")
    return last


def _decorator_options(kwargs: dict, where: tuple) -> dict:
    """The arguments of `@task(...)` or `.override(...)` as minorch task options."""
    for name in ("virtualenv", "requirements", "python_version"):
        if name in kwargs:
            raise DagError(f"@task argument {name} is not supported by minorch")
    kwargs = dict(kwargs)
    kwargs.pop("append_env", None)  # minorch adds `env` to the task's environment either way
    if kwargs.pop("ignore_downstream_trigger_rules", True) is False:
        warn(_ALL_DOWNSTREAM, *where)
    return task_options(kwargs, where)


class _TaskFactory(_MinorchFactory):
    """A TaskFlow task whose `.override(...)` takes Airflow's arguments (`execution_timeout`, ...) and
    whose text arguments are templates, as Airflow renders a TaskFlow task's op_args and op_kwargs (an
    argument naming a file ending with one of `templates_exts` is that file's text)."""

    def __init__(self, func: Callable, options: dict, fixed: dict | None = None, exts: Sequence[str] = ()) -> None:
        super().__init__(func, options, fixed)
        self.exts = tuple(exts)

    def override(self, **options: Any) -> _TaskFactory:
        exts = options.pop("templates_exts", None) or self.exts
        options = {**self.options, **_decorator_options(options, _caller_location())}
        return _TaskFactory(self.func, options, self.fixed, exts)

    def partial(self, **kwargs: Any) -> _TaskFactory:
        return _TaskFactory(self.func, self.options, {**self.fixed, **kwargs}, self.exts)

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        made = super().__call__(*args, **kwargs)
        for name, value in made.call_kwargs.items():
            if isinstance(value, str):
                value = _template_file(value, (made.file, made.line), self.exts, name)
                made.call_kwargs[name] = _Template(value) if "{{" in value or "{%" in value else value
        return made


class _Template(str):
    """A TaskFlow task's text argument holding a template: rendered with the try's context before the call."""


def _decorator(body: Callable[[Callable, dict], Any], **fixed: Any) -> Callable:
    def decorate(func: Callable | None = None, **kwargs: Any):
        exts = kwargs.pop("templates_exts", None) or ()
        options = {**_decorator_options(kwargs, _caller_location()), **fixed}

        def wrap(fn: Callable):
            return _TaskFactory(_airflow_callable(fn, body), options, exts=exts)

        return wrap(func) if func is not None else wrap

    return decorate


def _refused(kind: str, instead: str) -> Callable:
    def decorate(*args: Any, **kwargs: Any):
        raise DagError(f"@task.{kind} is not supported by minorch", hint=instead)

    return decorate


_OTHER_PYTHON = "run the other interpreter with @task.bash"


def _guard(condition: Callable[[dict], bool], run_when: bool, message: str | None) -> Callable:
    """What `@task.run_if` / `@task.skip_if` do to the TaskFlow task below them."""

    def wrap(made: Any) -> _TaskFactory:
        if not isinstance(made, _TaskFactory):
            raise DagError("@task.run_if and @task.skip_if go above @task", hint="write them on the line over @task")
        inner = made.func

        @functools.wraps(inner)
        def guarded(**context: Any) -> Any:
            if bool(condition(_with_macros(context))) != run_when:
                raise AirflowSkipException(message or "skipped by its run_if/skip_if condition")
            return inner(**context)

        return _TaskFactory(guarded, made.options, made.fixed, made.exts)

    return wrap


class _TaskDecorators:
    """`airflow.decorators.task` / `airflow.sdk.task`: `@task`, `@task.bash`, `@task.branch`, ..."""

    __call__ = staticmethod(_decorator(_call))
    python = staticmethod(_decorator(_call))
    bash = staticmethod(_decorator(_bash, do_xcom_push=True))
    branch = staticmethod(_decorator(_call, branch=True))
    short_circuit = staticmethod(_decorator(_call, short_circuit=True))
    sensor = staticmethod(_decorator(_call, sensor={"python": "@task.sensor"}))
    virtualenv = staticmethod(_refused("virtualenv", _OTHER_PYTHON))
    external_python = staticmethod(_refused("external_python", _OTHER_PYTHON))
    docker = staticmethod(_refused("docker", "return `docker run ...` from a @task.bash function"))
    kubernetes = staticmethod(_refused("kubernetes", "return `kubectl run ...` from a @task.bash function"))

    @staticmethod
    def run_if(condition: Callable[[dict], bool], skip_message: str | None = None) -> Callable:
        """`@task.run_if(lambda context: ...)` over `@task`: the try is skipped unless the condition holds."""
        return _guard(condition, True, skip_message)

    @staticmethod
    def skip_if(condition: Callable[[dict], bool], skip_message: str | None = None) -> Callable:
        """`@task.skip_if(lambda context: ...)` over `@task`: the try is skipped when the condition holds."""
        return _guard(condition, False, skip_message)

    def __getattr__(self, kind: str) -> Callable:
        if kind.startswith("_"):
            raise AttributeError(kind)
        if "virtualenv" in kind or "external_python" in kind:
            return _refused(kind, _OTHER_PYTHON)
        return _refused(kind, "write it as @task, @task.bash, @task.branch, @task.short_circuit or @task.sensor")


task = _TaskDecorators()
setup = _decorator(_call, setup=True)


def teardown(func: Callable | None = None, *, on_failure_fail_dagrun: bool = False, **kwargs: Any):
    where = _caller_location()

    def wrap(fn: Callable):
        return _minorch_teardown(
            _airflow_callable(fn, _call), on_failure_fail_dagrun=on_failure_fail_dagrun, **task_options(kwargs, where)
        )

    return wrap(func) if func is not None else wrap
