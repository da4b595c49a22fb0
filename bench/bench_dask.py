"""Tries through Dask (2 `minorch worker` processes on this machine) beside LocalExecutor, in one run.

    python bench/bench_dask.py [--repeat 3] [--tasks 1000] [--chain 50]

Starts a Dask scheduler and two workers (4 slots each, a folder each standing in for a host),
then, with real `python -m minorch run` processes: (a) `--tasks` no-op shell tasks in parallel
(parallelism 8), first try start to last try end, as tasks/s; (b) a `--chain`-task chain, the gap
from one try's end (start + duration) to the next one's start (median and max), i.e. the
overhead each try adds between two tasks. Each on LocalExecutor and on Dask. Prints a markdown
table of medians over the repetitions, the machine's raw spawn rate, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from bench_run import attempts, chain_toml, fan_toml, first_to_last, project, raw_spawn_rate, run  # noqa: E402
from dask_cluster import DaskCluster  # noqa: E402


def configure(root: Path, cluster: DaskCluster | None) -> None:
    if cluster is not None:
        config = root / "minorch.toml"
        text = config.read_text().replace("[minorch]\n", '[minorch]\nexecutor = "dask"\n')
        config.write_text(text + f'\n[executor.dask]\naddress = "{cluster.address}"\n')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=50)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cluster = DaskCluster(base / "hosts", workers=2, slots=4).start()
        try:
            for rep in range(args.repeat):
                results.setdefault("raw", []).append(raw_spawn_rate())
                for name, where in (("local", None), ("dask", cluster)):
                    fan = project(base / f"fan-{name}{rep}", fan_toml(args.tasks))
                    configure(fan, where)
                    run(fan)
                    results.setdefault(f"{name}-fan", []).append(args.tasks / first_to_last(attempts(fan)))
                    chain = project(base / f"chain-{name}{rep}", chain_toml(args.chain))
                    configure(chain, where)
                    run(chain)
                    rows = attempts(chain)
                    gaps = [(rows[i + 1][1] - rows[i][2]) * 1000 for i in range(len(rows) - 1)]
                    results.setdefault(f"{name}-gap", []).append(statistics.median(gaps))
                    results.setdefault(f"{name}-gapmax", []).append(max(gaps))
                print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr)
        finally:
            cluster.stop()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"raw Popen(['true']) with 2 in flight: {med['raw']:,.0f}/s; load average {os.getloadavg()}\n")
    print(f"| executor | {args.tasks} no-op shell tasks (parallelism 8) | {args.chain}-task chain: end to next start |")
    print("|---|---|---|")
    for name in ("local", "dask"):
        print(
            f"| {name} | {med[f'{name}-fan']:,.0f} tasks/s | median {med[f'{name}-gap']:.1f} ms, "
            f"max {med[f'{name}-gapmax']:.1f} ms |"
        )
    overhead = 1000 / med["dask-fan"] * 8 - 1000 / med["local-fan"] * 8
    print(f"\noverhead per try through Dask at 8 in flight: {overhead:.1f} ms (from the tasks/s above)")


if __name__ == "__main__":
    main()
