"""How long `registry.load` takes for many DAG files, all TOML and all Python.

    python bench/bench_registry.py [--files 200] [--tasks 20] [--reps 5]

Writes FILES DAG files of TASKS tasks each (a chain with a fan-in, retries, env and
params) into a temporary folder, then times `registry.load(settings)` in this process,
REPS times, and prints a markdown table of the median wall time in milliseconds.
For Python files it also splits the time: the loader child (interpreter start, imports,
executing the files, building specs) versus the parent (reading the JSON and running
`build_dag` on every spec). The goal is < 2 s for 200 x 20 of either kind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch import registry  # noqa: E402
from minorch.config import load_settings  # noqa: E402

GOAL_MS = 2000


def toml_file(n: int, tasks: int) -> str:
    lines = [
        f"[dags.dag_{n}]",
        'schedule = "*/5 * * * *"',
        "retries = 2",
        'retry_delay = "30s"',
        f'params = {{ table = "t{n}" }}',
        "",
    ]
    for t in range(tasks):
        lines += [f"[dags.dag_{n}.tasks.task_{t}]", f'command = "echo {{{{ ds }}}} {t}"', 'timeout = "5m"']
        if t:
            lines.append(f'after = ["task_{t - 1}"]' if t % 5 else f'after = ["task_{t - 1}", "task_0"]')
        lines.append("")
    return "\n".join(lines)


def python_file(n: int, tasks: int) -> str:
    lines = [
        "from minorch import DAG, shell, task",
        "",
        f'with DAG("dag_{n}", schedule="*/5 * * * *", retries=2, retry_delay="30s", params={{"table": "t{n}"}}):',
        '    @task(timeout="5m")',
        "    def first(ds):",
        "        return ds",
        "",
        "    previous = first()",
        "    head = previous",
    ]
    for t in range(1, tasks):
        lines.append(f'    step = shell("task_{t}", "echo {{{{ ds }}}} {t}", timeout="5m", env={{"N": "{t}"}})')
        lines.append("    [previous, head] >> step" if t % 5 == 0 else "    previous >> step")
        lines.append("    previous = step")
    return "\n".join(lines) + "\n"


def make_project(root: Path, kind: str, files: int, tasks: int) -> Path:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\n')
    for n in range(files):
        if kind == "toml":
            (root / "dags" / f"dag_{n}.toml").write_text(toml_file(n, tasks))
        else:
            (root / "dags" / f"dag_{n}.py").write_text(python_file(n, tasks))
    return root / "minorch.toml"


def time_load(config: Path, reps: int, files: int, tasks: int) -> tuple[list[float], list[float]]:
    """Wall times of registry.load and of its Python loader child alone, in ms."""
    totals, children = [], []
    settings = load_settings(config)
    for _ in range(reps):
        begun = time.perf_counter()
        loaded = registry.load(settings)
        totals.append((time.perf_counter() - begun) * 1000)
        if loaded.errors or len(loaded.dags) != files or any(len(d.tasks) != tasks for d in loaded.dags.values()):
            raise SystemExit(f"bad load: {len(loaded.dags)} DAGs, errors: {[str(e) for e in loaded.errors[:3]]}")
        _, pys = registry.dag_files(settings)
        if pys:
            begun = time.perf_counter()
            registry.import_python(pys, settings.dag_file_timeout)
            children.append((time.perf_counter() - begun) * 1000)
    return totals, children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("toml", "python"):
            config = make_project(Path(tmp) / kind, kind, args.files, args.tasks)
            totals, children = time_load(config, args.reps, args.files, args.tasks)
            total = statistics.median(totals)
            child = statistics.median(children) if children else None
            rows.append((kind, total, child))
    print(
        f"{args.files} files x {args.tasks} tasks, median of {args.reps}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| DAG files | registry.load (ms) | of which loader child (ms) | goal |")
    print("|---|---:|---:|---|")
    for kind, total, child in rows:
        verdict = "met" if total < GOAL_MS else "MISSED"
        print(f"| {kind} | {total:,.0f} | {'-' if child is None else f'{child:,.0f}'} | < {GOAL_MS:,} ms: {verdict} |")


if __name__ == "__main__":
    main()
