"""Airflow's DAG and task arguments translated to minorch's options.

`dag_options(kwargs)` and `task_options(kwargs)` turn what an Airflow file passes (timedeltas,
pendulum datetimes, `execution_timeout`, `default_args`, ...) into the plain options minorch's
`DAG(...)` and tasks take. Arguments minorch has no use for are dropped with a warning that
`minorch validate` lists; arguments that only describe (owner, email flags left off) are dropped
silently. `DAG`/`dag` here are Airflow's spellings of minorch's.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from ..dag import DAG as _minorch_dag
from ..dag import Dag, _caller_location
from ..errors import DagError
from . import warn
from .callback import KINDS as CALLBACK_KINDS

# Airflow task argument -> minorch task option (same meaning, value converted by _plain)
_TASK_RENAMED = {
    "execution_timeout": "timeout",
    "doc": "doc_md",
    "doc_rst": "doc_md",
    "doc_json": "doc_md",
    "doc_yaml": "doc_md",
    "doc_md": "doc_md",
}
DOCS = frozenset(key for key, name in _TASK_RENAMED.items() if name == "doc_md")  # doc, doc_md, doc_rst, ...
# Only describe the task in Airflow's UI or address features minorch has in other forms: dropped.
_TASK_SILENT = frozenset(
    {
        "owner",
        "email",
        "email_on_failure",
        "email_on_retry",
        "task_display_name",
        "start_date",
        "end_date",
        "mode",  # a minorch sensor never holds a slot between pokes, in either mode
        "executor_config",
        "resources",
        "run_as_user",
        "weight_rule_class",
        "ui_color",
        "ui_fgcolor",
        "map_index_template",  # how Airflow's UI names a mapped task's copies
        "provide_context",  # Airflow 1's switch, accepted and ignored by Airflow 2: the context is always given
        "deferrable",  # a minorch sensor or trigger-wait never holds a slot, deferred or not
    }
)
# template_searchpath of each DAG by id, as a list of folders (Airflow takes one folder or a list); set
# by DAG() each time a DAG file is loaded, read by BashOperator when its command names a .sh file.
SEARCH_PATHS: dict[str, list[str | os.PathLike[str]]] = {}

_DAG_RENAMED = {"schedule_interval": "schedule", "concurrency": "max_active_tasks", "is_paused_upon_creation": "paused"}
_DAG_SILENT = frozenset(
    {
        "default_view",
        "orientation",
        "owner_links",
        "auto_register",
        "dag_display_name",
        "access_control",
        "disable_bundle_versioning",
    }
)
_DAG_OWN = frozenset(
    {
        "schedule",
        "start_date",
        "end_date",
        "catchup",
        "max_active_runs",
        "max_active_tasks",
        "dagrun_timeout",
        "description",
        "tags",
        "paused",
        "doc_md",
    }
)


def seconds(value: Any) -> Any:
    """A timedelta as minorch's duration text ("90s"); numbers and text pass through."""
    if isinstance(value, timedelta):
        return f"{_number(value.total_seconds())}s"
    return value


def _number(value: float) -> str:
    """A number of seconds as minorch's durations read it: 315360000, 0.5 (never 3.1536e+08)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _moment(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def zone_of(value: Any) -> str | None:
    """The IANA name of a datetime's zone (zoneinfo's `key`, pendulum's `name`), or None."""
    tz = getattr(value, "tzinfo", None)
    name = getattr(tz, "key", None) or getattr(tz, "name", None)
    return name if isinstance(name, str) and "/" in name or name == "UTC" else None


def task_options(kwargs: Mapping[str, Any], where: tuple[str | None, int | None]) -> dict[str, Any]:
    """Airflow task arguments -> minorch task options (unknown to both: left for minorch to refuse)."""
    from ..spec import TASK_KEYS

    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = _TASK_RENAMED.get(key, key)
        if key in _TASK_SILENT or key.startswith("on_") and key.endswith("_callback") and value is None:
            continue
        if key == "pool" and value == "default_pool":
            continue
        if key == "trigger_rule" and isinstance(value, str):
            from .names import LEGACY_RULES

            value = LEGACY_RULES.get(value, value)  # Airflow 2's dummy and none_failed_or_skipped
        if key == "params":
            options["params"] = plain_params(value)
        elif key in CALLBACK_KINDS:
            options.setdefault("_airflow_callbacks", {})[CALLBACK_KINDS[key]] = value
        elif key.startswith("on_") and key.endswith("_callback"):
            warn(f"{key} is not run by minorch; use on_failure/on_success notifiers", *where)
        elif key in ("inlets", "outlets", "priority_weight", "weight_rule", "queue", "pool_slots", "executor") and (
            name not in TASK_KEYS
        ):
            if not (key == "pool_slots" and value == 1):  # one slot is what every minorch task takes
                warn(f"argument {key} is ignored by minorch", *where)
        elif name in TASK_KEYS:
            options[name] = _plain(value)
        elif key in (
            "depends_on_past",
            "wait_for_downstream",
            "max_active_tis_per_dag",
            "max_active_tis_per_dagrun",
            "task_concurrency",  # Airflow 1's max_active_tis_per_dag
        ):
            if value:
                warn(f"argument {key} is ignored by minorch", *where)
        else:
            options[name] = _plain(value)  # minorch refuses it with did-you-mean
    return options


def _plain(value: Any) -> Any:
    from .names import TriggerRule

    if isinstance(value, TriggerRule):
        return value.value
    if isinstance(value, timedelta):
        return seconds(value)
    if isinstance(value, (datetime, date)):
        return _moment(value)
    return value


def plain_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """params={"x": Param(5, type="integer")} -> minorch's params (a Param keeps its checks)."""
    from .names import Param

    out = {}
    for key, value in (params or {}).items():
        out[key] = value.as_spec() if isinstance(value, Param) else value
    return out


def dag_options(kwargs: dict[str, Any], where: tuple[str | None, int | None]) -> dict[str, Any]:
    """Airflow DAG arguments (with `default_args`) -> minorch DAG options."""
    given = {_DAG_RENAMED.get(k, k): v for k, v in kwargs.items()}
    options = _defaults(given.pop("default_args", None) or {}, where)
    zone = None
    for key, value in given.items():
        if key in _DAG_SILENT or value is None and key != "schedule":
            continue
        if key == "schedule":
            options["schedule"] = _schedule(value, where)
        elif key in ("start_date", "end_date"):
            zone = zone or zone_of(value)
            options[key] = _moment(value)
        elif key == "catchup":
            options["catchup"] = True if value else "latest"
        elif key == "dagrun_timeout":
            options[key] = seconds(value)
        elif key == "params":
            options["params"] = plain_params(value)
        elif key == "tags":
            options["tags"] = list(value)
        elif key in ("template_searchpath", "user_defined_macros", "user_defined_filters"):
            continue  # handled by DAG() below
        elif key.endswith("_callback"):
            warn(f"DAG {key} is not run by minorch; use on_failure/on_success notifiers", *where)
        elif key in (
            "render_template_as_native_obj",
            "jinja_environment_kwargs",
            "template_undefined",
            "fail_stop",
            "fail_fast",
            "max_consecutive_failed_dag_runs",
            "deadline",
        ):
            if value:
                warn(f"DAG argument {key} is ignored by minorch", *where)
        elif key in _DAG_OWN:
            options[key] = value
        else:
            options[key] = _plain(value)  # minorch refuses it with did-you-mean
    options.setdefault("catchup", "latest")  # Airflow 3's default: only the latest missed run
    options.setdefault("data_interval", "point")  # Airflow 3's default timetables: the interval is the logical date
    if zone:
        options.setdefault("timezone", zone)
    return options


def _defaults(default_args: Mapping[str, Any], where: tuple[str | None, int | None]) -> dict[str, Any]:
    """`default_args` as task defaults. Airflow gives each operator only the arguments it takes, so a
    key no task takes (a misspelt `depends_on_pastt`) is ignored there: here too, with a warning."""
    from ..errors import did_you_mean
    from ..spec import TASK_KEYS

    options = task_options(default_args, where)
    options.pop("doc_md", None)
    for key in [key for key in options if key not in TASK_KEYS and key != "_airflow_callbacks"]:
        close: str | None = "it is an argument of DAG(...)"
        if _DAG_RENAMED.get(key, key) not in _DAG_OWN:
            close = did_you_mean(key, [*TASK_KEYS, *_TASK_SILENT])
        warn(f"default_args key {key!r} is ignored: no task takes it" + (f" ({close})" if close else ""), *where)
        del options[key]
    return options


def _schedule(value: Any, where) -> Any:
    from ..assets import AssetAll, Condition

    if value is None:
        return None
    if isinstance(value, Condition):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Condition) for v in value):
        return value[0] if len(value) == 1 else AssetAll(*value)  # Airflow: a list of assets means all of them
    if isinstance(value, timedelta):
        return f"every {seconds(value)}"
    if isinstance(value, str):
        if value == "@continuous":
            raise DagError(
                'schedule "@continuous" is not supported by minorch', hint='use a short interval, e.g. "every 1m"'
            )
        if value == "@once":
            warn('schedule "@once" runs only when triggered in minorch (`minorch trigger`)', *where)
            return None
        return value
    raise DagError(
        f"schedule {value!r} is not supported by minorch",
        hint='use a cron expression, a preset such as "@daily", a timedelta, or None',
    )


def DAG(dag_id: str | None = None, *args: Any, **kwargs: Any) -> Dag:  # noqa: N802 - Airflow's spelling
    """Airflow's `DAG(dag_id, ...)` as a minorch DAG (a context manager, as Airflow's)."""
    if dag_id is None:
        dag_id = kwargs.pop("dag_id", None)
    if args:
        kwargs.setdefault("description", args[0])
    if not isinstance(dag_id, str):
        raise DagError("DAG() needs a dag_id", hint='write DAG("my_dag", schedule=...)')
    where = _caller_location()
    made = _minorch_dag(dag_id, **dag_options(kwargs, where))
    folders = kwargs.get("template_searchpath") or []
    SEARCH_PATHS[dag_id] = [folders] if isinstance(folders, (str, os.PathLike)) else list(folders)
    if kwargs.get("user_defined_macros"):
        warn("DAG argument user_defined_macros is ignored by minorch", *where)
    return made


def dag(func: Callable | None = None, **kwargs: Any):
    """Airflow's `@dag(...)`: calling the function builds the DAG; its defaults become params."""

    def wrap(fn: Callable):
        @functools.wraps(fn)
        def build(*args: Any, **call: Any) -> Dag:
            import inspect

            defaults = {
                p.name: p.default for p in inspect.signature(fn).parameters.values() if p.default is not p.empty
            }
            options = dict(kwargs)
            if defaults:
                options["params"] = {**defaults, **(options.get("params") or {})}
            with DAG(options.pop("dag_id", fn.__name__), **options) as made:
                fn(*args, **call)
            return made

        return build

    return wrap(func) if func is not None else wrap
