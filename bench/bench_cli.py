"""How fast the CLI answers: `minorch --help`, `minorch dags` and `minorch validate`, against the
interpreter's own start measured in the same run.

Run: `python bench/bench_cli.py [--reps 11] [--files 200] [--tasks 20]`. Prints machine, date,
load average and a markdown table of medians. Goals (issue 18): `--help` <= 0.04 s and `dags`
<= 0.08 s on the bundled examples (this repository's minorch.toml), `validate` of FILES TOML DAG
files x TASKS tasks (bench_registry's files: a chain with a fan-in, templated commands) <= 0.3 s.
The machine's limit is `python -c pass`. The goals were set on a quiet machine whose interpreter
started in 0.011 s; on a loaded machine every process is slower, so each goal is also given as
a multiple of the interpreter start (goal / 0.011 s) and judged that way in the last column.

Each command is a real `python -m minorch ...` process, timed from spawn to exit. Byte code is
written and used (PYTHONDONTWRITEBYTECODE is removed), as after an install; `dags` runs once
before timing, so its cache of loaded Python DAG files is warm, as for anyone who listed before.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_registry import make_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUIET_START = 0.011  # seconds: `python -c pass` on the quiet machine the goals were set on


def timed(argv: list[str], cwd: Path, env: dict[str, str], reps: int) -> float:
    """Median seconds from spawn to exit; fails loudly if the command fails."""
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.pop("MINORCH_CONFIG", None)
    minorch = [sys.executable, "-m", "minorch"]
    load_before = os.getloadavg()
    subprocess.run([*minorch, "dags"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)  # warm
    floor = timed([sys.executable, "-c", "pass"], REPO, env, args.reps)
    rows = [
        ("`minorch --help`", timed([*minorch, "--help"], REPO, env, args.reps), 0.04),
        ("`minorch dags`, bundled examples", timed([*minorch, "dags"], REPO, env, args.reps), 0.08),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = make_project(Path(tmp) / "many", "toml", args.files, args.tasks)
        took = timed([*minorch, "validate"], config.parent, env, max(3, args.reps // 2))
        rows.append((f"`minorch validate`, {args.files} TOML files x {args.tasks} tasks", took, 0.3))
    load_after = os.getloadavg()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print()
    print("| command (median) | seconds | x interpreter start | goal | | goal as x start | |")
    print("|---|---:|---:|---|---|---:|---|")
    print(f"| `python -c pass` (the machine's limit) | {floor:.3f} | 1.0 | | | | |")
    for name, took, goal in rows:
        verdict = "met" if took <= goal else "missed"
        ratio = goal / QUIET_START
        by_ratio = "met" if took / floor <= ratio else "missed"
        print(f"| {name} | {took:.3f} | {took / floor:.1f} | <= {goal} s | {verdict} | <= {ratio:.1f} | {by_ratio} |")


if __name__ == "__main__":
    main()
