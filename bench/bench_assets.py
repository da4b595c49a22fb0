"""What assets add to a planning step: 1,000 assets and 500 asset-triggered DAGs.

    python bench/bench_assets.py [--assets 1000] [--consumers 500] [--queued 1000] [--reps 50]

A baseline of 100 cron DAGs (20 tasks each, 50 running runs with their task instances) is
planned with and without ASSETS assets and CONSUMERS DAGs whose schedules wait for conditions
of 1-3 assets (`a & (b | c)` shapes, half of them per day with match = "ds"). QUEUED events of
random assets over 14 days are written through the store (each queued for every DAG waiting for
its asset): the *burst* queue, where one step decides many runs. The *steady* queue is what is
left after those runs consumed their events: partial conditions waiting for more. Measured:
`planner.plan()` (the pure step) and the read a scheduler step adds (`store.asset_queue()`), on a
real state file. Prints a markdown table; goal: < 5 ms added per step.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch import planner as P  # noqa: E402
from minorch.records import DagRow, RunRecord, TaskInstance, iso  # noqa: E402
from minorch.spec import build_dag  # noqa: E402
from minorch.states import RunState, TaskState  # noqa: E402
from minorch.store import Store  # noqa: E402

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc)


def baseline():
    dags, rows, runs, tis = {}, {}, [], {}
    for d in range(100):
        dag_id = f"cron{d:03d}"
        spec = {
            "schedule": "0 * * * *",
            "tasks": {f"t{i:02d}": {"command": "true", "after": [f"t{i - 1:02d}"] if i else []} for i in range(20)},
        }
        dags[dag_id] = build_dag(dag_id, spec, file="bench.toml")
        rows[dag_id] = DagRow(dag_id, False, None, None, None, iso(NOW + timedelta(minutes=30)), None, None)
        if d < 50:
            pk = d + 1
            runs.append(RunRecord(pk, dag_id, f"scheduled__{pk}", "scheduled", iso(NOW - timedelta(hours=1)),
                                  None, None, RunState.RUNNING, {}, None, NOW.timestamp() - 60, None))  # fmt: skip
            tis[pk] = {
                f"t{i:02d}": TaskInstance(
                    pk,
                    f"t{i:02d}",
                    -1,
                    TaskState.SUCCESS if i < 5 else TaskState.NONE,
                    1,
                    0,
                    None,
                    None,
                    None,
                    None,
                    None,
                )  # fmt: skip
                for i in range(20)
            }
    return dags, rows, runs, tis


def consumers(count: int, assets: int, rand: random.Random):
    made = {}
    for c in range(count):
        a, b, x = (f"asset{rand.randrange(assets):04d}" for _ in range(3))
        shape = rand.choice([f"{a}", f"{a} & {b}", f"{a} & ({b} | {x})", f"({a} | {b}) & {x}"])
        schedule = {"assets": shape, **({"match": "ds"} if c % 2 else {})}
        dag_id = f"consumer{c:03d}"
        made[dag_id] = build_dag(
            dag_id,
            {"schedule": schedule, "tasks": {"t": {"command": "true", "outlets": [f"asset{c:04d}"]}}},
            file="bench.toml",
        )
    return made


def timed(fn, reps: int) -> list[float]:
    """CPU milliseconds of each of `reps` calls (`time.process_time`: a busy machine's waits for a
    core are not counted, so numbers from a shared machine compare)."""
    out = []
    for _ in range(reps):
        begun = time.process_time()
        fn()
        out.append((time.process_time() - begun) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=500)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    rand = random.Random(7)
    dags, rows, runs, tis = baseline()
    more = consumers(args.consumers, args.assets, rand)
    all_dags = {**dags, **more}
    all_rows = {**rows, **{d: DagRow(d, False, None, None, None, None, None, None) for d in more}}

    def plan(dags_, rows_, queue_):
        return lambda: P.plan(dags_, P.Snapshot(rows_, runs, tis, {}, queue_), NOW, parallelism=8, pools={})

    folder = Path(tempfile.mkdtemp())
    store = Store(folder / "minorch.db")
    store.set_asset_watches({d.dag_id: d.assets.condition.names() for d in more.values()})
    with store.write():
        for event_id in range(args.queued):
            name = f"asset{rand.randrange(args.assets):04d}"
            store.add_asset_event(name, ds=f"2024-02-{event_id % 14 + 1:02d}", extra_json="null", now=0.0)
    burst = store.asset_queue()
    decided = [a for a in plan(all_dags, all_rows, burst)().actions if isinstance(a, P.CreateAssetRun)]
    burst_read = timed(store.asset_queue, args.reps)
    burst_plan = timed(plan(all_dags, all_rows, burst), args.reps)
    with store.write() as db:  # what the step's runs consume; the rest waits: the steady state
        db.executemany(
            "DELETE FROM asset_queue WHERE dag_id = ? AND event_id = ?",
            [(a.dag_id, i) for a in decided for i in a.event_ids],
        )
    steady = store.asset_queue()
    steady_read = timed(store.asset_queue, args.reps)
    steady_plan = timed(plan(all_dags, all_rows, steady), args.reps)
    base = timed(plan(dags, rows, {}), args.reps)
    store.close()
    for name in os.listdir(folder):
        os.unlink(folder / name)
    os.rmdir(folder)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def line(label: str, values: list[float]) -> str:
        return f"| {label} | {med(values):.2f} ms | {sorted(values)[int(len(values) * 0.95) - 1]:.2f} ms |"

    print(
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}; {args.assets} assets, "
        f"{args.consumers} asset-triggered DAGs; burst: {sum(map(len, burst.values()))} queued events, "
        f"{len(decided)} runs decided in one step; steady: {sum(map(len, steady.values()))} events left waiting"
    )
    print()
    print("| measure (CPU time) | median | p95 |")
    print("|---|---:|---:|")
    print(line("plan(): 100 cron DAGs, 50 running runs × 20 tasks, no assets", base))
    print(line(f"plan(): the same + {args.consumers} asset DAGs, steady queue", steady_plan))
    print(line("store.asset_queue(), steady queue", steady_read))
    print(line(f"plan(): the same + {args.consumers} asset DAGs, burst queue", burst_plan))
    print(line("store.asset_queue(), burst queue", burst_read))
    for label, plan_, read in (("steady", steady_plan, steady_read), ("burst", burst_plan, burst_read)):
        added = med(plan_) - med(base) + med(read)
        print(f"| **added per step, {label}** (plan difference + queue read) | **{added:.2f} ms** | goal < 5 ms |")


if __name__ == "__main__":
    main()
