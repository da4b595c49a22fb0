"""Data assets: `Asset`, the conditions a DAG's runs wait for (`a & (b | c)`), and their parser.

An asset is a name for data some task updates (`outlets`) and others read (`inlets`). A DAG
scheduled on a condition of assets runs once every asset the condition needs has a new event
since its last asset-triggered run (Airflow's queue semantics: several events of one asset
count once). In Python, `Asset("a") & (Asset("b") | Asset("c"))`; in TOML the same text,
`schedule = { assets = "a & (b | c)" }`, where `&` binds tighter than `|`.
No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DagError

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
MATCHES = ("ds",)  # how a consumer pairs events: "ds" runs once per day the events are for
# The DAG file loader collects the assets a file declares (those given a uri, description or
# fresh_within; a bare Asset("x") only names one).
DECLARED: list[list[Asset]] = []
_SCHEDULE_HINT = 'write schedule = { assets = "orders & (customers | vendors)" }, optionally with cron and match = "ds"'


class Condition:
    """What a DAG waits for: an asset, or all / any of several conditions."""

    def satisfied(self, have: Iterable[str] | set[str]) -> bool:
        raise NotImplementedError

    def names(self) -> list[str]:
        """Every asset named, in order of first mention."""
        raise NotImplementedError

    def missing(self, have: set[str]) -> list[str]:
        """The assets that would satisfy the condition, of those it still lacks (for "waits for ...")."""
        raise NotImplementedError

    def __and__(self, other: Condition) -> AssetAll:
        return AssetAll(self, _condition(other))

    def __or__(self, other: Condition) -> AssetAny:
        return AssetAny(self, _condition(other))


def _condition(value: Any) -> Condition:
    if not isinstance(value, Condition):
        raise DagError(f"cannot combine an asset condition with {value!r}", hint="use Asset(...) & Asset(...)")
    return value


@dataclass(frozen=True, eq=False)
class Asset(Condition):
    """A named piece of data: `Asset("orders_silver", uri="file:///data/silver", fresh_within="26h")`.

    `fresh_within` (a duration) makes the asset stale when no event came for that long."""

    name: str
    uri: str | None = None
    description: str | None = None
    fresh_within: str | float | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        if DECLARED and self.declaration():
            DECLARED[-1].append(self)

    def satisfied(self, have) -> bool:
        return self.name in have

    def names(self) -> list[str]:
        return [self.name]

    def missing(self, have: set[str]) -> list[str]:
        return [] if self.name in have else [self.name]

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def declaration(self) -> dict:
        """The TOML form of its declaration: what `[assets.NAME]` would hold."""
        return {
            k: v
            for k, v in (("uri", self.uri), ("description", self.description), ("fresh_within", self.fresh_within))
            if v is not None
        }


class _Group(Condition):
    joiner = ""
    items: tuple[Condition, ...]

    def __init__(self, *items: Condition) -> None:
        flat: list[Condition] = []
        for item in map(_condition, items):  # a & b & c is one AssetAll of three, not nested pairs
            flat.extend(item.items if type(item) is type(self) else [item])
        self.items = tuple(flat)

    def names(self) -> list[str]:
        return list(dict.fromkeys(n for item in self.items for n in item.names()))

    def __str__(self) -> str:
        return f" {self.joiner} ".join(f"({i})" if isinstance(i, _Group) else str(i) for i in self.items)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.items == self.items

    def __hash__(self) -> int:
        return hash((type(self), self.items))


class AssetAll(_Group):
    """Every one of the conditions: `AssetAll(a, b)` is `a & b`."""

    joiner = "&"

    def satisfied(self, have) -> bool:
        return all(item.satisfied(have) for item in self.items)

    def missing(self, have: set[str]) -> list[str]:
        return list(dict.fromkeys(n for item in self.items for n in item.missing(have)))


class AssetAny(_Group):
    """At least one of the conditions: `AssetAny(a, b)` is `a | b`."""

    joiner = "|"

    def satisfied(self, have) -> bool:
        return any(item.satisfied(have) for item in self.items)

    def missing(self, have: set[str]) -> list[str]:
        if self.satisfied(have):
            return []
        options = [item.missing(have) for item in self.items]
        return min(options, key=len)  # the nearest way to satisfy it


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or not set(name) <= NAME_CHARS:
        raise DagError(
            f"asset name {name!r} may hold only letters, digits, '_', '-' and '.'",
            hint="name it like a table, e.g. 'orders_silver'",
        )
    return name


# ---------------------------------------------------------------- the condition language


class ConditionError(DagError):
    """A condition expression that does not parse; `column` is 1-based."""

    def __init__(self, text: str, column: int, problem: str) -> None:
        super().__init__(
            f"asset condition {text!r}, column {column}: {problem}",
            hint='combine asset names with & (all) and | (any), e.g. "a & (b | c)"',
        )
        self.column = column


def parse_condition(text: Any) -> Condition:
    """`"a & (b | c)"` -> AssetAll(Asset("a"), AssetAny(Asset("b"), Asset("c"))). `&` binds tighter
    than `|`; names as `check_name` allows; an error names its column: for `"a & | b"`, column 5."""
    if not isinstance(text, str) or not text.strip():
        raise DagError(f'assets must be a condition such as "a & b", not {text!r}', hint=_SCHEDULE_HINT)
    return _Parser(text).parse()


class _Parser:
    """Recursive descent over `any := all ('|' all)*`, `all := atom ('&' atom)*`, `atom := NAME | '(' any ')'`."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, problem: str, at: int | None = None) -> ConditionError:
        return ConditionError(self.text, (self.pos if at is None else at) + 1, problem)

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Condition:
        result = self.any()
        if self.peek():
            raise self.fail(f"unexpected {self.peek()!r}; expected & or | between assets")
        return result

    def any(self) -> Condition:
        items = [self.all()]
        while self.peek() == "|":
            self.pos += 1
            items.append(self.all())
        return items[0] if len(items) == 1 else AssetAny(*items)

    def all(self) -> Condition:
        items = [self.atom()]
        while self.peek() == "&":
            self.pos += 1
            items.append(self.atom())
        return items[0] if len(items) == 1 else AssetAll(*items)

    def atom(self) -> Condition:
        char = self.peek()
        if char == "(":
            opened = self.pos
            self.pos += 1
            inner = self.any()
            if self.peek() != ")":
                raise self.fail("this '(' is never closed", opened) if not self.peek() else self.fail("expected ')'")
            self.pos += 1
            return inner
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in NAME_CHARS:
            self.pos += 1
        if self.pos == start:
            found = f"{char!r}" if char else "the end"
            raise self.fail(f"expected an asset name, found {found}")
        return _Ref(self.text[start : self.pos])


class _Ref(Asset):
    """An asset named in a condition (not a declaration: it is not collected)."""

    def __post_init__(self) -> None:
        check_name(self.name)


def ref(name: str) -> Asset:
    """An asset by name, without declaring it (conditions, outlets given as text)."""
    return _Ref(name)


# ---------------------------------------------------------------- a DAG's asset schedule


@dataclass(frozen=True)
class AssetSchedule:
    """`schedule = { assets = "...", cron = "...", match = "ds" }`: the condition, the cron (or None)
    a DAG also runs on, and how events pair up (None: any events; "ds": per day)."""

    condition: Condition
    cron: str | None = None
    match: str | None = None
    line: int | None = None  # where the schedule is written, for errors found across DAG files

    def __str__(self) -> str:
        text = f"assets: {self.condition}"
        if self.match:
            text += f" (per {self.match})"
        return f"{self.cron} or {text}" if self.cron else text


def split_schedule(value: Any) -> tuple[Any, AssetSchedule | None]:
    """A DAG's `schedule` option -> (the time schedule to parse as before, the asset schedule or None).
    Accepts a condition object (Python), or a table with `assets` and optional `cron` and `match`."""
    if isinstance(value, Condition):
        return None, AssetSchedule(value)
    if not isinstance(value, Mapping):
        return value, None
    unknown = [k for k in value if k not in ("assets", "cron", "match")]
    if unknown:
        from .errors import did_you_mean

        raise DagError(
            f"unknown key '{unknown[0]}' in schedule",
            hint=did_you_mean(unknown[0], ("assets", "cron", "match")) or _SCHEDULE_HINT,
        )
    if "assets" not in value:
        raise DagError("a schedule table needs assets", hint=_SCHEDULE_HINT)
    condition = value["assets"]
    if not isinstance(condition, Condition):
        condition = parse_condition(condition)
    match = value.get("match")
    if match is not None and match not in MATCHES:
        raise DagError(f"match = {match!r} is not known", hint='write match = "ds" to run once per day of the events')
    cron = value.get("cron")
    if cron is not None and (not isinstance(cron, str) or not cron.strip()):
        raise DagError(f"cron must be a schedule text, not {cron!r}", hint='write cron = "0 2 * * *"')
    return cron, AssetSchedule(condition, cron, match)


def condition_spec(value: Any) -> Any:
    """A Python schedule value in its TOML form (what the DAG file loader sends back)."""
    if isinstance(value, Condition):
        return {"assets": str(value)}
    if isinstance(value, Mapping) and isinstance(value.get("assets"), Condition):
        return {**value, "assets": str(value["assets"])}
    return value


def asset_names(value: Any, what: str) -> tuple[str, ...]:
    """`outlets` / `inlets`: a name, an Asset, or a list of them -> names."""
    items = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for item in items:
        name = item.name if isinstance(item, Asset) else item
        try:
            names.append(check_name(name))
        except DagError as err:
            err.message = f"{what}: {err.message}"
            raise
    return tuple(dict.fromkeys(names))


def check_declaration(name: str, table: Any) -> dict:
    """An `[assets.NAME]` table: uri, description, fresh_within (a duration, in seconds once checked)."""
    from .durations import parse_duration

    check_name(name)
    if not isinstance(table, Mapping):
        raise DagError(f"assets.{name} must be a table", hint=f'write [assets.{name}] with uri = "..." or nothing')
    unknown = [k for k in table if k not in ("uri", "description", "fresh_within", "on_stale")]
    if unknown:
        from .errors import did_you_mean

        raise DagError(
            f"unknown asset option '{unknown[0]}'",
            hint=did_you_mean(unknown[0], ("uri", "description", "fresh_within", "on_stale"))
            or "assets take uri, description, fresh_within and on_stale",
        )
    found = dict(table)
    for key in ("uri", "description"):
        if key in found and not isinstance(found[key], str):
            raise DagError(f"{key} must be a string, not {found[key]!r}")
    if found.get("fresh_within") is not None:
        found["fresh_within"] = parse_duration(found["fresh_within"], name="fresh_within")
    if "on_stale" in found:
        from .options import check_notifiers

        found["on_stale"] = list(check_notifiers("on_stale", found["on_stale"]))
    return found
