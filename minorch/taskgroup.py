"""Task groups: `with TaskGroup("extract"):` and `@task_group`, as Airflow has them.

Tasks made inside a group get ids prefixed with the group's id (`extract.orders`) unless the group
has `prefix_group_id=False`; groups nest (`sources.extract.orders`). A group stands on either side of
`>>`: `start >> group >> end` links `start` to the group's roots (members with no upstream inside
it) and the group's leaves (no downstream inside it) to `end`, as they are when `>>` is written.
A group is only a name for a set of tasks: it has no state of its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .dag import _GROUPS, Dag, Dependency, Task, _current_dag
from .errors import DagError


class TaskGroup(Dependency):
    def __init__(
        self,
        group_id: str,
        *,
        prefix_group_id: bool = True,
        tooltip: str = "",
        default_args: dict | None = None,
        dag: Dag | None = None,
        parent_group: TaskGroup | None = None,
        add_suffix_on_collision: bool = False,
    ) -> None:
        self.dag = dag or _current_dag("task group")
        self.parent = parent_group or (_GROUPS[-1] if _GROUPS and _GROUPS[-1].dag is self.dag else None)
        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        full = self.parent.child_id(group_id) if self.parent else group_id
        if full in self.dag.groups:
            if not add_suffix_on_collision:
                raise DagError(
                    f"task group id '{full}' is used twice in DAG '{self.dag.dag_id}'",
                    hint="give each task group a unique group_id",
                )
            n = 1
            while f"{full}__{n}" in self.dag.groups:
                n += 1
            full = f"{full}__{n}"
        self.group_id = full
        self.tooltip = tooltip
        self.dag.groups[full] = {
            "parent": self.parent.group_id if self.parent else None,
            "tooltip": tooltip or None,
            "prefix_group_id": prefix_group_id,
        }

    def child_id(self, name: str) -> str:
        if self.prefix_group_id:
            return f"{self.group_id}.{name}"
        return self.parent.child_id(name) if self.parent else name

    def __enter__(self) -> TaskGroup:
        _GROUPS.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _GROUPS.pop()

    # --- as one side of >>
    def members(self) -> list[Task]:
        """The tasks in this group and the groups nested in it, in definition order."""
        inside = {self.group_id}
        for gid, info in self.dag.groups.items():  # parents are registered before their children
            if info["parent"] in inside:
                inside.add(gid)
        return [t for t in self.dag.tasks.values() if t.group in inside]

    def _roots(self) -> list[Task]:
        members = self.members()
        ids = {t.task_id for t in members}
        return [t for t in members if not ids.intersection(t.upstream)]

    def _leaves(self) -> list[Task]:
        members = self.members()
        below = {up for t in members for up in t.upstream}
        return [t for t in members if t.task_id not in below]

    def __repr__(self) -> str:
        return f"TaskGroup({self.group_id!r})"


class _GroupFactory:
    """What `@task_group` makes of a function: calling it makes a group and runs the function in it;
    `.override(group_id=...)` is the same with other options."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.__wrapped__ = fn
        self.options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = self.__wrapped__
        settings = {"tooltip": inspect.getdoc(fn) or "", **self.options}
        group_id = settings.pop("group_id", fn.__name__)
        with TaskGroup(group_id, add_suffix_on_collision=True, **settings) as group:
            value = fn(*args, **kwargs)
        return group if value is None else value

    def override(self, **more: Any) -> _GroupFactory:
        return _GroupFactory(self.__wrapped__, {**self.options, **more})


def task_group(
    func: Callable[..., Any] | None = None, **options: Any
) -> _GroupFactory | Callable[[Callable[..., Any]], _GroupFactory]:
    """`@task_group` on a function that creates tasks: calling it makes a group named after the function
    (`f__1`, ... on a second call) and returns what the function returns, or else the group."""

    def wrap(fn: Callable[..., Any]) -> _GroupFactory:
        return _GroupFactory(fn, options)

    return wrap(func) if func is not None else wrap


# ---------------------------------------------------------------- groups in a spec (TOML and Python alike)

GROUP_KEYS = ("group", "tooltip", "prefix_group_id", "after")


def spec_groups(raw: Any, python: Any) -> tuple[dict[str, dict], dict[str, str]]:
    """The groups of a spec as {full id: {"parent", "tooltip", "prefix_group_id", "after"}} and
    {name as written: full id}. TOML's `[dags.X.groups.G]` tables are keyed by name, nest with
    `group = "outer"`; a Python DAG's groups come with their full ids. Raises DagError (with the key)."""
    groups: dict[str, dict] = {gid: {**info, "after": []} for gid, info in (python or {}).items()}
    alias = {gid: gid for gid in groups}
    if raw is None:
        return groups, alias
    afters: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise _bad("groups", f"groups must be a table of groups, not {raw!r}")
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise _bad(name, f"group '{name}' must be a table", 'write [dags.<id>.groups.extract] tooltip = "..."')
        for key in table:
            if key not in GROUP_KEYS:
                from .errors import did_you_mean

                raise _bad(name, f"unknown task group option '{key}'", did_you_mean(key, GROUP_KEYS))
        if not isinstance(table.get("prefix_group_id", True), bool):
            raise _bad(name, "prefix_group_id must be true or false")
        after = table.get("after", [])
        after = [after] if isinstance(after, str) else after
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise _bad(name, f"after must be a list of names, not {table.get('after')!r}")
        afters[name] = list(after)

    def full(name: str, seen: tuple = ()) -> str:
        if name in alias:
            return alias[name]
        if name not in raw:
            from .errors import did_you_mean

            raise _bad(seen[-1] if seen else name, f"task group '{name}' is not defined", did_you_mean(name, raw))
        if name in seen:
            raise _bad(name, "task groups nest in a cycle: " + " -> ".join((*seen, name)))
        parent = raw[name].get("group")
        parent_id = full(parent, (*seen, name)) if parent else None
        gid = child_of(groups, parent_id, name)
        groups[gid] = {
            "parent": parent_id,
            "tooltip": raw[name].get("tooltip"),
            "prefix_group_id": raw[name].get("prefix_group_id", True),
            "after": afters[name],
        }
        alias[name] = gid
        return gid

    for name in raw:
        full(name)
    return groups, alias


def child_of(groups: dict[str, dict], group_id: str | None, name: str) -> str:
    """The id `name` gets inside group `group_id` (None: no group)."""
    if group_id is None:
        return name
    if groups[group_id]["prefix_group_id"]:
        return f"{group_id}.{name}"
    return child_of(groups, groups[group_id]["parent"], name)


def link_groups(made: Dag, groups: dict[str, dict], alias: dict[str, str]) -> None:
    """Resolve names in `after` lists: a task id, a sibling's short name, or a group (its leaves at
    this point); then each group's own `after` becomes the upstream of its roots."""
    depth = {gid: _depth(groups, gid) for gid in groups}

    def members(gid: str) -> list[Task]:
        return [t for t in made.tasks.values() if t.group and _within(groups, t.group, gid)]

    def leaves(gid: str) -> list[str]:
        inside = members(gid)
        below = {up for t in inside for up in t.upstream}
        return [t.task_id for t in inside if t.task_id not in below]

    def resolve(task: Task, name: str) -> str | None:
        if name in made.tasks:
            return name
        sibling = child_of(groups, task.group, name) if task.group else None
        if sibling in made.tasks:
            return sibling
        return None

    references = []
    for task in made.tasks.values():
        for name in list(task.upstream):
            found = resolve(task, name)
            if found is not None and found != name:
                task.upstream[task.upstream.index(name)] = found
                if name in task.labels:
                    task.labels[found] = task.labels.pop(name)
            elif found is None and name in alias:
                references.append((depth[alias[name]], task, name))
    for _, task, name in sorted(references, key=lambda r: -r[0]):
        at = task.upstream.index(name)
        task.upstream[at : at + 1] = [up for up in leaves(alias[name]) if up not in task.upstream]
    for gid in sorted(groups, key=lambda g: -depth[g]):
        wanted = groups[gid].get("after") or []
        if not wanted:
            continue
        inside = members(gid)
        ids = {t.task_id for t in inside}
        roots = [t for t in inside if not ids.intersection(t.upstream)]
        for name in wanted:
            ups = leaves(alias[name]) if name in alias and name not in made.tasks else [name]
            for root in roots:
                root.upstream.extend(up for up in ups if up not in root.upstream)


def _depth(groups: dict[str, dict], gid: str) -> int:
    parent = groups[gid]["parent"]
    return 0 if parent is None else 1 + _depth(groups, parent)


def _within(groups: dict[str, dict], gid: str, outer: str) -> bool:
    while gid is not None:
        if gid == outer:
            return True
        gid = groups[gid]["parent"]
    return False


class GroupError(DagError):
    """A bad entry of a groups table; `group_key` names its key, so the error can show that line."""

    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.group_key = key


def _bad(key: str, message: str, hint: str | None = None) -> GroupError:
    return GroupError(key, message, hint)
