"""Task options: what each one accepts, and how settings < DAG < task layers resolve.

`resolve_options({"retries": 2}, {"retry_delay": "1m"})` is a `TaskOptions` with durations in
seconds; a bad value raises DagError (or ConfigError for a duration) naming the option, with a
hint. `env` and `params` merge key by key across layers; every other option is replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .durations import parse_duration
from .errors import DagError, MinorchError, did_you_mean
from .states import TriggerRule


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
    soft_fail: bool = False  # sensors: a sensor that times out is skipped, not failed
    do_xcom_push: bool | None = None  # store the result; None: yes for Python tasks, no for shell tasks
    multiple_outputs: bool = False  # a Python task's dict result: each key is also a result of its own
    depends_on_past: bool = False  # run only if this task succeeded (or was skipped) in the previous run
    wait_for_downstream: bool = False  # ... and the tasks directly downstream of it there are done too
    priority_weight: int = 1  # when slots are short, higher total weight launches first
    weight_rule: str = "downstream"  # total weight: own + downstream ("downstream"), + upstream, or "absolute"
    max_active_tis_per_dag: int | None = None  # running copies of this task across all runs of the DAG
    max_active_tis_per_dagrun: int | None = None  # running copies of this task (mapped copies) in one run
    executor: str | None = None  # "local" or "dask"; None: [minorch] executor
    queue: str | None = None  # the Dask worker resource (`minorch worker --queue NAME`) its tries need


TASK_OPTIONS = frozenset(f.name for f in fields(TaskOptions))
WEIGHT_RULES = ("downstream", "upstream", "absolute")

#: Airflow's names for what minorch calls otherwise: an unknown option named here gets this hint.
AIRFLOW_NAMES = {
    "schedule_interval": "schedule",
    "execution_timeout": "timeout",
    "bash_command": "command",
    "python_callable": "python",
    "task_concurrency": "max_active_tis_per_dag",
    "concurrency": "max_active_tasks",
    "on_failure_callback": "on_failure",
    "on_success_callback": "on_success",
    "on_retry_callback": "on_retry",
    "sla_miss_callback": "on_sla_miss",
    "retry_exponential_backoff_max": "max_retry_delay",
    "doc": "doc_md",
    "tooltip": "description",
}
_MERGED = ("env", "params")  # dict options merge along settings < DAG < task instead of replacing


def check_int(name: str, value: Any, minimum: int, maximum: int = 100_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DagError(f"{name} must be a whole number, not {value!r}", hint=f"write e.g. {name} = {max(minimum, 1)}")
    if value < minimum:
        raise DagError(f"{name} must be {minimum} or more, not {value}", hint=f"write e.g. {name} = {max(minimum, 2)}")
    if value > maximum:
        raise DagError(f"{name} must be {maximum} or less, not {value}", hint=f"write e.g. {name} = {max(minimum, 2)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DagError(f"{name} must be true or false, not {value!r}", hint="write true or false without quotes")
    return value


def check_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise DagError(f"{name} must be a non-empty string, not {value!r}")
    return value


def check_table(name: str, value: Any) -> dict:
    if not isinstance(value, Mapping):
        raise DagError(f"{name} must be a table, not {value!r}", hint=f'write e.g. {name} = {{ KEY = "value" }}')
    return dict(value)


MAX_DEPTH = 32  # levels of nested tables and lists a value may have (templates and JSON recurse into them)


def _check_depth(name: str, value: Any) -> Any:
    level, items = 0, [value]
    while items:
        level += 1
        if level > MAX_DEPTH:
            raise DagError(f"{name} is nested more than {MAX_DEPTH} levels deep", hint="flatten it")
        items = [
            inner
            for item in items
            for inner in (item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else ())
        ]
    return value


def check_notifiers(name: str, value: Any) -> tuple:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, str) and item:
            continue
        if isinstance(item, Mapping) and len(set(item) & {"command", "webhook", "mail"}) == 1:
            continue
        raise DagError(
            f"{name}: {item!r} is not a notifier",
            hint='name one from [notifiers] or write { command = "..." }, { webhook = "https://..." } '
            'or { mail = "ops@example.com" }',
        )
    return tuple(items)


def coerce_option(name: str, value: Any) -> Any:
    """One task option's raw value checked and converted ("5m" -> 300.0 for timeout); raises DagError."""
    if name == "retries":
        return check_int(name, value, 0, 1000)
    if name == "skip_exit_code":
        return check_int(name, value, 0, 255)
    if name in ("retry_delay", "grace", "poke_interval"):
        return parse_duration(value, name=name)
    if name in ("max_retry_delay", "timeout", "sla"):  # "none" (TOML has no null) undoes a lower layer's value
        return None if value is None or value == "none" else parse_duration(value, name=name)
    if name in ("max_active_tis_per_dag", "max_active_tis_per_dagrun"):
        return None if value is None else check_int(name, value, 1)
    if name == "priority_weight":
        if isinstance(value, bool) or not isinstance(value, int):
            raise DagError(
                f"priority_weight must be a whole number, not {value!r}", hint="write e.g. priority_weight = 10"
            )
        return value
    if name == "weight_rule":
        if value not in WEIGHT_RULES:
            raise DagError(
                f"weight_rule {value!r} is unknown",
                hint=did_you_mean(str(value), WEIGHT_RULES) or "one of " + ", ".join(WEIGHT_RULES),
            )
        return value
    if name in (
        "retry_exponential_backoff",
        "soft_fail",
        "do_xcom_push",
        "multiple_outputs",
        "depends_on_past",
        "wait_for_downstream",
    ):
        return check_bool(name, value)
    if name == "trigger_rule":
        try:
            return TriggerRule(value)
        except ValueError:
            raise DagError(
                f"trigger_rule {value!r} is unknown",
                hint=did_you_mean(str(value), [r.value for r in TriggerRule])
                or "one of " + ", ".join(r.value for r in TriggerRule),
            ) from None
    if name in ("pool", "cwd", "queue"):
        return None if value is None else check_str(name, value)
    if name == "executor":
        if value not in ("local", "dask"):
            raise DagError(f"executor must be local or dask, not {value!r}", hint='write executor = "dask"')
        return value
    if name == "shell":
        return check_str(name, value)
    if name == "env":
        return {str(k): str(v) for k, v in check_table(name, value).items()}
    if name == "params":
        return _check_depth(name, check_table(name, value))
    if name in ("on_failure", "on_retry", "on_success"):
        return check_notifiers(name, value)
    raise AssertionError(name)


def resolve_options(*layers: Mapping[str, Any]) -> TaskOptions:
    """Merge option layers, lowest first (settings defaults, DAG, task); each layer is raw user input.

    A later layer replaces an option, except `env` and `params`, which merge key by key:
    ``resolve_options({"env": {"A": "1"}}, {"env": {"B": "2"}}).env == {"A": "1", "B": "2"}``.
    """
    return merge_layers(coerce_layer(layer) for layer in layers)


def coerce_layer(layer: Mapping[str, Any], fail: Callable[[MinorchError, str], MinorchError] | None = None) -> dict:
    """The task options of one raw layer, checked and converted; `fail(err, key)` locates an error."""
    checked = {}
    for name, raw in layer.items():
        if name in TASK_OPTIONS:
            try:
                checked[name] = coerce_option(name, raw)
            except MinorchError as err:
                raise (fail(err, name) if fail else err) from None
    return checked


def merge_layers(checked_layers: Iterable[Mapping[str, Any]]) -> TaskOptions:
    return TaskOptions(**merge_values(checked_layers))


def merge_values(checked_layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Checked layers, lowest first, merged into one: `merge_layers` without making the options,
    for a base that many tasks share (settings < DAG)."""
    values: dict[str, Any] = {}
    for layer in checked_layers:
        for name, value in layer.items():
            values[name] = {**values.get(name, {}), **value} if name in _MERGED else value
    return values


# Airflow's names for minorch's options, for a did-you-mean that a spelling match would miss.
AIRFLOW_NAMES = {
    "retry": "retries",
    "schedule_interval": "schedule",
    "timetable": "schedule",
    "execution_timeout": "timeout",
    "bash_command": "command",
    "depends_on": "after",
}


def unknown_key(key: str, allowed: Iterable[str], what: str) -> DagError:
    allowed = set(allowed)
    if key in AIRFLOW_NAMES and AIRFLOW_NAMES[key] in allowed:
        hint = f"did you mean '{AIRFLOW_NAMES[key]}'? (Airflow's '{key}' is '{AIRFLOW_NAMES[key]}' in minorch)"
    else:
        hint = did_you_mean(key, allowed) or "see docs/toml-reference.md for the options"
    return DagError(f"unknown {what} option '{key}'", hint=hint)
