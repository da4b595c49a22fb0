"""Cost of reading the metrics (`metrics.collect` + the Prometheus text) on the TUI bench's state file.

    python bench/bench_metrics.py [--dags 100] [--runs 50] [--tasks 20] [--reps 20]

The same state file as bench_tui.py (100 DAGs x 50 runs x 20 tasks: 100,000 tries). Each scrape
of `/metrics` and each textfile write does this once, in a thread beside the scheduler's loop.
Prints the median and 95th percentile of the wall time and of the CPU time of this thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_tui import build, percentiles  # noqa: E402

from minorch.metrics import collect, exposition, registry  # noqa: E402
from minorch.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings, _registry, store, _loaded = build(Path(folder), args.dags, args.runs, args.tasks)
        store.close()
        reader = Store(settings.db_path)
        made = registry(lambda: collect(reader, up=True, ready=True, now=time.time()))
        walls, cpus = [], []
        for _ in range(args.reps):
            began, cpu = time.perf_counter(), time.thread_time()
            text = exposition(made)
            walls.append(time.perf_counter() - began)
            cpus.append(time.thread_time() - cpu)
        reader.close()
        lines = text.count(b"\n")
        print(f"state file: {args.dags} DAGs x {args.runs} runs x {args.tasks} tasks; {lines} lines of metrics")
        print(f"collect + render, wall:  {percentiles(walls)}")
        print(f"collect + render, CPU:   {percentiles(cpus)}")


if __name__ == "__main__":
    main()
