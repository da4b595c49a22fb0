"""Read-only views of DAGs for the CLI (and the TUI's Gantt): summaries, graphs, next fire times, a run's Gantt."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .config import Settings
from .dag import Dag, Task
from .durations import parse_date
from .registry import Registry
from .schedule import run_dates

if TYPE_CHECKING:  # the Gantt and the store load where they are used: `minorch dags` starts faster
    from .gantt import Gantt
    from .store import RunRecord, Store


def dag_summaries(settings: Settings, registry: Registry, now: datetime) -> list[dict]:
    """One dict per DAG; paused comes from the state file when it exists. `next_fire` is the next
    time the schedule fires after `now` (ISO in the DAG's timezone), None when paused or unscheduled."""
    rows = {}
    if settings.db_path.exists():
        from .store import Store

        store = Store(settings.db_path, readonly=True)
        try:
            rows = store.dag_rows()
        finally:
            store.close()
    result = []
    for dag_id, dag in sorted(registry.dags.items()):
        row = rows.get(dag_id)
        paused = row.paused if row else dag.paused
        upcoming = None
        if not paused and dag.schedule is not None and dag.schedule.kind in ("cron", "interval"):
            fire = dag.schedule.next_fire(first_look(dag, now))
            if fire is not None and (dag.end_date is None or fire <= dag.end_date):
                upcoming = fire.astimezone(ZoneInfo(dag.timezone)).isoformat()
        result.append(
            {
                "dag_id": dag_id,
                "schedule": str(dag.assets) if dag.assets else dag.schedule.expr if dag.schedule else None,
                "description": dag.description,
                "doc_md": dag.doc_md,
                "tasks": len(dag.tasks),
                "paused": paused,
                "next_fire": upcoming,
                "file": f"{dag.file}:{dag.line or 1}",
            }
        )
    return result


def first_look(dag: Dag, moment: datetime) -> datetime:
    """Where to look for the next fire after `moment`: not before the DAG's start_date, as the
    scheduler's first look does (a fire at start_date itself counts only with catchup = true)."""
    if dag.start_date is not None and moment < dag.start_date:
        return dag.start_date - timedelta(microseconds=1) if dag.catchup is True else dag.start_date
    return moment


def graph_text(dag: Dag, fmt: str) -> str:
    """The DAG as text (tasks by depth with their upstreams), Graphviz dot, or Mermaid. Task groups are
    clusters (dot) or subgraphs (Mermaid), edge labels are drawn on their edges."""
    order = dag.topological()
    if fmt == "dot":
        lines = [f'digraph "{dag.dag_id}" {{', "  rankdir=LR;"]
        lines += _nested(dag, order, lambda gid: f'subgraph "cluster_{gid}" {{ label="{gid}";', "}", '"{}";')
        lines += [
            f'  "{up}" -> "{tid}"'
            + (f' [label="{dag.tasks[tid].labels[up]}"]' if up in dag.tasks[tid].labels else "")
            + ";"
            for tid in order
            for up in dag.tasks[tid].upstream
        ]
        return "\n".join(lines + ["}"])
    if fmt == "mermaid":
        lines = ["flowchart LR"]
        lines += _nested(dag, order, lambda gid: f"subgraph {_mermaid_id(gid)} [{gid}]", "end", None)
        lines += [
            f"  {_mermaid_id(up)} -->"
            + (f"|{dag.tasks[tid].labels[up]}|" if up in dag.tasks[tid].labels else "")
            + f" {_mermaid_id(tid)}"
            for tid in order
            for up in dag.tasks[tid].upstream
        ]
        return "\n".join(lines)
    depth: dict[str, int] = {}
    for tid in order:
        depth[tid] = max((depth[u] + 1 for u in dag.tasks[tid].upstream), default=0)
    schedule = str(dag.assets) if dag.assets else dag.schedule.describe() if dag.schedule else "manual"
    lines = [f"{dag.dag_id}  ({schedule}, {len(dag.tasks)} tasks)"]
    if dag.doc_md:
        lines.append("  " + dag.doc_md.strip().splitlines()[0])
    for tid in sorted(order, key=lambda t: (depth[t], order.index(t))):
        task = dag.tasks[tid]
        ups = [f"{u} ({task.labels[u]})" if u in task.labels else u for u in task.upstream]
        ups_text = f"  <- {', '.join(ups)}" if ups else ""
        rule = f"  [{task.opts.trigger_rule.value}]" if task.opts.trigger_rule.value != "all_success" else ""
        role = "  (setup)" if task.is_setup else "  (teardown)" if task.is_teardown else ""
        group = f"  in group {task.group}" if task.group and not tid.startswith(task.group + ".") else ""
        lines.append(f"{'  ' * depth[tid]}{tid}{ups_text}{rule}{role}{group}")
    return "\n".join(lines)


def map_inputs(store: Store, run_pk: int, task: Task | None) -> list | None:
    """The items a mapped task's copies got, by map index: its literal list, or the list its upstream
    task returned in that run. None when the task is not mapped or the list is not there (yet)."""
    if task is None or task.map_over is None:
        return None
    if isinstance(task.map_over, list):
        return task.map_over
    items = store.xcoms(run_pk, [task.map_over]).get(task.map_over)
    return items if isinstance(items, list) else None


def short_item(item: object, width: int = 40) -> str:
    """A copy's input as JSON text, cut to `width` characters."""
    import json

    text = json.dumps(item, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def graph_json(dag: Dag) -> dict:
    """The DAG as data: its tasks in run order (upstream, downstream, trigger rule, group, role,
    what a mapped task maps over) and its edges with their labels."""
    downstream = dag.downstream()
    tasks = []
    for tid in dag.topological():
        task = dag.tasks[tid]
        tasks.append(
            {
                "task_id": tid,
                # how it runs (shell, python, or the scheduler itself: sensor, empty, latest_only) and its
                # flavor (branch, short_circuit, sensor)
                "kind": "shell" if task.command is not None else "python" if task.python or task.func else task.flavor,
                "flavor": task.flavor,
                "upstream": list(task.upstream),
                "downstream": sorted(downstream[tid]),
                "trigger_rule": task.opts.trigger_rule.value,
                "group": task.group,
                "setup": task.is_setup,
                "teardown": task.is_teardown,
                "map_over": task.map_over,
            }
        )
    edges = [
        {"from": up, "to": tid, "label": dag.tasks[tid].labels.get(up)}
        for tid in dag.topological()
        for up in dag.tasks[tid].upstream
    ]
    schedule = str(dag.assets) if dag.assets else dag.schedule.expr if dag.schedule else None
    return {"dag_id": dag.dag_id, "schedule": schedule, "tasks": tasks, "edges": edges}


def graph_svg(dag: Dag) -> str:
    """The DAG drawn by Graphviz `dot` (it must be on PATH) as SVG text."""
    import shutil
    import subprocess

    from .errors import ConfigError

    dot = shutil.which("dot")
    if dot is None:
        raise ConfigError(
            "--format svg needs Graphviz's `dot`, which is not on PATH",
            hint="install Graphviz (e.g. `apt install graphviz`), or use --format dot or mermaid",
        )
    done = subprocess.run([dot, "-Tsvg"], input=graph_text(dag, "dot"), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ConfigError(f"`dot -Tsvg` failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    return done.stdout


def _nested(dag: Dag, order: list[str], opening, closing: str, node: str | None) -> list[str]:
    """Node lines with each task group as a block around its members (nested groups inside)."""
    lines: list[str] = []

    def emit(gid: str | None, indent: str) -> None:
        for tid in order:
            if dag.tasks[tid].group == gid:
                lines.append(indent + (node.format(tid) if node else f"{_mermaid_id(tid)}[{tid}]"))
        for child, info in dag.groups.items():
            if info["parent"] == gid:
                lines.append(indent + opening(child))
                emit(child, indent + "  ")
                lines.append(indent + closing)

    emit(None, "  ")
    return lines


def _mermaid_id(task_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in task_id)


def next_fires(dag: Dag, count: int, after: str | None, now: datetime | None = None) -> list[list[str]]:
    """[[local fire time, UTC fire time, logical date], ...] for the next `count` fires after
    `after` (ISO text, read in the DAG's timezone) or `now`; [] for a DAG that never fires by itself."""
    schedule = dag.schedule
    if schedule is None or schedule.kind not in ("cron", "interval"):
        return []
    moment = parse_date(after, name="--after", tz=dag.timezone) if after else (now or datetime.now(timezone.utc))
    moment = first_look(dag, moment)
    zone = ZoneInfo(dag.timezone)
    rows = []
    for _ in range(count):
        fire = schedule.next_fire(moment)
        if fire is None or (dag.end_date is not None and fire > dag.end_date):
            break
        logical = run_dates(schedule, fire, dag.interval_semantics, dag.data_interval == "point").logical_date
        rows.append(
            [
                fire.astimezone(zone).isoformat(sep=" "),
                fire.astimezone(timezone.utc).isoformat(sep=" "),
                logical.astimezone(zone).isoformat(sep=" "),
            ]
        )
        moment = fire
    return rows


def run_gantt(store: Store, dag: Dag | None, run: RunRecord, now: float) -> Gantt:
    """The Gantt of `run` from its stored task instances and tries; `dag` (None when its file no longer
    loads) gives the order of the bars and which task waited for which."""
    order = dag.topological() if dag is not None else []
    upstream = {tid: tuple(task.upstream) for tid, task in dag.tasks.items()} if dag is not None else {}
    from .gantt import gantt

    tis = {(tid, -1): ti for tid, ti in store.task_instances([run.pk])[run.pk].items()}
    for tid, copies in store.mapped_instances([run.pk]).get(run.pk, {}).items():
        tis.update({(tid, index): ti for index, ti in copies.items()})
    return gantt(run, order, upstream, tis, store.attempts(run.pk), now)


def started_by(store: Store, dag_id: str, runs: Iterable[RunRecord]) -> dict[int, list[str]]:
    """{run pk: what started it} for the runs another run started: the assets whose events did, or
    "dag_id/run_id" of the run whose trigger_dag task queued it (`runs` CLI column, the UI's run line)."""
    runs = list(runs)
    found = store.triggered_by(r.pk for r in runs if r.run_type == "asset_triggered")
    links = store.run_links(dag_id, [r.run_id for r in runs if r.run_type == "manual"])
    found.update({r.pk: ["/".join(links[r.run_id])] for r in runs if r.run_id in links})
    return found
