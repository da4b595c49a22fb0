"""`@asset` and `@multi_asset`: a function becomes a one-task DAG that updates assets.

    @asset
    def orders_silver(orders_bronze, ds):       # waits for orders_bronze; gets its newest event's metadata
        ...
        return {"rows": 1200}                    # the metadata of the orders_silver event

The DAG and its task are named after the function; the task's outlet is the asset of that name.
Every parameter that is not a context value (`ds`, `params`, ...) and has no default names an
upstream asset: it becomes an inlet, the DAG waits for all of them (`a & b`), and the call gets
the `extra` of the asset's newest event (None before the first). `schedule="0 2 * * *"` runs it
on time instead; `match="ds"` pairs the inputs' events by day. Other keyword arguments are DAG
options (retries, timeout, ...).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .assets import Asset, Condition, asset_names, ref
from .dag import DAG, _TaskFactory

_INLETS = "inlet_events"


def asset(func: Callable | None = None, **options: Any):
    """`@asset` / `@asset(schedule=..., match="ds", retries=2, ...)`: see the module docstring.
    The decorated name becomes `Asset(name)`, usable in other DAGs' conditions."""

    def wrap(fn: Callable) -> Asset:
        name = options.pop("name", fn.__name__)
        return _define(fn, name, [name], options)[0]

    return wrap(func) if func is not None else wrap


def multi_asset(func: Callable | None = None, *, outs: list, **options: Any):
    """`@multi_asset(outs=["orders", "customers"])`: one task updating several assets; returns their
    `Asset`s. The DAG and task are named after the function."""

    def wrap(fn: Callable) -> list[Asset]:
        return _define(fn, options.pop("name", fn.__name__), list(asset_names(outs, "outs")), options)

    return wrap(func) if func is not None else wrap


def _define(fn: Callable, name: str, outs: list[str], options: dict) -> list[Asset]:
    from .templates import CONTEXT_NAMES  # here, not at the top: task processes import this module

    params = inspect.signature(fn).parameters
    upstream = [
        p.name
        for p in params.values()
        if p.name not in CONTEXT_NAMES and p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    match = options.pop("match", None)
    if "schedule" not in options and upstream:
        options["schedule"] = {"assets": " & ".join(upstream)}
    if match is not None and isinstance(options.get("schedule"), Condition):
        options["schedule"] = {"assets": options["schedule"]}
    if match is not None and isinstance(options.get("schedule"), dict):
        options["schedule"]["match"] = match
    task_options = {k: options.pop(k) for k in ("inlets",) if k in options}
    inlets = list(dict.fromkeys([*upstream, *asset_names(task_options.get("inlets", []), "inlets")]))
    with DAG(name, **options):
        _TaskFactory(_taking_events(fn, upstream), {"task_id": name, "outlets": outs, "inlets": inlets})()
    return [ref(out) for out in outs]


def _taking_events(fn: Callable, upstream: list[str]) -> Callable:
    """`fn` with its asset parameters replaced by one `inlet_events` parameter: the task runtime fills
    parameters by name from the context, and the context has each inlet's newest event there."""
    if not upstream:
        return fn
    signature = inspect.signature(fn)
    takes_events = _INLETS in signature.parameters
    kept = [p for p in signature.parameters.values() if p.name not in upstream]
    if not takes_events:
        kept.append(inspect.Parameter(_INLETS, inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        events = kwargs[_INLETS] if takes_events else kwargs.pop(_INLETS)
        for name in upstream:
            kwargs[name] = (events.get(name) or {}).get("extra")
        return fn(**kwargs)

    call.__signature__ = signature.replace(parameters=_ordered(kept))  # type: ignore[attr-defined] # read by inspect
    return call


def _ordered(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """Positional-or-keyword parameters before keyword-only ones, as a signature requires."""
    return sorted(params, key=lambda p: p.kind)
