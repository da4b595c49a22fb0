"""Jinja2 rendering of task commands and other templated strings.

A template sees the names Airflow users know (`ds`, `ts`, `params`, ...; see
`build_context`). Rendering is strict: an unknown name is a `TemplateError` that
names the template line and suggests the closest known name, never an empty string.

Shell commands (``render(..., shell=True)``) quote every ``{{ expression }}`` with
`shlex.quote`, so ``echo {{ params.name }}`` with name ``a b; rm -rf /`` runs
``echo 'a b; rm -rf /'``. Values made only of safe characters (``2024-01-15``,
``2024-01-15T00:00:00+00:00``) stay bare. For a trusted value that must reach the
shell as written (several flags, a pipe), the ``raw`` filter turns quoting off for
that one expression: ``ls {{ params.flags | raw }}``. Text outside ``{{ }}`` is the
command itself and is never changed.

Every expression is turned into text the same way in both modes: a datetime as ISO
8601 (``2024-01-15T00:00:00+01:00``), a list or dict as JSON (how results are
stored, so ``{{ xcom.extract }}`` can be piped to ``jq``), anything else with `str`.

Dot access prefers a dict's keys over its methods: ``{{ xcom.items }}`` is the result
of the upstream task ``items``, not ``dict.items``.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import SimpleNamespace, TracebackType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from minorch.context import CONTEXT_NAMES
from minorch.errors import MinorchError, TemplateError, did_you_mean

if TYPE_CHECKING:
    from jinja2 import TemplateSyntaxError

    from minorch.jinja_env import Missing

_TEMPLATE_FILE = "<template>"  # the file name Jinja gives frames of templates made from strings


def ds_add(ds: str, days: int) -> str:
    """`ds` moved by `days` (may be negative): ``ds_add("2024-01-30", 3) == "2024-02-02"``."""
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: ``ds_format("2024-01-15", "%Y-%m-%d", "%d/%m/%y") == "15/01/24"``."""
    return datetime.strptime(ds, input_format).strftime(output_format)


MACROS = SimpleNamespace(
    ds_add=ds_add,
    ds_format=ds_format,
    datetime=datetime,
    timedelta=timedelta,
    json=json,
    uuid=uuid,
    random=random.random,
)


def build_context(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    logical_date: datetime,
    data_interval_start: datetime,
    data_interval_end: datetime,
    prev_logical_date: datetime | None,
    next_logical_date: datetime | None,
    params: dict,
    try_number: int,
    timezone: str,
    xcom: dict[str, object],
    conf: dict | None = None,
    map_index: int = -1,
    pull: Callable[..., object] | None = None,
    triggering_events: list[dict] | None = None,
    inlet_events: dict[str, dict] | None = None,
) -> dict:
    """The names a template (and a Python task) sees for one try of one task.

    Datetimes must be timezone-aware (any zone); they are converted to `timezone`,
    the DAG's IANA zone, already validated by the DAG loader. For a logical date of
    2024-01-15 00:30 in Europe/Berlin: ``ds = "2024-01-15"``, ``ds_nodash = "20240115"``,
    ``ts = "2024-01-15T00:30:00+01:00"``, ``ts_nodash = "20240115T003000"``.
    `prev_ds` / `next_ds` are None when the neighbouring logical date is unknown
    (a manual run, the first run). `xcom` maps upstream task ids to their results.
    `triggering_events` are the asset events that started the run; `inlet_events` maps each of the
    task's inlets to its newest event (each event a dict: asset, ds, dag_id, run_id, extra, ...).
    """
    zone = ZoneInfo(timezone)
    logical = _in_zone(logical_date, zone)
    context = {
        "ds": _ds(logical),
        "ds_nodash": _ds(logical).replace("-", ""),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "logical_date": logical,
        "data_interval_start": _in_zone(data_interval_start, zone),
        "data_interval_end": _in_zone(data_interval_end, zone),
        "prev_ds": _ds(_in_zone(prev_logical_date, zone)) if prev_logical_date else None,
        "next_ds": _ds(_in_zone(next_logical_date, zone)) if next_logical_date else None,
        "params": params,
        "run_id": run_id,
        "dag_id": dag_id,
        "task_id": task_id,
        "try_number": try_number,
        "timezone": timezone,
        "macros": MACROS,
        "xcom": xcom,
        "triggering_events": triggering_events or [],
        "inlet_events": inlet_events or {},
    }
    from .runtime import Namespace, TaskInstance, dag_run_view

    context["conf"] = dict(conf or {})
    context["ts_nodash_with_tz"] = logical.strftime("%Y%m%dT%H%M%S%z")
    context["task_instance_key_str"] = f"{dag_id}__{task_id}__{context['ds_nodash']}"
    context["dag"] = Namespace(dag_id=dag_id, timezone=timezone)
    context["task"] = Namespace(task_id=task_id, dag_id=dag_id)
    context["ti"] = context["task_instance"] = TaskInstance(
        dag_id=dag_id, task_id=task_id, run_id=run_id, try_number=try_number, map_index=map_index, pull=pull
    )
    context["dag_run"] = dag_run_view(context)
    return context


def render(template: str, context: dict, *, shell: bool, where: str = "") -> str:
    """Render `template` with `context` (from `build_context`).

    `shell=True` quotes every expression's text for /bin/sh unless it passed through
    the ``raw`` filter. `where` says where the template came from
    (``dags/etl.toml: task 'load'``) and prefixes error messages. Compiled templates
    are cached, so rendering the same command for each try costs ~10 µs. Text without
    ``{{``, ``{%`` or ``{#`` (nor a carriage return, which Jinja turns into a newline) is
    returned as it is, without Jinja.
    Raises TemplateError for syntax errors, unknown names and failing expressions.
    """
    if is_plain(template):
        return template
    from minorch import jinja_env

    try:
        compiled = jinja_env.compiled(template, shell)
    except jinja_env.TemplateSyntaxError as e:
        raise _syntax_error(e, template, where) from None
    try:
        return compiled.render(context)
    except jinja_env.Missing as e:
        raise _unknown_name(e, template, context, where) from None
    except MinorchError as e:  # a nested template's, or a variable or connection that cannot be resolved
        raise e.at(where or None) from None
    except Exception as e:  # any failure inside a user's template is a user error
        line = _failed_line(e.__traceback__)
        raise TemplateError(
            f"template failed {_at(template, line)}", file=where or None, hint=f"{type(e).__name__}: {e}"
        ) from None


def check(template: str, *, where: str = "", extra: frozenset[str] = frozenset()) -> None:
    """Validate without rendering: syntax, filters, and top-level names.

    Only the first name of an expression is checked (``params`` in ``params.x``);
    keys inside `params` and `xcom` are known only at run time. `extra` names more
    values the template will see (a mapped task's item and ``map_index``). Raises TemplateError.
    Text without ``{{``, ``{%`` or ``{#`` is not parsed; the rest is parsed once per distinct text.
    """
    if not _has_syntax(template):
        return
    from minorch import jinja_env

    failure, names = jinja_env.analyse(template)
    if failure is not None:
        raise _syntax_error(failure, template, where)
    known = CONTEXT_NAMES | set(jinja_env.PLAIN.globals) | extra
    unknown = [(line, name) for line, name in names if name not in known]
    if not unknown:
        return
    line, name = min(unknown, key=lambda found: found[0])  # the first of a line, in Jinja's order
    raise TemplateError(
        f"unknown template variable '{name}' {_at(template, line)}",
        file=where or None,
        hint=did_you_mean(name, known),
    )


def is_plain(template: str) -> bool:
    """Whether `render` gives `template` back as it is, whatever the names: no ``{{``, ``{%`` or ``{#``,
    and no carriage return (which Jinja turns into a newline)."""
    return not _has_syntax(template) and "\r" not in template


def stamps(logical_date: datetime, timezone: str) -> tuple[str, str]:
    """`build_context`'s ``ds`` and ``ts`` of a logical date, in the DAG's zone `timezone`."""
    logical = _in_zone(logical_date, ZoneInfo(timezone))
    return _ds(logical), logical.isoformat()


def _has_syntax(template: str) -> bool:
    return "{" in template and any(mark in template for mark in ("{{", "{%", "{#"))


def _syntax_error(e: TemplateSyntaxError, template: str, where: str) -> TemplateError:
    return TemplateError(f"cannot parse template {_at(template, e.lineno)}", file=where or None, hint=e.message)


def _unknown_name(e: Missing, template: str, context: dict, where: str) -> TemplateError:
    from minorch.jinja_env import missing

    at = _at(template, _failed_line(e.__traceback__))
    if e.obj is missing:
        return TemplateError(
            f"unknown template variable '{e.name}' {at}",
            file=where or None,
            hint=did_you_mean(str(e.name), CONTEXT_NAMES | set(context)),
        )
    owner = next((key for key, value in context.items() if value is e.obj), None)
    if owner is None or not isinstance(e.obj, Mapping):
        return TemplateError(f"{e.message} {at}", file=where or None)
    keys = sorted(map(str, e.obj))
    hint = did_you_mean(str(e.name), keys)
    if hint is None and owner == "xcom":
        hint = (
            "xcom holds the results of upstream tasks: " + ", ".join(keys)
            if keys
            else "this task has no upstream results in xcom"
        )
    elif hint is None:
        hint = f"{owner} has: " + ", ".join(keys) if keys else f"{owner} is empty"
    return TemplateError(f"unknown template variable '{owner}.{e.name}' {at}", file=where or None, hint=hint)


def _failed_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame in `tb`, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _at(template: str, line: int | None) -> str:
    """``in line 2: echo {{ dss }}`` — the template line, stripped."""
    lines = re.split(r"\r\n|\r|\n", template)  # Jinja's line breaks (str.splitlines also breaks at \x85, \u2028, ...)
    if line is None or not 1 <= line <= len(lines):
        return f"in: {template.strip()}"
    return f"in line {line}: {lines[line - 1].strip()}"


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: template dates must be timezone-aware")
    return moment.astimezone(zone)


def _ds(moment: datetime) -> str:
    return moment.date().isoformat()
