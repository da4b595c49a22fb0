"""Freshness: which assets with a `fresh_within` got no event for that long. Pure: declarations,
newest events and `now` in; the stale assets and when the next one turns stale out.

With `fresh_within = "26h"` and a newest event at Monday 01:00, the asset is stale from Tuesday
03:00 on, until its next event. An asset that never had an event is stale as
soon as it is checked. The scheduler notifies each stale spell once (recorded in the store by
the newest event it followed) through the asset's `on_stale` notifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .store import AssetEvent


@dataclass(frozen=True)
class Stale:
    asset: str
    fresh_within: float  # seconds
    last: AssetEvent | None  # its newest event, None if it never had one


@dataclass
class Freshness:
    stale: list[Stale] = field(default_factory=list)
    wake_at: float | None = None  # epoch seconds when the next fresh asset turns stale


def watched(declared: Mapping[str, dict]) -> dict[str, float]:
    """{asset: fresh_within seconds} of the assets that have one."""
    return {name: d["fresh_within"] for name, d in declared.items() if d.get("fresh_within") is not None}


def check(limits: Mapping[str, float], latest: Mapping[str, AssetEvent], now: float) -> Freshness:
    found = Freshness()
    for name, within in sorted(limits.items()):
        last = latest.get(name)
        if last is None or now - last.created_at >= within:
            found.stale.append(Stale(name, within, last))
        else:
            due = last.created_at + within
            found.wake_at = due if found.wake_at is None else min(found.wake_at, due)
    return found
