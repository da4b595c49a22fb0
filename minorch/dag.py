"""DAGs and tasks: the Python API, the one builder both TOML and Python go through, validation.

Both ways of writing a DAG end as a *spec*: a plain dict in the shape of a TOML table::

    {"schedule": "@daily", "retries": 2,
     "tasks": {"extract": {"command": "echo {{ ds }}"},
               "load": {"python": "etl.load:main", "after": ["extract"]}}}

`build_dag(dag_id, spec, ...)` checks every option (did-you-mean for unknown names, types,
durations, the schedule), resolves defaults (settings < DAG < task), and checks the graph
(unknown upstreams, cycles with their path). The model does no I/O and reads no clock.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from .durations import parse_date, parse_duration
from .errors import DagError, MinorchError, did_you_mean
from .states import TriggerRule

# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class TaskOptions:
    """A task's resolved options. Durations are seconds."""

    retries: int = 0
    retry_delay: float = 300.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    timeout: float | None = None
    grace: float = 5.0
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    pool: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    shell: str = "/bin/sh"
    skip_exit_code: int = 99
    params: Mapping[str, Any] = field(default_factory=dict)
    sla: float | None = None
    on_failure: tuple = ()
    on_retry: tuple = ()
    on_success: tuple = ()
    poke_interval: float = 60.0  # sensors: seconds between pokes
    soft_fail: bool = False      # sensors: a sensor that times out is skipped, not failed


TASK_OPTIONS = frozenset(f.name for f in fields(TaskOptions))
TASK_KEYS = TASK_OPTIONS | {"command", "python", "after", "description", "source_line", "sensor", "branch",
                            "short_circuit", "map_over", "map_as"}
DAG_KEYS = frozenset({"schedule", "timezone", "start_date", "end_date", "catchup", "max_active_runs",
                      "max_active_tasks", "dagrun_timeout", "description", "tags", "interval_semantics",
                      "paused", "on_sla_miss", "source_line", "tasks"}) | TASK_OPTIONS
_MERGED = ("env", "params")  # dict options merge along settings < DAG < task instead of replacing


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DagError(f"{name} must be a whole number, not {value!r}", hint=f"write e.g. {name} = {max(minimum, 1)}")
    if value < minimum:
        raise DagError(f"{name} must be {minimum} or more, not {value}", hint=f"write e.g. {name} = {max(minimum, 2)}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DagError(f"{name} must be true or false, not {value!r}", hint="write true or false without quotes")
    return value


def _check_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise DagError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _check_table(name: str, value: Any) -> dict:
    if not isinstance(value, Mapping):
        raise DagError(f"{name} must be a table, not {value!r}", hint=f"write e.g. {name} = {{ KEY = \"value\" }}")
    return dict(value)


def _check_notifiers(name: str, value: Any) -> tuple:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, str) and item:
            continue
        if isinstance(item, Mapping) and len(set(item) & {"command", "webhook", "mail"}) == 1:
            continue
        raise DagError(f"{name}: {item!r} is not a notifier",
                       hint='name one from [notifiers] or write { command = "..." }, { webhook = "https://..." } '
                            'or { mail = "ops@example.com" }')
    return tuple(items)


def _coerce_task_option(name: str, value: Any) -> Any:
    if name == "retries":
        return _check_int(name, value, 0)
    if name == "skip_exit_code":
        return _check_int(name, value, 0)
    if name in ("retry_delay", "grace", "poke_interval"):
        return parse_duration(value, name=name)
    if name in ("max_retry_delay", "timeout", "sla"):
        return None if value is None else parse_duration(value, name=name)
    if name in ("retry_exponential_backoff", "soft_fail"):
        return _check_bool(name, value)
    if name == "trigger_rule":
        try:
            return TriggerRule(value)
        except ValueError:
            raise DagError(f"trigger_rule {value!r} is unknown",
                           hint=did_you_mean(str(value), [r.value for r in TriggerRule])
                           or "one of " + ", ".join(r.value for r in TriggerRule)) from None
    if name in ("pool", "cwd"):
        return None if value is None else _check_str(name, value)
    if name == "shell":
        return _check_str(name, value)
    if name == "env":
        return {str(k): str(v) for k, v in _check_table(name, value).items()}
    if name == "params":
        return _check_table(name, value)
    if name in ("on_failure", "on_retry", "on_success"):
        return _check_notifiers(name, value)
    raise AssertionError(name)


def resolve_options(*layers: Mapping[str, Any]) -> TaskOptions:
    """Merge option layers, lowest first (settings defaults, DAG, task); each layer is raw user input.

    A later layer replaces an option, except `env` and `params`, which merge key by key:
    ``resolve_options({"env": {"A": "1"}}, {"env": {"B": "2"}}).env == {"A": "1", "B": "2"}``.
    """
    return _merge(_coerce_layer(layer) for layer in layers)


def _coerce_layer(layer: Mapping[str, Any], fail: Callable[[MinorchError, str], MinorchError] | None = None) -> dict:
    """The task options of one raw layer, checked and converted; `fail(err, key)` locates an error."""
    checked = {}
    for name, raw in layer.items():
        if name in TASK_OPTIONS:
            try:
                checked[name] = _coerce_task_option(name, raw)
            except MinorchError as err:
                raise (fail(err, name) if fail else err) from None
    return checked


def _merge(checked_layers: Iterable[Mapping[str, Any]]) -> TaskOptions:
    values: dict[str, Any] = {}
    for layer in checked_layers:
        for name, value in layer.items():
            values[name] = {**values.get(name, {}), **value} if name in _MERGED else value
    return TaskOptions(**values)


def unknown_key(key: str, allowed: Iterable[str], what: str) -> DagError:
    return DagError(f"unknown {what} option '{key}'",
                    hint=did_you_mean(key, allowed) or "see docs/toml-reference.md for the options")


# ---------------------------------------------------------------- model


@dataclass
class Task:
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
    flavor: str | None = None   # "branch", "short_circuit" or "sensor"
    map_over: list | str | None = None  # a literal list, or the upstream task whose result list is mapped
    map_as: str = "item"                # the name each copy gets its item under (template value, parameter)
    sensor: dict | None = None  # what a sensor waits for: {"file": ...}, {"until": ...}, {"dag": .., "task": ..}, {"command": ...}

    @property
    def kind(self) -> str:
        if self.sensor is not None:
            return "sensor"
        return "shell" if self.command is not None else "python"

    # --- dependencies: a >> b, a >> [b, c], [a, b] >> c, a << b
    def set_downstream(self, other: Task | Iterable[Task]) -> None:
        for item in _tasks(other):
            if self.task_id not in item.upstream:
                item.upstream.append(self.task_id)

    def set_upstream(self, other: Task | Iterable[Task]) -> None:
        for item in _tasks(other):
            item.set_downstream(self)

    def __rshift__(self, other):
        self.set_downstream(other)
        return other

    def __lshift__(self, other):
        self.set_upstream(other)
        return other

    def __rrshift__(self, other):
        self.set_upstream(other)
        return self

    def __rlshift__(self, other):
        self.set_downstream(other)
        return self


def _tasks(value: Task | Iterable[Task]) -> list[Task]:
    items = [value] if isinstance(value, Task) else list(value)
    for item in items:
        if not isinstance(item, Task):
            raise DagError(f"cannot set a dependency on {item!r}; use tasks or lists of tasks")
    return items


def chain(*items: Task | Iterable[Task]) -> None:
    """chain(a, b, [c, d], e): a >> b >> [c, d] >> e."""
    for left, right in zip(items, items[1:]):
        for task in _tasks(left):
            task.set_downstream(right)


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
    paused: bool = False
    on_sla_miss: tuple = ()
    params: dict = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    source_path: str | None = None  # absolute path of a Python DAG file (its tasks re-import it)

    # --- the Python API's context manager
    def __enter__(self) -> Dag:
        _CONTEXT.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _CONTEXT.pop()

    def add(self, task: Task) -> Task:
        if task.task_id in self.tasks:
            raise DagError(f"task id '{task.task_id}' is used twice in DAG '{self.dag_id}'",
                           file=task.file, line=task.line, hint="give each task a unique task_id")
        task.dag = self
        self.tasks[task.task_id] = task
        return task

    def downstream(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {tid: [] for tid in self.tasks}
        for task in self.tasks.values():
            for up in task.upstream:
                result[up].append(task.task_id)
        return result

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
_COLLECTED: list[list[Dag]] = []  # load_dag_file collects every DAG a file creates


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
    dag = Dag(dag_id=dag_id, given=dict(options), file=file, line=line)
    if _COLLECTED:
        _COLLECTED[-1].append(dag)
    return dag


def dag(func: Callable | None = None, **options: Any):
    """`@dag(schedule=...)` on a function that creates tasks; calling it builds the DAG."""

    def wrap(fn: Callable):
        def build(*args, **kwargs) -> Dag:
            rest = {k: v for k, v in options.items() if k != "dag_id"}
            with DAG(options.get("dag_id", fn.__name__), **rest) as made:
                fn(*args, **kwargs)
            return made
        build.__wrapped__ = fn
        return build

    return wrap(func) if func is not None else wrap


def shell(task_id: str, command: str, **options: Any) -> Task:
    """A shell task in the current DAG; `command` is a Jinja template run by /bin/sh -c."""
    file, line = _caller_location()
    description = options.pop("description", None)
    return _current_dag("shell task").add(
        Task(task_id=task_id, command=command, given=options, description=description, file=file, line=line))


class _TaskFactory:
    def __init__(self, func: Callable, options: dict, fixed: dict | None = None) -> None:
        self.func, self.options, self.fixed = func, options, fixed or {}

    def partial(self, **kwargs: Any) -> _TaskFactory:
        """Arguments every mapped copy gets: `process.partial(day=ds).expand(table=tables)`."""
        return _TaskFactory(self.func, self.options, {**self.fixed, **kwargs})

    def expand(self, **mapped: Any) -> Task:
        """One copy of the task per item: `process.expand(table=get_tables())` maps over the list an
        upstream task returns, `process.expand(table=["a", "b"])` over a literal list. The copies'
        results reach downstream tasks as one list, in item order."""
        if len(mapped) != 1:
            raise DagError(f"expand task '{self.func.__name__}' over exactly one argument",
                           hint="fix the others with .partial(name=value)")
        [(name, over)] = mapped.items()
        made = self(**self.fixed)
        if isinstance(over, Task):
            over.set_downstream(made)
            over = over.task_id
        elif not isinstance(over, (list, tuple)):
            raise DagError(f"expand({name}=...) takes a task or a list, not {type(over).__name__}")
        made.given.update(map_over=list(over) if not isinstance(over, str) else over, map_as=name)
        return made

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        if args:
            raise DagError(f"call task '{self.func.__name__}' with keyword arguments",
                           hint=f"write {self.func.__name__}(name=value)")
        file, line = _caller_location()
        options = dict(self.options)
        task_id = options.pop("task_id", self.func.__name__)
        description = options.pop("description", inspect.getdoc(self.func))
        made = Task(task_id=task_id, func=self.func, given=options, description=description, file=file, line=line)
        upstream = []
        for name, value in kwargs.items():
            if isinstance(value, Task):
                made.xcom_args[name] = value.task_id
                upstream.append(value)
            else:
                made.call_kwargs[name] = value
        _current_dag("task").add(made)
        for up in upstream:
            up.set_downstream(made)
        return made


def task(func: Callable | None = None, **options: Any):
    """`@task` / `@task(retries=3)`: calling the function inside a DAG creates the task."""
    if func is not None:
        return _TaskFactory(func, options)
    return lambda fn: _TaskFactory(fn, options)


def _branch(func: Callable | None = None, **options: Any):
    """`@task.branch`: the function returns the task id (or list of ids) of the direct downstream
    tasks to follow; the other direct downstream tasks are skipped."""
    return task(func, **options, branch=True)


def _short_circuit(func: Callable | None = None, **options: Any):
    """`@task.short_circuit`: a falsy return value skips every task downstream of it."""
    return task(func, **options, short_circuit=True)


task.branch = _branch
task.short_circuit = _short_circuit


def sensor(task_id: str, *, file: str | None = None, until: str | None = None, dag: str | None = None,
           task: str | None = None, command: str | None = None, **options: Any) -> Task:
    """A task that waits for a condition without holding a slot between pokes:
    `file` (a glob, templated), `until` (a time, templated), `dag` + `task` (that task of another
    DAG succeeded for the same day), or `command` (exits 0). Options: poke_interval, timeout
    (the whole wait), soft_fail (skip instead of fail when it times out)."""
    file_, line = _caller_location()
    waits = {k: v for k, v in (("file", file), ("until", until), ("dag", dag), ("task", task),
                               ("command", command)) if v is not None}
    description = options.pop("description", None)
    return _current_dag("sensor").add(Task(task_id=task_id, given={**options, "sensor": waits},
                                           description=description, file=file_, line=line))


def load_dag_file(path: str) -> list[Dag]:
    """Execute a Python DAG file and return the DAGs it created (unbuilt: raw `given` options)."""
    import importlib.util
    import sys

    name = "minorch_dagfile_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    _COLLECTED.append([])
    try:
        spec.loader.exec_module(module)
    finally:
        found = _COLLECTED.pop()
    return found


# ---------------------------------------------------------------- specs and the builder


def _plain(value: Any) -> Any:
    """Python option values -> the TOML-like form (timedelta -> seconds, datetime -> ISO)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TriggerRule):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dag_to_spec(made: Dag) -> dict:
    """A Python-defined DAG as a JSON-able spec (what the isolated loader sends back)."""
    spec = {k: _plain(v) for k, v in made.given.items()}
    spec["tasks"] = {}
    for tid, item in made.tasks.items():
        entry = {k: _plain(v) for k, v in item.given.items()}
        given_after = entry.get("after", [])
        if isinstance(given_after, (str, list)):  # shell("b", "...", after=["a"]) adds to `a >> b` links
            given_after = [given_after] if isinstance(given_after, str) else given_after
            entry["after"] = list(dict.fromkeys([*given_after, *item.upstream]))
        if item.command is not None:
            entry["command"] = item.command
        if item.description:
            entry["description"] = item.description
        entry["_line"] = item.line
        entry["_callable"] = item.func is not None
        entry["_xcom_args"] = dict(item.xcom_args)
        if isinstance(entry.get("map_over"), str):
            entry["after"] = list(dict.fromkeys([*entry.get("after", []), entry["map_over"]]))
        spec["tasks"][tid] = entry
    spec["_line"] = made.line
    return spec


Locator = Callable[[tuple[str, ...]], "int | None"]  # key path -> line in the file
_PRIVATE_KEYS = frozenset({"_line", "_callable", "_xcom_args"})  # set by dag_to_spec, never by users
_SCHEDULE_HINT = 'write 5 fields "minute hour day month weekday" such as "30 2 * * *", or "@daily" or "every 10m"'


def _check_id(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise DagError(f"{what} {value!r} may hold only letters, digits, '_', '-' and '.'",
                       hint="rename it, e.g. 'load_orders'")
    return value


def _check_names(name: str, value: Any) -> list[str]:
    """A string or a list of strings, as `after` and `tags` accept."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i for i in items):
        raise DagError(f"{name} must be a list of names, not {value!r}", hint=f'write e.g. {name} = ["extract"]')
    return list(items)


def build_dag(dag_id: str, spec: Mapping[str, Any], *, file: str | None, locate: Locator | None = None,
              defaults: Mapping[str, Any] | None = None, default_timezone: str = "UTC",
              pools: Iterable[str] | None = None, notifiers: Iterable[str] | None = None) -> Dag:
    """Check a spec and build the `Dag`. Raises DagError with file:line and a hint.

    `locate` maps a TOML key path to its line; Python specs carry `_line` instead. `pools` and
    `notifiers` are the names defined in minorch.toml; None skips those checks.
    """
    from .schedule import parse_schedule

    def line_of(*path: str) -> int | None:
        return locate(("dags", dag_id) + path) if locate else None

    def fail(err: MinorchError, *path: str) -> MinorchError:
        return err.at(file, line_of(*path) or spec.get("_line"))

    try:
        _check_id("DAG id", dag_id)
    except MinorchError as err:
        raise fail(err) from None
    made = Dag(dag_id=dag_id, file=file, line=line_of() or spec.get("_line"))
    for key in spec:
        if key not in DAG_KEYS and key not in _PRIVATE_KEYS:
            raise fail(unknown_key(key, DAG_KEYS, "DAG"), key)

    def value(key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
        if spec.get(key) is None:
            return default
        try:
            return check(spec[key])
        except MinorchError as err:
            raise fail(err, key) from None

    made.timezone = value("timezone", lambda v: _check_str("timezone", v), default_timezone)
    try:
        made.schedule = parse_schedule(spec.get("schedule"), made.timezone)
    except MinorchError as err:
        if err.hint is None and "schedule" in spec:
            err.hint = _SCHEDULE_HINT
        raise fail(err, "schedule" if "schedule" in spec else "timezone") from None
    made.start_date = value("start_date", lambda v: parse_date(v, name="start_date", tz=made.timezone))
    made.end_date = value("end_date", lambda v: parse_date(v, name="end_date", tz=made.timezone))
    made.catchup = value("catchup", _check_catchup, False)
    made.max_active_runs = value("max_active_runs", lambda v: _check_int("max_active_runs", v, 1), 16)
    made.max_active_tasks = value("max_active_tasks", lambda v: _check_int("max_active_tasks", v, 1), 16)
    made.dagrun_timeout = value("dagrun_timeout", lambda v: parse_duration(v, name="dagrun_timeout"))
    made.interval_semantics = value("interval_semantics", lambda v: _check_bool("interval_semantics", v), False)
    made.paused = value("paused", lambda v: _check_bool("paused", v), False)
    made.description = value("description", lambda v: _check_str("description", v))
    made.tags = tuple(value("tags", lambda v: _check_names("tags", v), ()))
    made.on_sla_miss = value("on_sla_miss", lambda v: _check_notifiers("on_sla_miss", v), ())
    dag_layer = _coerce_layer(spec, lambda err, key: fail(err, key))
    made.params = dict(dag_layer.get("params", {}))
    default_layer = _coerce_layer(defaults or {})

    tasks = spec.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        raise DagError(f"DAG '{dag_id}' has no tasks",
                       hint=f"add a [dags.{dag_id}.tasks.<task_id>] table with a command").at(file, made.line)
    names = {"pools": None if pools is None else set(pools),
             "notifiers": None if notifiers is None else set(notifiers)}
    for tid, entry in tasks.items():
        made.add(_build_task(tid, entry, file, line_of, (default_layer, dag_layer), names))
    _check_graph(made, line_of)
    return made


def _check_catchup(value: Any) -> bool | str:
    if not isinstance(value, bool) and value != "latest":
        raise DagError(f'catchup must be true, false or "latest", not {value!r}',
                       hint="true creates every missed run, false none, \"latest\" only the most recent")
    return value


def _build_task(tid: str, entry: Any, file: str | None, line_of: Callable[..., int | None],
                layers: tuple[dict, dict], names: dict) -> Task:
    where = (entry.get("_line") if isinstance(entry, Mapping) else None) or line_of("tasks", tid)

    def fail(err: MinorchError, key: str | None = None) -> MinorchError:
        return err.at(file, (line_of("tasks", tid, key) if key else None) or where)

    try:
        _check_id("task id", tid)
    except MinorchError as err:
        raise fail(err) from None
    if not isinstance(entry, Mapping):
        raise fail(DagError(f"task '{tid}' must be a table", hint=f'write {tid} = {{ command = "..." }}'))
    for key in entry:
        if key not in TASK_KEYS and key not in _PRIVATE_KEYS:
            raise fail(unknown_key(key, TASK_KEYS, "task"), key)
    kinds = [k for k in ("command", "python", "sensor") if entry.get(k) is not None] + \
        (["_callable"] if entry.get("_callable") else [])
    if len(kinds) != 1:
        raise fail(DagError(f"task '{tid}' needs exactly one of command, python or sensor",
                            hint='write command = "..." for a shell task or python = "module:function"'))
    flavor = _check_flavor(tid, entry, fail)
    map_over, map_as = _check_mapping(tid, entry, fail)
    for key in ("command", "python", "description"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise fail(DagError(f"{key} must be a string, not {entry[key]!r}", hint=f'write {key} = "..."'), key)
    if entry.get("python") is not None and ":" not in entry["python"]:
        raise fail(DagError(f"python = {entry['python']!r} is not a reference", hint='write "package.module:function"'),
                   "python")
    try:
        after = _check_names("after", entry.get("after", []))
    except MinorchError as err:
        raise fail(err, "after") from None
    if isinstance(map_over, str) and map_over not in after:
        after.append(map_over)  # the task whose result is mapped over runs first
    opts = _merge((*layers, _coerce_layer(entry, fail)))
    pools, notifiers = names["pools"], names["notifiers"]
    if opts.pool is not None and pools is not None and opts.pool not in pools:
        raise fail(DagError(f"task '{tid}' uses pool '{opts.pool}', which is not defined",
                            hint=did_you_mean(opts.pool, pools)
                            or f"add it under [minorch.pools] in minorch.toml, e.g. {opts.pool} = 2"), "pool")
    for key in ("on_failure", "on_retry", "on_success"):
        for name in getattr(opts, key):
            if isinstance(name, str) and notifiers is not None and name not in notifiers:
                raise fail(DagError(f"task '{tid}' uses notifier '{name}', which is not defined",
                                    hint=did_you_mean(name, notifiers) or f"add a [notifiers.{name}] table "
                                    'to minorch.toml with command = "...", webhook = "..." or mail = "..."'), key)
    return Task(task_id=tid, command=entry.get("command"), python=entry.get("python"), upstream=after,
                given=dict(entry), xcom_args=dict(entry.get("_xcom_args", {})), description=entry.get("description"),
                file=file, line=where, opts=opts, flavor=flavor,
                sensor=dict(entry["sensor"]) if flavor == "sensor" else None, map_over=map_over, map_as=map_as)


def _check_mapping(tid: str, entry: Mapping[str, Any], fail) -> tuple[list | str | None, str]:
    """`map_over` (a list, or the id of an upstream task that returns one) and `map_as` (a name)."""
    over, name = entry.get("map_over"), entry.get("map_as", "item")
    if not isinstance(name, str) or not name.isidentifier():
        raise fail(DagError(f"map_as must be a name like item or table, not {name!r}"), "map_as")
    if over is None:
        if "map_as" in entry:
            raise fail(DagError("map_as needs map_over", hint='add map_over = ["a", "b"] or map_over = "task_id"'),
                       "map_as")
        return None, name
    if not isinstance(over, (str, list)) or over == "":
        raise fail(DagError(f"map_over must be a list or a task id, not {over!r}",
                            hint='write map_over = ["orders", "customers"] or map_over = "list_tables"'), "map_over")
    if entry.get("sensor") is not None or entry.get("branch") or entry.get("short_circuit"):
        raise fail(DagError(f"task '{tid}' cannot be mapped: sensors and branches run once"), "map_over")
    return over, name


SENSOR_KINDS = ("file", "until", "dag", "command")


def _check_flavor(tid: str, entry: Mapping[str, Any], fail) -> str | None:
    """"branch", "short_circuit" (Python tasks only), "sensor" (with a valid `sensor` table) or None."""
    for key in ("branch", "short_circuit"):
        if key in entry and not isinstance(entry[key], bool):
            raise fail(DagError(f"{key} must be true or false, not {entry[key]!r}"), key)
    flags = [k for k in ("branch", "short_circuit") if entry.get(k)]
    if len(flags) > 1:
        raise fail(DagError(f"task '{tid}' cannot be both a branch and a short-circuit"), "branch")
    if flags and entry.get("python") is None and not entry.get("_callable"):
        raise fail(DagError(f"{flags[0]} works on Python tasks: its return value decides",
                            hint='write python = "module:function" (or use @task.branch in a Python DAG file)'),
                   flags[0])
    if entry.get("sensor") is None:
        return flags[0] if flags else None
    waits = entry["sensor"]
    hint = ('write sensor = { file = "data/{{ ds }}/*.csv" }, { until = "{{ ds }}T06:00" }, '
            '{ dag = "other", task = "load" } or { command = "test -f ready" }')
    if not isinstance(waits, Mapping):
        raise fail(DagError(f"sensor must be a table, not {waits!r}", hint=hint), "sensor")
    unknown = [k for k in waits if k not in SENSOR_KINDS + ("task",)]
    if unknown:
        raise fail(DagError(f"unknown sensor key '{unknown[0]}'",
                            hint=did_you_mean(unknown[0], SENSOR_KINDS + ("task",)) or hint), "sensor")
    kinds = [k for k in SENSOR_KINDS if k in waits]
    if len(kinds) != 1 or ("task" in waits) != (kinds == ["dag"]):
        raise fail(DagError(f"sensor '{tid}' must wait for exactly one thing", hint=hint), "sensor")
    if any(not isinstance(v, str) or not v for v in waits.values()):
        raise fail(DagError(f"sensor '{tid}': values must be non-empty strings", hint=hint), "sensor")
    return "sensor"


def _check_graph(made: Dag, line_of: Callable[..., int | None]) -> None:
    """Unknown upstreams, self-dependencies and cycles (with their path), at the `after` line when known."""
    def line(tid: str) -> int | None:
        return line_of("tasks", tid, "after") or made.tasks[tid].line

    for item in made.tasks.values():
        for up in item.upstream:
            if up == item.task_id:
                raise DagError(f"task '{up}' depends on itself", hint="remove it from its own `after` list",
                               file=made.file, line=line(up))
            if up not in made.tasks:
                raise DagError(f"task '{item.task_id}' depends on '{up}', which does not exist",
                               hint=did_you_mean(up, made.tasks) or "check the `after` list",
                               file=made.file, line=line(item.task_id))
    cycle = _find_cycle(made)
    if cycle:
        raise DagError("tasks depend on each other in a cycle: " + " -> ".join(cycle),
                       hint=f"remove '{cycle[-2]}' from the `after` list of '{cycle[-1]}', or another link",
                       file=made.file, line=line(cycle[-1]))


def _find_cycle(made: Dag) -> list[str] | None:
    """A cycle as a path in run order (upstream first), first task repeated at the end, or None.

    Iterative depth-first search along upstream links, so a chain of thousands of tasks is fine.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in made.tasks:
        if root in state:
            continue
        state[root] = 1
        path, todo = [root], [iter(made.tasks[root].upstream)]
        while todo:
            up = next(todo[-1], None)
            if up is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(up) == 1:
                loop = path[path.index(up):] + [up]  # each item depends on the next
                return loop[::-1]
            elif up not in state:
                state[up] = 1
                path.append(up)
                todo.append(iter(made.tasks[up].upstream))
    return None
