"""Lineage: which DAG's tasks update which asset, which DAGs wait for it, which tasks read it.

Built from the loaded DAGs and the declared assets (`[assets.NAME]`, `Asset(..., uri=...)`).
`check` finds what a single DAG file cannot: an asset name nobody declares or produces (with
did-you-mean) and a cycle through assets (a DAG waiting, directly or through others, for what
it produces itself). `render` draws DAG -> asset -> DAG as text, Graphviz dot or Mermaid.
No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .dag import Dag
from .errors import DagError, did_you_mean


@dataclass
class Lineage:
    declared: dict[str, dict] = field(default_factory=dict)  # asset -> its declaration (uri, description, ...)
    producers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # asset -> [(dag id, task id)]
    consumers: dict[str, list[str]] = field(default_factory=dict)  # asset -> DAG ids whose schedule waits for it
    readers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # asset -> [(dag id, task id)] (inlets)

    def names(self) -> list[str]:
        return sorted(set(self.declared) | set(self.producers) | set(self.consumers) | set(self.readers))


def build(dags: Mapping[str, Dag], declared: Mapping[str, dict]) -> Lineage:
    found = Lineage(declared=dict(declared))
    for dag in dags.values():
        for task in dag.tasks.values():
            for name in task.outlets:
                found.producers.setdefault(name, []).append((dag.dag_id, task.task_id))
            for name in task.inlets:
                found.readers.setdefault(name, []).append((dag.dag_id, task.task_id))
        if dag.assets is not None:
            for name in dag.assets.condition.names():
                found.consumers.setdefault(name, []).append(dag.dag_id)
    return found


def check(dags: dict[str, Dag], declared: Mapping[str, dict]) -> list[DagError]:
    """Errors of asset names and cycles; the DAGs they blame are removed from `dags`, the rest stay."""
    known = set(declared) | {name for dag in dags.values() for task in dag.tasks.values() for name in task.outlets}
    errors: list[DagError] = []
    for dag in list(dags.values()):
        wanted = (
            [(name, dag.assets.line, "its schedule") for name in dag.assets.condition.names()] if dag.assets else []
        )
        wanted += [(n, t.line, f"task '{t.task_id}' (inlets)") for t in dag.tasks.values() for n in t.inlets]
        for name, line, where in wanted:
            if name not in known:
                errors.append(
                    DagError(
                        f"DAG '{dag.dag_id}': {where} names asset '{name}', which no task produces and no "
                        "[assets] table declares",
                        hint=did_you_mean(name, known)
                        or f"declare it with [assets.{name}] or add it to a task's outlets",
                        file=dag.file,
                        line=line or dag.line,
                    )
                )
                del dags[dag.dag_id]
                break
    while (cycle := find_cycle(dags)) is not None:
        blamed = dags[cycle[-1]]
        errors.append(
            DagError(
                "assets form a cycle: " + " -> ".join(cycle[:-1]) + f" -> {cycle[-1]}",
                hint=f"DAG '{blamed.dag_id}' waits for data it produces itself; drop that asset from its "
                "schedule or from its tasks' outlets",
                file=blamed.file,
                line=blamed.assets.line or blamed.line,
            )
        )
        del dags[blamed.dag_id]
    return errors


def find_cycle(dags: Mapping[str, Dag]) -> list[str] | None:
    """A cycle as [dag, asset, dag, asset, ..., dag] (first DAG repeated at the end), or None.
    An edge runs from a DAG producing an asset to every DAG whose schedule waits for it."""
    lineage = build(dags, {})
    edges: dict[str, list[tuple[str, str]]] = {d: [] for d in dags}
    for name, made_by in lineage.producers.items():
        for producer, _task in made_by:
            for consumer in lineage.consumers.get(name, []):
                if (name, consumer) not in edges[producer]:
                    edges[producer].append((name, consumer))
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for root in sorted(dags):
        if root in state:
            continue
        state[root] = 1
        path, todo = [root], [iter(edges[root])]
        via: list[str] = []
        while todo:
            step = next(todo[-1], None)
            if step is None:
                state[path.pop()] = 2
                todo.pop()
                if via:
                    via.pop()
                continue
            name, nxt = step
            if state.get(nxt) == 1:
                start = path.index(nxt)
                loop: list[str] = []
                for i, dag_id in enumerate(path[start:], start):
                    loop += [dag_id, (via + [name])[i]]
                return loop + [nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                via.append(name)
                todo.append(iter(edges[nxt]))
    return None


# ---------------------------------------------------------------- drawing


def render(lineage: Lineage, fmt: str) -> str:
    """DAG -> asset -> DAG lineage: "text" (one line per asset), "dot" or "mermaid"."""
    if fmt == "dot":
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for name in lineage.names():
            lines.append(f'  "asset:{name}" [label="{name}", shape=cylinder];')
        for dag_id in _dag_ids(lineage):
            lines.append(f'  "dag:{dag_id}" [label="{dag_id}", shape=box];')
        for source, target in _edges(lineage):
            lines.append(f'  "{source}" -> "{target}";')
        return "\n".join(lines + ["}"])
    if fmt == "mermaid":
        lines = ["flowchart LR"]
        for name in lineage.names():
            lines.append(f"  {_mermaid('asset:' + name)}[({name})]")
        for dag_id in _dag_ids(lineage):
            lines.append(f"  {_mermaid('dag:' + dag_id)}[{dag_id}]")
        lines += [f"  {_mermaid(s)} --> {_mermaid(t)}" for s, t in _edges(lineage)]
        return "\n".join(lines)
    lines = []
    for name in lineage.names():
        made = sorted({d for d, _ in lineage.producers.get(name, [])}) or ["(external)"]
        waits = lineage.consumers.get(name, [])
        line = f"{', '.join(made)} -> [{name}]"
        if waits:
            line += " -> " + ", ".join(waits)
        reads = sorted({f"{d}.{t}" for d, t in lineage.readers.get(name, [])})
        if reads:
            line += f"  (read by {', '.join(reads)})"
        lines.append(line)
    return "\n".join(lines) if lines else "no assets"


def _dag_ids(lineage: Lineage) -> list[str]:
    found = {d for items in lineage.producers.values() for d, _ in items}
    found |= {d for items in lineage.consumers.values() for d in items}
    return sorted(found)


def _edges(lineage: Lineage) -> list[tuple[str, str]]:
    edges = []
    for name in lineage.names():
        for dag_id in sorted({d for d, _ in lineage.producers.get(name, [])}):
            edges.append((f"dag:{dag_id}", f"asset:{name}"))
        for dag_id in lineage.consumers.get(name, []):
            edges.append((f"asset:{name}", f"dag:{dag_id}"))
    return edges


def _mermaid(node: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in node)
