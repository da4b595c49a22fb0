"""Read queries of `minorch runs`, `minorch tasks` and RUN lookup on a large state file.

    python bench/bench_queries.py [--dags 100] [--runs 500] [--tasks 20] [--reps 20] [--db PATH]

Builds a state file through the store's schema (the `initial` migration): DAGS x RUNS runs of
TASKS tasks each (default 100 x 500 x 20 = 50,000 runs, 1,000,000 task instances and as many
attempts), written with executemany in one transaction; about 1 in 50 runs failed. Then times,
on a fresh connection (cold page cache of SQLite, warm OS cache), the median and worst of REPS
calls of each core query, and prints a markdown table. Budget: 200 ms per query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch import operations as ops  # noqa: E402
from minorch.cli.inspect import run_rows, task_rows  # noqa: E402
from minorch.records import iso  # noqa: E402
from minorch.spec import build_dag  # noqa: E402
from minorch.store import Store  # noqa: E402

START = datetime(2023, 1, 1, tzinfo=timezone.utc)


def make_dag(dag_id: str, tasks: int):
    spec = {
        "schedule": "@daily",
        "tasks": {f"t{i:02d}": {"command": "true", "after": [f"t{i - 1:02d}"] if i else []} for i in range(tasks)},
    }
    return build_dag(dag_id, spec, file="bench.toml")


def generate(path: Path, dags: int, runs: int, tasks: int) -> float:
    """Write the rows; returns the seconds it took."""
    begun = time.perf_counter()
    store = Store(path)
    with store.write() as db:
        run_rows_, ti_rows, attempt_rows = [], [], []
        pk = 0
        for d in range(dags):
            dag_id = f"dag{d:03d}"
            db.execute("INSERT INTO dags (dag_id, schedule) VALUES (?, '@daily')", (dag_id,))
            for r in range(runs):
                pk += 1
                logical = START + timedelta(days=r)
                failed = pk % 50 == 0
                state = "failed" if failed else "success"
                begin = logical.timestamp() + 60
                run_rows_.append(
                    (
                        pk,
                        dag_id,
                        f"scheduled__{iso(logical)}",
                        "scheduled",
                        iso(logical),
                        iso(logical - timedelta(days=1)),
                        iso(logical),
                        state,
                        "{}",
                        begin,
                        begin,
                        begin + tasks,
                    )
                )
                for t in range(tasks):
                    tid = f"t{t:02d}"
                    ti_state = (
                        ("failed" if t == tasks // 2 else "upstream_failed" if t > tasks // 2 else "success")
                        if failed
                        else "success"
                    )
                    ti_rows.append((pk, tid, ti_state, 1, 0, begin + t, begin + t + 1, 1.0))
                    attempt_rows.append(
                        (
                            f"{pk}-{tid}",
                            pk,
                            tid,
                            1,
                            4242,
                            begin + t,
                            begin + t,
                            begin + t + 1,
                            1.0,
                            1 if ti_state == "failed" else 0,
                            ti_state,
                            f"/logs/{dag_id}/{pk}/{tid}/1.log",
                            "true",
                        )
                    )
        db.executemany(
            "INSERT INTO dag_runs (id, dag_id, run_id, run_type, logical_date, data_interval_start, "
            "data_interval_end, state, conf, queued_at, start_date, end_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows_,
        )
        db.executemany(
            "INSERT INTO task_instances (run_pk, task_id, state, try_number, try_base, start_date, "
            "end_date, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ti_rows,
        )
        db.executemany(
            "INSERT INTO attempts (attempt_id, run_pk, task_id, try_number, pid, create_time, start_date, "
            "end_date, duration, exit_code, outcome, log_path, command) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempt_rows,
        )
    store.db.execute("ANALYZE")
    store.close()
    return time.perf_counter() - begun


def timed(call, reps: int) -> tuple[float, float]:
    """(median, worst) milliseconds over `reps` calls."""
    times = []
    for _ in range(reps):
        begun = time.perf_counter()
        call()
        times.append((time.perf_counter() - begun) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--db", type=Path, help="reuse (or create) this state file instead of a temporary one")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "minorch.db"
    if not path.exists():
        seconds = generate(path, args.dags, args.runs, args.tasks)
        print(
            f"generated {args.dags * args.runs:,} runs, {args.dags * args.runs * args.tasks:,} task instances and "
            f"as many attempts in {seconds:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)\n"
        )
    store = Store(path, readonly=True)
    dag = make_dag(f"dag{args.dags // 2:03d}", args.tasks)
    middle = START + timedelta(days=args.runs // 2)
    run = ops.resolve_run(store, dag, middle.strftime("%Y-%m-%d"))
    cases = [
        ("runs DAG (newest 20)", lambda: run_rows(store, dag.dag_id, None, 20)),
        ("runs DAG --state failed", lambda: run_rows(store, dag.dag_id, "failed", 20)),
        ("runs DAG --state running (no match: scans the DAG)", lambda: run_rows(store, dag.dag_id, "running", 20)),
        ("runs DAG --limit 500", lambda: run_rows(store, dag.dag_id, None, 500)),
        ("tasks DAG RUN", lambda: task_rows(store, dag, run)),
        ("RUN = latest", lambda: ops.resolve_run(store, dag, "latest")),
        ("RUN = a day", lambda: ops.resolve_run(store, dag, middle.strftime("%Y-%m-%d"))),
        ("RUN = a run id", lambda: ops.resolve_run(store, dag, run.run_id)),
    ]
    print("| query | median ms | worst ms |\n|---|---:|---:|")
    for name, call in cases:
        median, worst = timed(call, args.reps)
        print(f"| {name} | {median:.2f} | {worst:.2f} |")
    store.close()
    if args.db is None:
        folder.cleanup()
    print(f"\npython {sys.version.split()[0]}, sqlite {__import__('sqlite3').sqlite_version}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
