"""DAGs and tasks: the model (`Dag`, `Task`) and the Python API for DAG files.

`with DAG("etl", schedule="@daily"):` with `shell(...)`, `@task`, `sensor(...)`, `>>`, `chain`
records what a DAG file says; `spec.build_dag` checks and builds it (the same way as TOML).
The model does no I/O and reads no clock.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .errors import DagError, TaskFailed
from .options import TaskOptions

# The right side of `>>` / `<<` (a task, group, result, label or a list of them), returned as is
# so that `a >> b >> c` chains.
_Operand = TypeVar("_Operand")

# ---------------------------------------------------------------- model


class Dependency:
    """Anything that can stand on either side of `>>`: a task, a task group, a task's result.
    Links go from the left side's leaves to the right side's roots, as in Airflow."""

    def _roots(self) -> list[Task]:
        raise NotImplementedError

    def _leaves(self) -> list[Task]:
        raise NotImplementedError

    def set_downstream(self, other: object) -> None:
        _link(self, other)

    def set_upstream(self, other: object) -> None:
        _link(other, self)

    def __rshift__(self, other: _Operand) -> _Operand:
        if isinstance(other, Label):
            other.after(self)
        else:
            _link(self, other)
        return other

    def __lshift__(self, other: _Operand) -> _Operand:
        if isinstance(other, Label):
            other.before(self)
        else:
            _link(other, self)
        return other

    def __rrshift__(self, other: object) -> Dependency:
        _link(other, self)
        return self

    def __rlshift__(self, other: object) -> Dependency:
        _link(self, other)
        return self


@dataclass(eq=False)
class Task(Dependency):
    """One node. `command` for shell tasks; `python` ("pkg.mod:func") or `func` for Python tasks."""

    task_id: str
    command: str | None = None
    python: str | None = None
    func: Callable | None = None
    upstream: list[str] = field(default_factory=list)
    given: dict = field(default_factory=dict)
    call_kwargs: dict = field(default_factory=dict)
    xcom_args: dict = field(default_factory=dict)
    description: str | None = None
    file: str | None = None
    line: int | None = None
    dag: Dag | None = field(default=None, repr=False)
    opts: TaskOptions = field(default_factory=TaskOptions)
    flavor: str | None = None  # "branch", "short_circuit" or "sensor"
    map_over: list | str | None = None  # a literal list, or the upstream task whose result list is mapped
    map_as: str = "item"  # the name each copy gets its item under (template value, parameter)
    sensor: dict | None = (
        None  # what a sensor waits for: {"file": ...}, {"until": ...}, {"dag": .., "task": ..}, {"command": ...}
    )
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False  # a teardown whose failure fails the run
    group: str | None = None  # the id of the task group it belongs to (its id starts with it unless not prefixed)
    labels: dict[str, str] = field(default_factory=dict)  # upstream task id -> the label of that edge
    doc_md: str | None = None
    outlets: tuple[str, ...] = ()  # assets a success of this task updates (one event each)
    inlets: tuple[str, ...] = ()  # assets it reads (lineage, and `inlet_events` in its context)
    weight: int = 1  # priority_weight summed by weight_rule (set when the DAG is built)
    marker: dict | None = None  # an external task marker: {"dag", "task", "recursion_depth", "logical_date"?}

    @property
    def kind(self) -> str:
        if self.sensor is not None:
            return "sensor"
        if self.flavor in ("empty", "latest_only"):
            return self.flavor
        return "shell" if self.command is not None else "python"

    def _roots(self) -> list[Task]:
        return [self]

    _leaves = _roots

    @property
    def output(self) -> XComArg:
        """This task's result as an argument for another task (Airflow's `task.output`)."""
        return XComArg(self)

    def __getitem__(self, key: str) -> XComArg:
        """One key of this task's results: `extract()["total"]` (with `multiple_outputs`)."""
        return XComArg(self, key)

    # --- setup and teardown (Airflow 3): a teardown runs when its setup succeeded, whatever the work did
    def as_setup(self) -> Task:
        """Mark this task a setup task (creates a resource the work needs); returns it."""
        self.given["setup"] = True
        return self

    def as_teardown(self, setups: Task | Iterable[Task] | None = None, on_failure_fail_dagrun: bool = False) -> Task:
        """Mark this task a teardown of `setups` (each linked upstream of it); returns it. It runs once all its
        upstream tasks are done if one of its setups succeeded (`all_done_setup_success`); its own failure
        does not fail the run unless `on_failure_fail_dagrun=True`."""
        found = [] if setups is None else _ends(setups, "roots")
        for item in found:
            item.as_setup()
            item.set_downstream(self)
        self.given["teardown"] = {
            "setups": [t.task_id for t in found],
            "on_failure_fail_dagrun": on_failure_fail_dagrun,
        }
        return self

    # `with teardown_task.as_teardown(setups=setup_task):` — the tasks made inside run between the two
    def __enter__(self) -> Task:
        _SCOPES.append((self, len(_current_dag("a setup/teardown scope").tasks)))
        return self

    def __exit__(self, *exc: object) -> None:
        teardown, first = _SCOPES.pop()
        made = self.dag
        if made is None:
            raise DagError(f"task '{self.task_id}' is in no DAG", hint="make it inside `with DAG(...):`")
        inside = list(made.tasks.values())[first:]
        ids = {t.task_id for t in inside}
        setups = [made.tasks[s] for s in teardown.given.get("teardown", {}).get("setups", [])]
        below = {up for t in inside for up in t.upstream if up in ids}
        for item in inside:
            if not any(up in ids for up in item.upstream):
                for setup in setups:
                    setup.set_downstream(item)
            if item.task_id not in below:
                item.set_downstream(teardown)


@dataclass(frozen=True, eq=False)
class XComArg(Dependency):
    """A task's result (`key` "return_value") or one keyed result, passed as an argument to another
    task; using it makes that task downstream of `task`."""

    task: Task
    key: str = "return_value"

    def _roots(self) -> list[Task]:
        return [self.task]

    _leaves = _roots

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.task, key)


class Label:
    """A label on the edges it stands on: `check >> Label("valid") >> load` (shown by `minorch graph`)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._upstream: list[Task] = []
        self._downstream: list[Task] = []

    def after(self, upstream: object) -> Label:
        self._upstream = _ends(upstream, "leaves")
        return self

    __rrshift__ = after

    def before(self, downstream: object) -> Label:
        self._downstream = _ends(downstream, "roots")
        return self

    def __rshift__(self, other: _Operand) -> _Operand:
        for down in _ends(other, "roots"):
            for up in self._upstream:
                _add_edge(up, down, self.label)
        return other

    def __lshift__(self, other: _Operand) -> _Operand:
        for up in _ends(other, "leaves"):
            for down in self._downstream:
                _add_edge(up, down, self.label)
        return other


def _ends(value: object, which: str) -> list[Task]:
    """The tasks of a dependency operand: a task, group, result or a list of them; for a group, its
    roots (tasks with no upstream inside it) or leaves (no downstream inside it)."""
    if isinstance(value, Dependency):
        return value._roots() if which == "roots" else value._leaves()
    if isinstance(value, (list, tuple, set)):
        return [task for item in value for task in _ends(item, which)]
    raise DagError(f"cannot set a dependency on {value!r}; use tasks, task groups or lists of them")


def _add_edge(up: Task, down: Task, label: str | None = None) -> None:
    if up.task_id not in down.upstream:
        down.upstream.append(up.task_id)
    if label is not None:
        down.labels[up.task_id] = label


def _link(upstream: object, downstream: object) -> None:
    for down in _ends(downstream, "roots"):
        for up in _ends(upstream, "leaves"):
            _add_edge(up, down)


def chain(*items: object) -> None:
    """chain(a, b, [c, d], e) is a >> b >> [c, d] >> e, except that two lists next to each other are
    linked one to one — chain([a, b], [c, d]) is a >> c and b >> d — and must have the same length.
    A `Label` between two items labels the edges between them."""
    for i, (left, right) in enumerate(zip(items, items[1:], strict=False)):
        if isinstance(left, Label):
            continue
        if isinstance(right, Label):
            if i + 2 < len(items):
                right.after(left) >> items[i + 2]
            continue
        if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            if len(left) != len(right):
                raise DagError(
                    f"chain() links two lists one to one, but got lists of {len(left)} and {len(right)} items",
                    hint="give both lists the same length, or use cross_downstream(a, b) to link every pair",
                )
            for up, down in zip(left, right, strict=True):
                _link(up, down)
        else:
            _link(left, right)


def cross_downstream(from_tasks: Iterable[object], to_tasks: Iterable[object]) -> None:
    """Every task of `from_tasks` upstream of every task of `to_tasks`."""
    _link(list(from_tasks), list(to_tasks))


@dataclass
class Dag:
    dag_id: str
    tasks: dict[str, Task] = field(default_factory=dict)
    given: dict = field(default_factory=dict)
    schedule: Any = None  # minorch.schedule.Schedule once built
    timezone: str = "UTC"
    start_date: datetime | None = None
    end_date: datetime | None = None
    catchup: bool | str = False  # True: every missed fire; "latest": the latest missed once; False: none
    max_active_runs: int = 16
    max_active_tasks: int = 16
    dagrun_timeout: float | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    interval_semantics: bool = False
    data_interval: str = "previous_fire"  # "point": data_interval_start = _end = logical date (Airflow 3)
    paused: bool = False
    on_sla_miss: tuple = ()
    params: dict = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    source_path: str | None = None  # absolute path of a Python DAG file (its tasks re-import it)
    groups: dict[str, dict] = field(default_factory=dict)  # group id -> {"parent", "tooltip", "prefix_group_id"}
    param_schemas: dict[str, dict] = field(default_factory=dict)  # typed params: name -> schema (params.py)
    prioritized: bool = False  # a task sets priority_weight or weight_rule: launches go by weight
    doc_md: str | None = None
    assets: Any = None  # minorch.assets.AssetSchedule when runs wait for asset events

    # --- the Python API's context manager
    def __enter__(self) -> Dag:
        _CONTEXT.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _CONTEXT.pop()

    def add(self, task: Task) -> Task:
        if task.task_id in self.tasks:
            raise DagError(
                f"task id '{task.task_id}' is used twice in DAG '{self.dag_id}'",
                file=task.file,
                line=task.line,
                hint="give each task a unique task_id",
            )
        task.dag = self
        self.tasks[task.task_id] = task
        if _GROUPS and _GROUPS[-1].dag is self:
            group = _GROUPS[-1]
            task.group = group.group_id
            for scope in _GROUPS:
                for key, value in scope.default_args.items():
                    task.given.setdefault(key, value)
        return task

    def downstream(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {tid: [] for tid in self.tasks}
        for task in self.tasks.values():
            for up in task.upstream:
                result[up].append(task.task_id)
        return result

    def with_setups_and_teardowns(self, task_ids: Iterable[str]) -> set[str]:
        """`task_ids` plus the setup tasks upstream of them (at any distance) and those setups'
        teardowns: what clearing those tasks must clear too, so the resource exists again."""
        chosen = set(task_ids)
        seen, stack = set(), list(chosen)
        while stack:
            for up in self.tasks[stack.pop()].upstream:
                if up not in seen:
                    seen.add(up)
                    stack.append(up)
        setups = {tid for tid in seen | chosen if self.tasks[tid].is_setup}
        teardowns = {t.task_id for t in self.tasks.values() if t.is_teardown and setups & set(t.upstream)}
        return chosen | setups | teardowns

    def topological(self) -> list[str]:
        """Task ids, upstream before downstream, ties in definition order.
        Cached once the DAG is built (`build_dag` output is not changed afterwards)."""
        cached = self.__dict__.get("_topological")
        if cached is not None and len(cached) == len(self.tasks):
            return cached
        order = self._topological()
        if self.schedule is not None:  # built: freeze the order
            self.__dict__["_topological"] = order
        return order

    def _topological(self) -> list[str]:
        """Depth-first along upstream links without recursion, so chains of any length work.
        Assumes no cycles (build_dag rejects them); unknown upstream ids are ignored."""
        order: list[str] = []
        seen: set[str] = set()
        for root in self.tasks:
            if root in seen:
                continue
            seen.add(root)
            path, todo = [root], [iter(self.tasks[root].upstream)]
            while todo:
                up = next(todo[-1], None)
                if up is None:
                    order.append(path.pop())
                    todo.pop()
                elif up not in seen and up in self.tasks:
                    seen.add(up)
                    path.append(up)
                    todo.append(iter(self.tasks[up].upstream))
        return order


# ---------------------------------------------------------------- Python API

_CONTEXT: list[Dag] = []
_SCOPES: list[tuple[Task, int]] = []  # open `with teardown:` blocks and the task count when each opened
_GROUPS: list = []  # open task groups (minorch.taskgroup.TaskGroup), innermost last
_COLLECTED: list[list[Dag]] = []  # `collecting` blocks, innermost last: each gets the DAGs created in it


def child_id(task_id: str) -> str:
    """`task_id` as the innermost open task group names its members (`extract.load`)."""
    return _GROUPS[-1].child_id(task_id) if _GROUPS else task_id


def _caller_location() -> tuple[str | None, int | None]:
    here = os.path.dirname(__file__)
    frame = inspect.currentframe()
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(here):
            return filename, frame.f_lineno
        frame = frame.f_back
    return None, None


def _current_dag(what: str) -> Dag:
    if not _CONTEXT:
        raise DagError(f"{what} was created outside a DAG", hint="create tasks inside `with DAG(...):`")
    return _CONTEXT[-1]


def DAG(dag_id: str, **options: Any) -> Dag:  # noqa: N802 - Airflow's spelling
    """A DAG: `with DAG("etl", schedule="@daily", retries=2): ...`. Options as in TOML."""
    file, line = _caller_location()
    given = {**(options.pop("default_args", None) or {}), **options}
    dag = Dag(dag_id=dag_id, given=given, file=file, line=line)
    if _COLLECTED:
        _COLLECTED[-1].append(dag)
    return dag


def dag(func: Callable | None = None, **options: Any) -> Any:
    """`@dag(schedule=...)` on a function that creates tasks; calling it builds the DAG.
    Returns the builder (`@dag`), or a decorator that makes one (`@dag(...)`)."""

    def wrap(fn: Callable) -> Callable[..., Dag]:
        @functools.wraps(fn)
        def build(*args: Any, **kwargs: Any) -> Dag:
            rest = {k: v for k, v in options.items() if k != "dag_id"}
            with DAG(options.get("dag_id", fn.__name__), **rest) as made:
                fn(*args, **kwargs)
            return made

        return build

    return wrap(func) if func is not None else wrap


def shell(task_id: str, command: str, **options: Any) -> Task:
    """A shell task in the current DAG; `command` is a Jinja template run by /bin/sh -c."""
    file, line = _caller_location()
    description = options.pop("description", None)
    options.setdefault("do_xcom_push", True)  # as Airflow's BashOperator: the last line of output is the result
    return _current_dag("shell task").add(
        Task(task_id=child_id(task_id), command=command, given=options, description=description, file=file, line=line)
    )


class _TaskFactory:
    def __init__(self, func: Callable, options: dict, fixed: dict | None = None) -> None:
        self.func, self.options, self.fixed = func, options, fixed or {}

    def override(self, **options: Any) -> _TaskFactory:
        """The same task with other options: `load.override(task_id="load_eu", retries=3)(data)`."""
        return _TaskFactory(self.func, {**self.options, **options}, self.fixed)

    def partial(self, **kwargs: Any) -> _TaskFactory:
        """Arguments every mapped copy gets: `process.partial(day=ds).expand(table=tables)`."""
        return _TaskFactory(self.func, self.options, {**self.fixed, **kwargs})

    def expand(self, **mapped: Any) -> Task:
        """One copy of the task per item: `process.expand(table=get_tables())` maps over the list an
        upstream task returns, `process.expand(table=["a", "b"])` over a literal list. The copies'
        results reach downstream tasks as one list, in item order."""
        if len(mapped) != 1:
            raise DagError(
                f"expand task '{self.func.__name__}' over exactly one argument",
                hint="fix the others with .partial(name=value)",
            )
        [(name, over)] = mapped.items()
        made = self(**self.fixed)
        map_task(made, name, over)
        return made

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        file, line = _caller_location()
        kwargs = self._bind(args, kwargs)
        options = dict(self.options)
        dag = _current_dag("task")
        task_id = _unique_id(dag, child_id(options.pop("task_id", self.func.__name__)))
        description = options.pop("description", inspect.getdoc(self.func))
        made = Task(task_id=task_id, func=self.func, given=options, description=description, file=file, line=line)
        upstream = []
        for name, value in kwargs.items():
            if isinstance(value, Task):
                value = value.output
            if isinstance(value, XComArg):
                up_id = value.task.task_id
                made.xcom_args[name] = up_id if value.key == "return_value" else [up_id, value.key]
                upstream.append(value.task)
            else:
                made.call_kwargs[name] = value
        dag.add(made)
        for up in upstream:
            up.set_downstream(made)
        return made

    def _bind(self, args: tuple, kwargs: dict) -> dict:
        """Positional arguments by the function's parameter names: `load(extract())`."""
        if not args:
            return kwargs
        name = self.func.__name__
        try:
            bound = inspect.signature(self.func).bind_partial(*args, **kwargs)
        except TypeError as e:
            raise DagError(f"task '{name}' cannot be called so: {e}", hint=f"see the parameters of {name}()") from None
        params = inspect.signature(self.func).parameters
        if any(params[p].kind is inspect.Parameter.VAR_POSITIONAL for p in bound.arguments):
            raise DagError(f"task '{name}' takes *args; pass its arguments by name", hint=f"write {name}(name=value)")
        result = {}
        for key, value in bound.arguments.items():
            if params[key].kind is inspect.Parameter.VAR_KEYWORD:
                result.update(value)
            else:
                result[key] = value
        return result


def map_task(made: Task, name: str, over: Any) -> None:
    """Make `made` one copy per item of `over` (a list, or an upstream task or its output), each given
    its item as `name`."""
    if isinstance(over, XComArg):
        if over.key != "return_value":
            raise DagError(
                f"expand({name}=...) over the result key '{over.key}' of task '{over.task.task_id}' is not supported",
                hint="expand over a task that returns the list itself",
            )
        over = over.task
    if isinstance(over, Task):
        over.set_downstream(made)
        over = over.task_id
    elif not isinstance(over, (list, tuple)):
        raise DagError(f"expand({name}=...) takes a task or a list, not {type(over).__name__}")
    made.given.update(map_over=list(over) if not isinstance(over, str) else over, map_as=name)


def _unique_id(dag: Dag, task_id: str) -> str:
    """A TaskFlow function called again gets `f__1`, `f__2`, ... as Airflow names them."""
    if task_id not in dag.tasks:
        return task_id
    base, n = task_id, 1
    while f"{base}__{n}" in dag.tasks:
        n += 1
    return f"{base}__{n}"


class _TaskDecorator:
    """`@task` / `@task(retries=3)`: calling the function inside a DAG creates the task.
    Each form returns a task factory (`@task`), or a decorator that makes one (`@task(...)`)."""

    def __call__(self, func: Callable | None = None, **options: Any) -> Any:
        if func is not None:
            return _TaskFactory(func, options)
        return lambda fn: _TaskFactory(fn, options)

    def branch(self, func: Callable | None = None, **options: Any) -> Any:
        """`@task.branch`: the function returns the task id (or list of ids) of the direct downstream
        tasks to follow; the other direct downstream tasks are skipped."""
        return self(func, **options, branch=True)

    def short_circuit(self, func: Callable | None = None, **options: Any) -> Any:
        """`@task.short_circuit`: a falsy return value skips every task downstream of it."""
        return self(func, **options, short_circuit=True)

    def sensor(self, func: Callable | None = None, **options: Any) -> Any:
        """`@task.sensor(poke_interval=..., timeout=..., soft_fail=...)`: the function is poked as a short try
        until it returns something truthy (or `PokeReturnValue(is_done=True, xcom_value=...)`); between pokes
        it holds no slot. An exception fails it."""
        return self(func, **options, sensor={"python": "@task.sensor"})


task = _TaskDecorator()


@dataclass(frozen=True)
class PokeReturnValue:
    """What a Python sensor may return: done or not, and the result to store when done."""

    is_done: bool
    xcom_value: Any = None


def setup(func: Callable | None = None, **options: Any) -> Any:
    """`@setup`: a Python task that is a setup task (see `Task.as_setup`)."""
    return task(func, **options, setup=True)


def teardown(func: Callable | None = None, *, on_failure_fail_dagrun: bool = False, **options: Any) -> Any:
    """`@teardown`: a Python task that is a teardown task; its setups are the setup tasks directly
    upstream of it (`setup_task >> teardown_task`, or `.as_teardown(setups=...)`)."""
    marker = {"setups": [], "on_failure_fail_dagrun": on_failure_fail_dagrun}
    return task(func, **options, teardown=marker)


def empty(task_id: str, **options: Any) -> Task:
    """A task that runs no process and succeeds once its trigger rule lets it (Airflow's EmptyOperator)."""
    file, line = _caller_location()
    description = options.pop("description", None)
    return _current_dag("empty task").add(
        Task(task_id=child_id(task_id), given={**options, "empty": True}, description=description, file=file, line=line)
    )


def latest_only(task_id: str = "latest_only", **options: Any) -> Task:
    """Skips the tasks directly downstream of it unless the run is the latest scheduled one or a manual run
    (Airflow's LatestOnlyOperator). Runs no process."""
    file, line = _caller_location()
    return _current_dag("latest-only task").add(
        Task(task_id=child_id(task_id), given={**options, "latest_only": True}, file=file, line=line)
    )


def sensor(
    task_id: str,
    *,
    file: str | None = None,
    until: str | None = None,
    dag: str | None = None,
    task: str | None = None,
    command: str | None = None,
    weekday: str | list[str] | None = None,
    execution_delta: Any = None,
    allowed_states: list[str] | None = None,
    failed_states: list[str] | None = None,
    **options: Any,
) -> Task:
    """A task that waits for a condition without holding a slot between pokes:
    `file` (a glob, templated), `until` (a time, templated), `dag` + `task` (that task of another
    DAG succeeded for the same day), or `command` (exits 0). Options: poke_interval, timeout
    (the whole wait), soft_fail (skip instead of fail when it times out)."""
    file_, line = _caller_location()
    given_waits = options.pop("_waits", None)
    waits = given_waits or {
        k: v
        for k, v in (
            ("file", file),
            ("until", until),
            ("dag", dag),
            ("task", task),
            ("command", command),
            ("weekday", weekday),
            ("execution_delta", execution_delta),
            ("allowed_states", allowed_states),
            ("failed_states", failed_states),
        )
        if v is not None
    }
    description = options.pop("description", None)
    return _current_dag("sensor").add(
        Task(
            task_id=child_id(task_id),
            given={**options, "sensor": waits},
            description=description,
            file=file_,
            line=line,
        )
    )


def trigger_dag(
    task_id: str,
    trigger_dag_id: str,
    *,
    conf: dict | None = None,
    wait_for_completion: bool = False,
    logical_date: str | None = None,
    allowed_states: list[str] | None = None,
    failed_states: list[str] | None = None,
    **options: Any,
) -> Task:
    """Airflow's TriggerDagRunOperator: queue a run of `trigger_dag_id` (run id `trig__<logical date>`, its
    conf's string values templated); with `wait_for_completion`, wait (no slot) until it is in
    `allowed_states` (default success) and fail if it is in `failed_states` (default failed)."""
    waits = {"trigger_dag": trigger_dag_id, "conf": dict(conf or {}), "wait_for_completion": wait_for_completion}
    for key, value in (
        ("logical_date", logical_date),
        ("allowed_states", allowed_states),
        ("failed_states", failed_states),
    ):
        if value is not None:
            waits[key] = value
    return sensor(task_id, **options, _waits=waits)


def time_delta_sensor(task_id: str, delta: Any, **options: Any) -> Task:
    """Airflow's TimeDeltaSensor: wait until `delta` (a timedelta or seconds) after the run's data interval end."""
    seconds = delta.total_seconds() if hasattr(delta, "total_seconds") else float(delta)
    return sensor(task_id, until=f"{{{{ data_interval_end + macros.timedelta(seconds={seconds:g}) }}}}", **options)


def date_time_sensor(task_id: str, target_time: str, **options: Any) -> Task:
    """Airflow's DateTimeSensor: wait until `target_time` (a templated time; naive ones in the DAG's zone)."""
    return sensor(task_id, until=target_time, **options)


def day_of_week_sensor(task_id: str, week_day: str | list[str], **options: Any) -> Task:
    """Airflow's DayOfWeekSensor: wait until today (in the DAG's zone) is one of `week_day` ("monday", ...)."""
    return sensor(task_id, weekday=week_day, **options)


def external_task_sensor(
    task_id: str,
    external_dag_id: str,
    external_task_id: str,
    *,
    execution_date_fn: Callable | None = None,
    **options: Any,
) -> Task:
    """Airflow's ExternalTaskSensor: wait for that task of another DAG (see `sensor(dag=..., task=...)`).
    `execution_date_fn(logical_date, **context)` returns the logical date (or list of dates) of the other
    DAG's run(s) to look at; the sensor then pokes as a short try (the function runs in a task process)."""
    if execution_date_fn is None:
        return sensor(task_id, dag=external_dag_id, task=external_task_id, **options)
    if options.get("execution_delta") is not None:
        raise DagError(
            f"external task sensor '{task_id}' has both execution_delta and execution_date_fn",
            hint="give only one of them, as Airflow requires",
        )
    allowed, failed = options.pop("allowed_states", None) or ["success"], options.pop("failed_states", None) or []
    options.pop("execution_delta", None)
    check = _external_check(execution_date_fn, external_dag_id, external_task_id, list(allowed), list(failed))
    return task.sensor(check, task_id=task_id, **options)()


def _external_check(
    execution_date_fn: Callable, dag_id: str, task_id: str, allowed: list[str], failed: list[str]
) -> Callable:
    """The function a Python sensor pokes for `external_task_sensor(..., execution_date_fn=fn)`: `fn(logical_date,
    **context)` (given the context names it takes) returns one logical date or a list; met when `task_id` of
    `dag_id` is in `allowed` in the run of each date, failed at once when it is in `failed` in one of them."""

    def wait_for_external(ti: Any, **context: Any) -> bool:
        from datetime import timezone

        moments = _call_with_context(execution_date_fn, {**context, "ti": ti})
        moments = list(moments) if isinstance(moments, (list, tuple)) else [moments]
        moments = [m if m.tzinfo else m.replace(tzinfo=timezone.utc) for m in moments]
        states = ti.external_states(dag_id, task_id, moments)
        for moment, found in states.items():
            if any(s in failed for s in found):
                bad = ", ".join(s for s in found if s in failed)
                raise TaskFailed(f"{dag_id}.{task_id} is {bad} for {moment.isoformat()}")
        waiting = [m.isoformat() for m, found in states.items() if not any(s in allowed for s in found)]
        print(f"waiting for {dag_id}.{task_id} for {', '.join(waiting)}" if waiting else f"{dag_id}.{task_id} is done")
        return not waiting

    return wait_for_external


def _call_with_context(fn: Callable, context: dict) -> Any:
    """Airflow's way of calling `execution_date_fn`: the logical date first, then the context names it takes."""
    parameters = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        given = dict(context)
    else:
        given = {p.name: context[p.name] for p in parameters[1:] if p.name in context}
    given.pop(parameters[0].name if parameters else "", None)
    given.pop("logical_date", None)
    return fn(context["logical_date"], **given)


def external_task_marker(
    task_id: str,
    external_dag_id: str,
    external_task_id: str,
    *,
    logical_date: str | None = None,
    recursion_depth: int = 10,
    **options: Any,
) -> Task:
    """Airflow's ExternalTaskMarker: a no-process task; clearing it (e.g. clearing a task upstream of it with
    downstream) also clears `external_task_id` of `external_dag_id`, and its downstream, in the run whose logical
    date is `logical_date` (templated; default this run's), following markers there too, at most
    `recursion_depth` DAGs deep."""
    marker: dict[str, Any] = {"dag": external_dag_id, "task": external_task_id, "recursion_depth": recursion_depth}
    if logical_date is not None:
        marker["logical_date"] = logical_date
    file, line = _caller_location()
    return _current_dag("external_task_marker").add(
        Task(task_id=child_id(task_id), given={**options, "marker": marker}, file=file, line=line)
    )


@contextlib.contextmanager
def collecting() -> Iterator[list[Dag]]:
    """Collect every DAG created inside the block (while a DAG file runs)."""
    found: list[Dag] = []
    _COLLECTED.append(found)
    try:
        yield found
    finally:
        _COLLECTED.pop()
