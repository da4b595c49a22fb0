"""DAG specs and the one builder both TOML and Python DAGs go through.

Both ways of writing a DAG end as a *spec*: a plain dict in the shape of a TOML table::

    {"schedule": "@daily", "retries": 2,
     "tasks": {"extract": {"command": "echo {{ ds }}"},
               "load": {"python": "etl.load:main", "after": ["extract"]}}}

`build_dag(dag_id, spec, ...)` checks every option (did-you-mean for unknown names, types,
durations, the schedule), resolves defaults (settings < DAG < task), and checks the graph
(unknown upstreams, cycles with their path). `dag_to_spec` turns a DAG made with the Python
API into a spec (what the isolated loader sends back). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from .assets import Asset, asset_names, condition_spec, split_schedule
from .dag import Dag, Task
from .durations import parse_date, parse_duration
from .errors import DagError, MinorchError, did_you_mean
from .options import (
    TASK_OPTIONS,
    TaskOptions,
    check_bool,
    check_int,
    check_notifiers,
    check_str,
    coerce_layer,
    coerce_option,
    merge_layers,
    merge_values,
    unknown_key,
)
from .params import Param, split_params
from .states import TaskState, TriggerRule
from .taskgroup import child_of, link_groups, spec_groups

# Places a task's error at the line of one of its keys: fail(err, key) -> the error to raise.
Fail = Callable[[MinorchError, str], MinorchError]

TASK_KEYS = TASK_OPTIONS | {
    "command",
    "python",
    "after",
    "description",
    "source_line",
    "sensor",
    "branch",
    "short_circuit",
    "map_over",
    "map_as",
    "setup",
    "teardown",
    "group",
    "labels",
    "doc_md",
    "outlets",
    "inlets",
    "empty",
    "latest_only",
    "marker",
}
DAG_KEYS = (
    frozenset(
        {
            "schedule",
            "timezone",
            "start_date",
            "end_date",
            "catchup",
            "max_active_runs",
            "max_active_tasks",
            "dagrun_timeout",
            "description",
            "tags",
            "interval_semantics",
            "data_interval",
            "paused",
            "on_sla_miss",
            "source_line",
            "tasks",
            "groups",
            "doc_md",
        }
    )
    | TASK_OPTIONS
)


def _plain(value: Any) -> Any:
    """Python option values -> the TOML-like form (timedelta -> seconds, datetime -> ISO)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TriggerRule):
        return value.value
    if isinstance(value, Asset):
        return value.name
    if isinstance(value, Param):
        return _plain(value.as_spec())
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dag_to_spec(made: Dag) -> dict:
    """A Python-defined DAG as a JSON-able spec (what the isolated loader sends back)."""
    spec = {k: _plain(condition_spec(v) if k == "schedule" else v) for k, v in made.given.items()}
    if isinstance(made.given.get("schedule"), timedelta):  # Airflow's timedelta schedule: an interval
        spec["schedule"] = f"every {int(made.given['schedule'].total_seconds())}s"
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
        if item.group:
            entry["_group"] = item.group
        if item.labels:
            entry["labels"] = dict(item.labels)
        if isinstance(entry.get("map_over"), str):
            entry["after"] = list(dict.fromkeys([*entry.get("after", []), entry["map_over"]]))
        spec["tasks"][tid] = entry
    if made.groups:
        spec["_groups"] = {gid: dict(info) for gid, info in made.groups.items()}
    spec["_line"] = made.line
    return spec


Locator = Callable[[tuple[str, ...]], "int | None"]  # key path -> line in the file
_PRIVATE_KEYS = frozenset(
    {"_line", "_callable", "_xcom_args", "_group", "_groups"}
)  # set by dag_to_spec, never by users
_TASK_AND_PRIVATE_KEYS = TASK_KEYS | _PRIVATE_KEYS
_SCHEDULE_HINT = 'write 5 fields "minute hour day month weekday" such as "30 2 * * *", or "@daily" or "every 10m"'


MAX_ID_BYTES = 250  # an id is a file name (logs/<dag>/<run>/<task>/, runs/<dag>.lock): 255 bytes at most


def _check_id(what: str, value: Any) -> str:
    """An id is a file name and a command-line argument: letters, digits, '_', '-', '.'; no '-'
    first (it would read as an option), at most MAX_ID_BYTES bytes in UTF-8."""
    if not isinstance(value, str) or not value.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise DagError(
            f"{what} {value!r} may hold only letters, digits, '_', '-' and '.'", hint="rename it, e.g. 'load_orders'"
        )
    if value.startswith("-"):
        raise DagError(
            f"{what} {value!r} starts with '-', which commands would read as an option",
            hint=f"rename it, e.g. {value.lstrip('-') or 'load_orders'!r}",
        )
    size = len(value.encode())
    if size > MAX_ID_BYTES:
        raise DagError(
            f"{what} {value[:40]!r}... is {size} bytes long; ids name files, so at most {MAX_ID_BYTES} bytes",
            hint="give it a shorter name",
        )
    return value


def _check_names(name: str, value: Any) -> list[str]:
    """A string or a list of strings, as `after` and `tags` accept."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i for i in items):
        raise DagError(f"{name} must be a list of names, not {value!r}", hint=f'write e.g. {name} = ["extract"]')
    return list(items)


def build_dag(
    dag_id: str,
    spec: Mapping[str, Any],
    *,
    file: str | None,
    locate: Locator | None = None,
    defaults: Mapping[str, Any] | None = None,
    default_timezone: str = "UTC",
    pools: Iterable[str] | None = None,
    notifiers: Iterable[str] | None = None,
) -> Dag:
    """Check a spec and build the `Dag`. Raises DagError with file:line and a hint.

    `locate` maps a TOML key path to its line; Python specs carry `_line` instead. `pools` and
    `notifiers` are the names defined in minorch.toml; None skips those checks.
    """
    from .schedule import check_timezone, parse_schedule

    def line_of(*path: str) -> int | None:
        return locate(("dags", dag_id) + path) if locate else None

    def fail(err: MinorchError, *path: str) -> MinorchError:
        return err.at(file, line_of(*path) or spec.get("_line"))

    try:
        _check_id("DAG id", dag_id)
    except MinorchError as err:
        raise fail(err) from None
    made = Dag(dag_id=dag_id, file=file, line=line_of() or spec.get("_line"))
    # Every fault is reported, not only the first: each option and each task is checked on its own.
    found: list[MinorchError] = [
        fail(unknown_key(key, DAG_KEYS, "DAG"), key) for key in spec if key not in DAG_KEYS and key not in _PRIVATE_KEYS
    ]

    def value(key: str, check: Callable[[Any], Any], default: Any = None) -> Any:
        if spec.get(key) is None:
            return default
        try:
            return check(spec[key])
        except MinorchError as err:
            found.append(fail(err, key))
            return default

    made.timezone = value("timezone", lambda v: check_timezone(check_str("timezone", v)), default_timezone)
    try:
        timed, made.assets = split_schedule(spec.get("schedule"))
        made.schedule = parse_schedule(_schedule_text(timed), made.timezone)
        if made.assets is not None:
            made.assets = replace(made.assets, line=line_of("schedule") or spec.get("_line"))
    except MinorchError as err:
        if err.hint is None and "schedule" in spec:
            err.hint = _SCHEDULE_HINT
        found.append(fail(err, "schedule" if "schedule" in spec else "timezone"))
    made.start_date = value("start_date", lambda v: parse_date(v, name="start_date", tz=made.timezone))
    made.end_date = value("end_date", lambda v: parse_date(v, name="end_date", tz=made.timezone))
    made.catchup = value("catchup", _check_catchup, False)
    made.max_active_runs = value("max_active_runs", lambda v: check_int("max_active_runs", v, 1), 16)
    made.max_active_tasks = value("max_active_tasks", lambda v: check_int("max_active_tasks", v, 1), 16)
    made.dagrun_timeout = value("dagrun_timeout", lambda v: parse_duration(v, name="dagrun_timeout"))
    made.interval_semantics = value("interval_semantics", lambda v: check_bool("interval_semantics", v), False)
    made.data_interval = value(
        "data_interval", lambda v: _check_data_interval(v, made.interval_semantics), made.data_interval
    )
    made.paused = value("paused", lambda v: check_bool("paused", v), False)
    made.description = value("description", lambda v: check_str("description", v))
    made.tags = tuple(value("tags", lambda v: _check_names("tags", v), ()))
    made.on_sla_miss = value("on_sla_miss", lambda v: check_notifiers("on_sla_miss", v), ())
    dag_layer = _coerce_each(spec, fail, found)
    try:
        made.params, made.param_schemas = split_params(dag_layer.get("params", {}))
    except DagError as err:
        found.append(fail(err, "params", getattr(err, "param", "")))
    if made.param_schemas:
        dag_layer["params"] = dict(made.params)
    options_for = _options_over(merge_values((coerce_layer(defaults or {}), dag_layer)))

    tasks = spec.get("tasks")
    if not isinstance(tasks, Mapping) or not tasks:
        found.append(
            DagError(
                f"DAG '{dag_id}' has no tasks", hint=f"add a [dags.{dag_id}.tasks.<task_id>] table with a command"
            ).at(file, made.line)
        )
        raise MinorchError.combined(found)
    names = {"pools": None if pools is None else set(pools), "notifiers": None if notifiers is None else set(notifiers)}
    made.doc_md = value("doc_md", lambda v: check_str("doc_md", v))
    try:
        groups, alias = spec_groups(spec.get("groups"), spec.get("_groups"))
    except DagError as err:
        raise MinorchError.combined([*found, fail(err, "groups", getattr(err, "group_key", ""))]) from None
    made.groups = {gid: {k: v for k, v in info.items() if k != "after"} for gid, info in groups.items()}
    for key, entry in tasks.items():
        try:
            try:
                group = _task_group(key, entry, alias)
            except MinorchError as err:
                raise fail(err, "tasks", key, "group") from None
            tid = key if group is None or "_group" in entry else child_of(groups, group, key)
            built = _build_task(tid, entry, file, line_of, options_for, names, key=key)
        except MinorchError as err:
            found.append(err)
            continue
        built.group = group
        made.add(built)
    if found:  # the graph checks need every task: they come once all are sound
        raise MinorchError.combined(found)
    link_groups(made, groups, alias)
    _check_graph(made, line_of)
    _set_weights(made)
    return made


def _options_over(shared: dict) -> Callable[[dict], TaskOptions]:
    """A task's options from its checked layer over `shared` (settings < DAG). Tasks whose own
    options are equal get one TaskOptions (frozen, so sharing it is safe): in a DAG of many alike
    tasks, making the options was a third of building it. A layer with a table (env, params, a
    notifier given as a table) is not hashable and gets options of its own."""
    made: dict[frozenset, TaskOptions] = {}

    def options_for(task_layer: dict) -> TaskOptions:
        try:
            key = frozenset(task_layer.items())
        except TypeError:
            return merge_layers((shared, task_layer))
        if key not in made:
            made[key] = merge_layers((shared, task_layer))
        return made[key]

    return options_for


def _coerce_each(layer: Mapping[str, Any], fail: Callable[..., MinorchError], found: list[MinorchError]) -> dict:
    """The task options of `layer` checked one by one: each bad one is added to `found`."""
    checked: dict = {}
    for key, raw in layer.items():
        if key in TASK_OPTIONS:
            try:
                checked[key] = coerce_option(key, raw)
            except MinorchError as err:
                found.append(fail(err, key))
    return checked


def _schedule_text(value: Any) -> Any:
    """A schedule given as a number of seconds (a `timedelta` in Python) is an interval: 3600 -> "every 3600s"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if not 0 < value < float("inf") or value != int(value):  # nan and inf too
        raise DagError(
            f"schedule {value!r} seconds is not a whole positive number of seconds", hint='write e.g. "every 10m"'
        )
    return f"every {int(value)}s"


def _set_weights(made: Dag) -> None:
    """Each task's priority: its priority_weight plus, by its weight_rule, those of all tasks downstream
    ("downstream", Airflow's default) or upstream of it ("upstream"), or only its own ("absolute").

    Each task's set of tasks below (and above) it is a bitset over the topological order, made from
    its neighbours' sets in one pass: linear in the links, where a walk from every task was quadratic
    (a chain of 5,000 tasks took seconds)."""
    made.prioritized = any(
        t.opts.priority_weight != 1 or t.opts.weight_rule != "downstream" for t in made.tasks.values()
    )
    order = made.topological()
    bit = {tid: 1 << i for i, tid in enumerate(order)}
    with_weight: dict[int, int] = {}  # priority_weight -> the tasks that have it
    for tid in order:
        weight = made.tasks[tid].opts.priority_weight
        with_weight[weight] = with_weight.get(weight, 0) | bit[tid]
    rules = {t.opts.weight_rule for t in made.tasks.values()}
    below: dict[str, int] = {}
    if "downstream" in rules:
        downstream = made.downstream()
        for tid in reversed(order):
            below[tid] = _union(bit, below, downstream[tid])
    above: dict[str, int] = {}
    if "upstream" in rules:
        for tid in order:
            above[tid] = _union(bit, above, made.tasks[tid].upstream)
    for task in made.tasks.values():
        task.weight = task.opts.priority_weight
        if task.opts.weight_rule != "absolute":
            others = (below if task.opts.weight_rule == "downstream" else above)[task.task_id]
            task.weight += sum(weight * (others & tasks).bit_count() for weight, tasks in with_weight.items())


def _union(bit: dict[str, int], reach: dict[str, int], neighbours: list[str]) -> int:
    """The tasks `neighbours` and all those they reach."""
    found = 0
    for tid in neighbours:
        found |= bit[tid] | reach[tid]
    return found


def _check_catchup(value: Any) -> bool | str:
    if not isinstance(value, bool) and value != "latest":
        raise DagError(
            f'catchup must be true, false or "latest", not {value!r}',
            hint='true creates every missed run, false none, "latest" only the most recent',
        )
    return value


def _check_data_interval(value: Any, interval_semantics: bool) -> str:
    if value not in ("previous_fire", "point"):
        raise DagError(
            f'data_interval must be "previous_fire" or "point", not {value!r}',
            hint='"previous_fire": data_interval_start is the fire before; "point": it equals the logical date',
        )
    if value == "point" and interval_semantics:
        raise DagError(
            'data_interval = "point" contradicts interval_semantics = true (a run covering [previous fire, fire))',
            hint="drop one of the two options",
        )
    return value


def _task_group(key: str, entry: Any, alias: dict[str, str]) -> str | None:
    """The full id of the group a task is in: `_group` (Python) or `group = "name"` (TOML).
    Raises DagError for an unknown group."""
    if not isinstance(entry, Mapping):
        return None
    if entry.get("_group"):
        return entry["_group"]
    name = entry.get("group")
    if name is None:
        return None
    if not isinstance(name, str) or name not in alias:
        raise DagError(
            f"task '{key}' is in group {name!r}, which is not defined",
            hint=did_you_mean(str(name), alias) or f"add a [dags.<id>.groups.{name}] table",
        )
    return alias[name]


def _build_task(
    tid: str,
    entry: Any,
    file: str | None,
    line_of: Callable[..., int | None],
    options_for: Callable[[dict], TaskOptions],
    names: dict,
    key: str | None = None,
) -> Task:
    key_ = key or tid
    where = (entry.get("_line") if isinstance(entry, Mapping) else None) or line_of("tasks", key_)

    def fail(err: MinorchError, key: str | None = None) -> MinorchError:
        return err.at(file, (line_of("tasks", key_, key) if key else None) or where)

    try:
        _check_id("task id", tid)
    except MinorchError as err:
        raise fail(err) from None
    if not isinstance(entry, Mapping):
        raise fail(DagError(f"task '{tid}' must be a table", hint=f'write {tid} = {{ command = "..." }}'))
    found = [fail(unknown_key(key, TASK_KEYS, "task"), key) for key in entry if key not in _TASK_AND_PRIVATE_KEYS]
    task_layer = _coerce_each(entry, fail, found)
    if found:
        raise MinorchError.combined(found)
    for key in ("empty", "latest_only"):
        if key in entry and not isinstance(entry[key], bool):
            raise fail(DagError(f"{key} must be true or false, not {entry[key]!r}"), key)
    kinds = [k for k in ("command", "python", "sensor", "marker") if entry.get(k) is not None] + [
        k for k in ("_callable", "empty", "latest_only") if entry.get(k)
    ]
    if kinds == ["sensor", "_callable"] and isinstance(entry["sensor"], Mapping) and "python" in entry["sensor"]:
        kinds = ["sensor"]  # @task.sensor: the decorated function is what is poked
    if len(kinds) != 1:
        raise fail(
            DagError(
                f"task '{tid}' needs exactly one of command, python, sensor, marker, empty or latest_only",
                hint='write command = "..." for a shell task or python = "module:function"',
            )
        )
    flavor = _check_flavor(tid, entry, fail)
    outlets, inlets = (_check_assets(entry, key, fail) if key in entry else () for key in ("outlets", "inlets"))
    marker = _check_marker(entry["marker"], fail) if kinds[0] == "marker" else None
    flavor = kinds[0] if kinds[0] in ("empty", "latest_only") else flavor
    flavor = "empty" if marker else flavor
    map_over, map_as = _check_mapping(tid, entry, fail)
    labels = entry.get("labels", {})
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise fail(
            DagError(f"labels must be a table of edge labels, not {labels!r}", hint='labels = { check = "valid" }'),
            "labels",
        )
    for key in ("command", "python", "description", "doc_md"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise fail(DagError(f"{key} must be a string, not {entry[key]!r}", hint=f'write {key} = "..."'), key)
    if entry.get("python") is not None and ":" not in entry["python"]:
        raise fail(
            DagError(f"python = {entry['python']!r} is not a reference", hint='write "package.module:function"'),
            "python",
        )
    try:
        after = _check_names("after", entry.get("after", []))
    except MinorchError as err:
        raise fail(err, "after") from None
    if isinstance(map_over, str) and map_over not in after:
        after.append(map_over)  # the task whose result is mapped over runs first
    is_setup, teardown = _check_setup_teardown(tid, entry, fail)
    if teardown is not None:
        after += [s for s in teardown["setups"] if s not in after]
    opts = options_for(task_layer)
    if teardown is not None:
        opts = replace(opts, trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS)
    pools, notifiers = names["pools"], names["notifiers"]
    if opts.pool is not None and pools is not None and opts.pool not in pools:
        raise fail(
            DagError(
                f"task '{tid}' uses pool '{opts.pool}', which is not defined",
                hint=did_you_mean(opts.pool, pools)
                or f"add it under [minorch.pools] in minorch.toml, e.g. {opts.pool} = 2",
            ),
            "pool",
        )
    for key in ("on_failure", "on_retry", "on_success"):
        for name in getattr(opts, key):
            if isinstance(name, str) and notifiers is not None and name not in notifiers:
                raise fail(
                    DagError(
                        f"task '{tid}' uses notifier '{name}', which is not defined",
                        hint=did_you_mean(name, notifiers)
                        or f"add a [notifiers.{name}] table "
                        'to minorch.toml with command = "...", webhook = "..." or mail = "..."',
                    ),
                    key,
                )
    return Task(
        task_id=tid,
        command=entry.get("command"),
        python=entry.get("python") or _python_sensor_ref(entry),
        upstream=after,
        given={**entry, "teardown": teardown} if teardown is not None else dict(entry),
        xcom_args=dict(entry.get("_xcom_args", {})),
        description=entry.get("description"),
        file=file,
        line=where,
        opts=opts,
        flavor=flavor,
        sensor=dict(entry["sensor"]) if flavor == "sensor" else None,
        map_over=map_over,
        map_as=map_as,
        labels=dict(labels),
        doc_md=entry.get("doc_md"),
        is_setup=is_setup,
        is_teardown=teardown is not None,
        on_failure_fail_dagrun=bool(teardown and teardown["on_failure_fail_dagrun"]),
        outlets=outlets,
        inlets=inlets,
        marker=marker,
    )


def _check_marker(marker: Any, fail: Fail) -> dict:
    """An external task marker: `{ dag = "other", task = "load", logical_date = "{{ ts }}", recursion_depth = 10 }`."""
    hint = 'write marker = { dag = "other_dag", task = "its_task" } (optional: logical_date, recursion_depth)'
    if not isinstance(marker, Mapping):
        raise fail(DagError(f"marker must be a table, not {marker!r}", hint=hint), "marker")
    unknown = [k for k in marker if k not in ("dag", "task", "logical_date", "recursion_depth")]
    if unknown:
        found = did_you_mean(unknown[0], ("dag", "task", "logical_date", "recursion_depth"))
        raise fail(DagError(f"unknown marker key '{unknown[0]}'", hint=found or hint), "marker")
    for key in ("dag", "task", "logical_date"):
        if (key in marker or key != "logical_date") and not (isinstance(marker.get(key), str) and marker[key]):
            problem = f"marker {key} must be a non-empty string, not {marker.get(key)!r}"
            raise fail(DagError(problem, hint=hint), "marker")
    depth = marker.get("recursion_depth", 10)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise fail(
            DagError(f"marker recursion_depth must be a whole number of at least 1, not {depth!r}", hint=hint), "marker"
        )
    return {**marker, "recursion_depth": depth}


def _python_sensor_ref(entry: Mapping[str, Any]) -> str | None:
    """`sensor = { python = "mod:func" }` pokes that function (a decorated @task.sensor has its own)."""
    waits = entry.get("sensor")
    if isinstance(waits, Mapping) and "python" in waits and not entry.get("_callable"):
        return waits["python"]
    return None


def _check_setup_teardown(tid: str, entry: Mapping[str, Any], fail: Fail) -> tuple[bool, dict | None]:
    """`setup = true` and `teardown = true | { setups = [...], on_failure_fail_dagrun = false }`."""
    is_setup = entry.get("setup", False)
    if not isinstance(is_setup, bool):
        raise fail(DagError(f"setup must be true or false, not {is_setup!r}"), "setup")
    raw = entry.get("teardown")
    if raw is None or raw is False:
        return is_setup, None
    hint = 'write teardown = { setups = ["create_cluster"] } (or teardown = true)'
    if raw is True:
        raw = {}
    if not isinstance(raw, Mapping):
        raise fail(DagError(f"teardown must be true or a table, not {raw!r}", hint=hint), "teardown")
    for key in raw:
        if key not in ("setups", "on_failure_fail_dagrun"):
            raise fail(unknown_key(key, ("setups", "on_failure_fail_dagrun"), "teardown"), "teardown")
    if is_setup:
        raise fail(DagError(f"task '{tid}' cannot be both a setup and a teardown"), "teardown")
    rule = entry.get("trigger_rule")
    if rule is not None and _plain(rule) != TriggerRule.ALL_DONE_SETUP_SUCCESS.value:
        raise fail(
            DagError(
                f"teardown '{tid}' has trigger_rule {_plain(rule)!r}; a teardown's rule is all_done_setup_success",
                hint="remove trigger_rule from the teardown",
            ),
            "trigger_rule",
        )
    try:
        setups = _check_names("teardown.setups", raw.get("setups", []))
        fail_run = check_bool("on_failure_fail_dagrun", raw.get("on_failure_fail_dagrun", False))
    except MinorchError as err:
        raise fail(err, "teardown") from None
    return is_setup, {"setups": setups, "on_failure_fail_dagrun": fail_run}


def _check_assets(entry: Mapping[str, Any], key: str, fail: Fail) -> tuple[str, ...]:
    """`outlets` / `inlets`: asset names (or Asset objects in Python)."""
    try:
        return asset_names(entry.get(key, []), key)
    except MinorchError as err:
        raise fail(err, key) from None


def _check_mapping(tid: str, entry: Mapping[str, Any], fail: Fail) -> tuple[list | str | None, str]:
    """`map_over` (a list, or the id of an upstream task that returns one) and `map_as` (a name)."""
    over, name = entry.get("map_over"), entry.get("map_as", "item")
    if not isinstance(name, str) or not name.isidentifier():
        raise fail(DagError(f"map_as must be a name like item or table, not {name!r}"), "map_as")
    if over is None:
        if "map_as" in entry:
            raise fail(
                DagError("map_as needs map_over", hint='add map_over = ["a", "b"] or map_over = "task_id"'), "map_as"
            )
        return None, name
    if not isinstance(over, (str, list)) or over == "":
        raise fail(
            DagError(
                f"map_over must be a list or a task id, not {over!r}",
                hint='write map_over = ["orders", "customers"] or map_over = "list_tables"',
            ),
            "map_over",
        )
    if entry.get("sensor") is not None or entry.get("branch") or entry.get("short_circuit"):
        raise fail(DagError(f"task '{tid}' cannot be mapped: sensors and branches run once"), "map_over")
    return over, name


SENSOR_KINDS = ("file", "until", "dag", "command", "weekday", "python", "trigger_dag")


def _check_flavor(tid: str, entry: Mapping[str, Any], fail: Fail) -> str | None:
    """ "branch", "short_circuit" (Python tasks only), "sensor" (with a valid `sensor` table) or None."""
    for key in ("branch", "short_circuit"):
        if key in entry and not isinstance(entry[key], bool):
            raise fail(DagError(f"{key} must be true or false, not {entry[key]!r}"), key)
    flags = [k for k in ("branch", "short_circuit") if entry.get(k)]
    if len(flags) > 1:
        raise fail(DagError(f"task '{tid}' cannot be both a branch and a short-circuit"), "branch")
    if flags and entry.get("python") is None and not entry.get("_callable"):
        raise fail(
            DagError(
                f"{flags[0]} works on Python tasks: its return value decides",
                hint='write python = "module:function" (or use @task.branch in a Python DAG file)',
            ),
            flags[0],
        )
    if entry.get("sensor") is None:
        return flags[0] if flags else None
    return _check_sensor(tid, entry["sensor"], fail)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SENSOR_EXTRAS = ("task", "execution_delta", "allowed_states", "failed_states")  # with `dag` only
_TRIGGER_EXTRAS = ("conf", "wait_for_completion", "logical_date", "allowed_states", "failed_states")


def _check_sensor(tid: str, waits: Any, fail: Fail) -> str:
    """A `sensor` table: exactly one of SENSOR_KINDS, its values checked (and normalized in place)."""
    hint = (
        'write sensor = { file = "data/{{ ds }}/*.csv" }, { until = "{{ ds }}T06:00" }, '
        '{ dag = "other", task = "load" }, { weekday = ["saturday", "sunday"] }, { python = "mod:func" } '
        'or { command = "test -f ready" }'
    )
    if not isinstance(waits, Mapping):
        raise fail(DagError(f"sensor must be a table, not {waits!r}", hint=hint), "sensor")
    trigger = "trigger_dag" in waits
    allowed = SENSOR_KINDS + (_TRIGGER_EXTRAS if trigger else _SENSOR_EXTRAS)
    unknown = [k for k in waits if k not in allowed]
    if unknown:
        raise fail(
            DagError(f"unknown sensor key '{unknown[0]}'", hint=did_you_mean(unknown[0], allowed) or hint), "sensor"
        )
    kinds = [k for k in SENSOR_KINDS if k in waits]
    extras = [k for k in _SENSOR_EXTRAS if k in waits and not trigger]
    if len(kinds) != 1 or ("task" in waits) != (kinds == ["dag"]) or (extras and kinds != ["dag"]):
        raise fail(DagError(f"sensor '{tid}' must wait for exactly one thing", hint=hint), "sensor")
    try:
        for key, value in waits.items():
            if key == "weekday":
                days = [value] if isinstance(value, str) else value
                if not isinstance(days, list) or not days or any(str(d).lower() not in WEEKDAYS for d in days):
                    raise DagError(
                        f"sensor weekday {value!r} is not a day name", hint='write e.g. ["saturday", "sunday"]'
                    )
            elif key == "execution_delta":
                parse_duration(value, name="execution_delta")
            elif key == "conf":
                if not isinstance(value, Mapping):
                    raise DagError(
                        f"trigger_dag conf must be a table, not {value!r}", hint='write conf = { region = "eu" }'
                    )
            elif key == "wait_for_completion":
                check_bool("wait_for_completion", value)
            elif key in ("allowed_states", "failed_states"):
                names = [value] if isinstance(value, str) else value
                states = [s.value for s in TaskState]
                wrong = [n for n in names if n not in states] if isinstance(names, list) else [value]
                if wrong:
                    raise DagError(
                        f"sensor {key}: {wrong[0]!r} is not a task state", hint=did_you_mean(str(wrong[0]), states)
                    )
            elif not isinstance(value, str) or not value:
                raise DagError(f"sensor '{tid}': values must be non-empty strings ({key})", hint=hint)
    except MinorchError as err:
        raise fail(err, "sensor") from None
    return "sensor"


def _check_graph(made: Dag, line_of: Callable[..., int | None]) -> None:
    """Unknown upstreams, self-dependencies and cycles (with their path), at the `after` line when known."""

    def line(tid: str) -> int | None:
        return line_of("tasks", tid, "after") or made.tasks[tid].line

    python = (made.file or "").endswith(".py")  # links are written `a >> b` there, not `after = [...]`
    found: list[MinorchError] = []
    for item in made.tasks.values():
        for up in item.upstream:
            if up == item.task_id:
                found.append(
                    DagError(
                        f"task '{up}' depends on itself",
                        hint=f"remove `{up} >> {up}`" if python else "remove it from its own `after` list",
                        file=made.file,
                        line=line(up),
                    )
                )
            elif up not in made.tasks:
                found.append(
                    DagError(
                        f"task '{item.task_id}' depends on '{up}', which does not exist",
                        hint=did_you_mean(up, made.tasks)
                        or ("check its upstream tasks" if python else "check the `after` list"),
                        file=made.file,
                        line=line(item.task_id),
                    )
                )
    for item in made.tasks.values():
        for name in item.given["teardown"]["setups"] if item.is_teardown else ():
            if name in made.tasks and not made.tasks[name].is_setup:
                found.append(
                    DagError(
                        f"teardown '{item.task_id}' names '{name}' as its setup, but '{name}' is not a setup task",
                        hint=f"add setup = true to task '{name}'",
                        file=made.file,
                        line=line(item.task_id),
                    )
                )
    if found:  # a cycle is looked for among known links only
        raise MinorchError.combined(found)
    cycle = _find_cycle(made)
    if cycle:
        raise DagError(
            "tasks depend on each other in a cycle: " + " -> ".join(cycle),
            hint=(
                f"remove `{cycle[-2]} >> {cycle[-1]}`, or another link of the cycle"
                if python
                else f"remove '{cycle[-2]}' from the `after` list of '{cycle[-1]}', or another link"
            ),
            file=made.file,
            line=line(cycle[-1]),
        )


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
                loop = path[path.index(up) :] + [up]  # each item depends on the next
                return loop[::-1]
            elif up not in state:
                state[up] = 1
                path.append(up)
                todo.append(iter(made.tasks[up].upstream))
    return None
