"""What the CLI and the UI show and do with assets: one row per asset (producers, consumers, last
event, freshness, what each consumer still waits for), an asset's history, and emitting an event
from outside (`minorch asset emit`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from . import freshness, lineage
from .config import Settings
from .errors import ConfigError, NotFound, did_you_mean
from .registry import Registry
from .store import AssetEvent, Store

MAX_EXTRA_BYTES = 64 * 1024  # as a task's result


@dataclass
class AssetRow:
    name: str
    uri: str | None
    description: str | None
    producers: list[str]  # "dag.task"
    consumers: list[str]  # DAG ids whose schedule waits for it
    last: AssetEvent | None
    fresh_within: float | None
    stale: bool
    waits: list[str] = field(default_factory=list)  # "report: has a, waits for b"

    def as_dict(self) -> dict:
        found = dict(self.__dict__)
        found["last"] = self.last.as_dict() if self.last else None
        return found


def rows(registry: Registry, store: Store | None, now: float) -> list[AssetRow]:
    """Every asset known from the DAG files and declarations, by name. `store` None: no state yet."""
    found = lineage.build(registry.dags, registry.assets)
    names = found.names()
    latest = store.latest_asset_events(names) if store else {}
    queue = store.asset_queue() if store else {}
    stale = {s.asset for s in freshness.check(freshness.watched(found.declared), latest, now).stale}
    result = []
    for name in names:
        declared = found.declared.get(name, {})
        consumers = found.consumers.get(name, [])
        row = AssetRow(
            name,
            declared.get("uri"),
            declared.get("description"),
            [f"{d}.{t}" for d, t in found.producers.get(name, [])],
            consumers,
            latest.get(name),
            declared.get("fresh_within"),
            name in stale,
        )
        for dag_id in consumers:
            condition = registry.dags[dag_id].assets.condition
            have = {e.asset for e in queue.get(dag_id, [])}
            missing = condition.missing(have)
            text = f"{dag_id}: has {', '.join(sorted(have & set(condition.names()))) or 'nothing new'}"
            row.waits.append(f"{text}, waits for {', '.join(missing)}" if missing else f"{text}, about to run")
        result.append(row)
    return result


def history(registry: Registry, store: Store | None, name: str, limit: int = 50) -> list[AssetEvent]:
    known(registry, name)
    return store.asset_events(name, limit) if store else []


def known(registry: Registry, name: str) -> None:
    names = lineage.build(registry.dags, registry.assets).names()
    if name not in names:
        raise NotFound(f"no asset '{name}'", hint=did_you_mean(name, names) or "`minorch assets` lists them")


def emit(settings: Settings, registry: Registry, name: str, ds: str | None, extra: str | None, now: float) -> int:
    """Record an event of `name` from outside (a script, a webhook): queued for every DAG waiting for
    it, as a task's success would. `ds` defaults to today in the settings' timezone; `extra` is JSON."""
    known(registry, name)
    if ds is None:
        ds = datetime.fromtimestamp(now, timezone.utc).astimezone(ZoneInfo(settings.timezone)).date().isoformat()
    try:
        datetime.strptime(ds, "%Y-%m-%d")
    except ValueError:
        raise ConfigError(f"--ds {ds!r} is not a day", hint="write --ds 2024-01-15") from None
    try:
        extra_json = json.dumps(json.loads(extra)) if extra is not None else "null"
    except ValueError as err:
        raise ConfigError(f"--extra is not JSON: {err}", hint="write --extra '{\"rows\": 120}'") from None
    if len(extra_json.encode()) > MAX_EXTRA_BYTES:
        raise ConfigError(f"--extra is {len(extra_json.encode())} bytes, more than {MAX_EXTRA_BYTES}",
                          hint="put big data in a file and pass its path")  # fmt: skip
    store = Store(settings.db_path)
    try:
        return store.add_asset_event(name, ds=ds, extra_json=extra_json, now=now)
    finally:
        store.close()
